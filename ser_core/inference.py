"""Inference service: load installed checkpoints once, predict emotions on audio.

Used by the app (every page that shows a prediction) and by ``python -m ser_core predict``.

A checkpoint (see :mod:`ser_core.checkpoint`) carries the model, its label names, its sample
rate, its feature configuration and the feature normalisation it was trained with. For each
clip and each model the service

1. resamples the clip to the model's sample rate (once per rate),
2. cuts it into segments as the model's ``input_spec`` says (length, hop),
3. turns the segments into the model's input with the checkpoint's own preparation
   (:func:`ser_core.checkpoint.prepare_batch`, the features and normalisation the trainer
   used),
4. runs the model on its segments in bounded batches (:data:`BATCH_SEGMENTS` at a time) and
   pools the posteriors of the segments that are mostly speech (voice activity detection,
   :mod:`ser_core.vad`; the clip is first cut to its speech) with the model's own aggregation
   (``max`` for ACRNN, ``mean`` for the others), then applies the checkpoint's fitted
   temperature,

and returns the utterance posterior, the per-segment posteriors (the timeline of a long
clip) and, across models, a consensus. :meth:`InferenceService.explain` does the same with
:func:`ser_core.models.capture_attention` active and returns the attention maps with the
features they refer to.

The checkpoint folder is ``$SER_CHECKPOINTS_DIR`` when set, else ``checkpoints/`` at the
root of the repository.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from ser_core.audio import Audio, resample
from ser_core.checkpoint import CheckpointMeta, find_checkpoints, load_checkpoint, prepare_batch
from ser_core.consensus import consensus_settings, settle_consensus
from ser_core.errors import CheckpointError
from ser_core.features.pipeline import shared_features
from ser_core.features.segments import aggregate_posteriors, segment_starts, segment_waveform
from ser_core.models.base import InputSpec
from ser_core.predictions import (  # noqa: F401  (re-exported: the app and CLI import them here)
    ClipPrediction, Consensus, ModelPrediction, canonical_label, consensus_of, label_union,
    probs_by_label)
from ser_core.reference import shift_input, takes_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_CHECKPOINTS = "SER_CHECKPOINTS_DIR"


def checkpoints_dir() -> Path:
    """Where installed checkpoints live: ``$SER_CHECKPOINTS_DIR`` or ``<repo>/checkpoints``."""
    env = os.environ.get(ENV_CHECKPOINTS)
    return Path(env).expanduser() if env else REPO_ROOT / "checkpoints"


ENV_THREADS = "SER_TORCH_THREADS"
#: Segments of one clip a model sees per forward pass in ``predict`` (bounds peak memory).
BATCH_SEGMENTS = 16
#: ``explain`` keeps every segment's attention maps, so it looks at this many seconds at most.
EXPLAIN_MAX_S = 60.0
ENV_VAD = "SER_VAD"


def interactive_threads(environ: dict[str, str] | None = None, cores: int | None = None) -> int:
    """CPU threads for the app's models: ``$SER_TORCH_THREADS``, else every core but one.

    The app usually runs next to the browser that shows it, on the same cores. With every
    core in torch's OpenMP team, one team thread waits on a core the browser holds and each
    operator's barrier stalls: measured on a 2-core machine with Chromium drawing the page
    (``scripts/measure_app.py``, two runs each), the seven shipped models took a warm median
    of 362 and 421 ms at 2 threads and 223 and 277 ms at 1, and the first prediction after
    loading 1.8-1.9 s against 0.2-0.4 s (the CLI, with the machine to itself, is fastest at
    2: 117-143 ms).
    A bad value falls back to the default.
    """
    env = os.environ if environ is None else environ
    cores = cores or os.cpu_count() or 1
    default = max(1, cores - 1)
    try:
        n = int(env.get(ENV_THREADS, ""))
    except ValueError:
        return default
    return n if n >= 1 else default


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None``: CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    """A sentence for the app: which device, and which GPU or how many CPU threads."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"


# ---------------------------------------------------------------------------------------------
# installed models


@dataclass
class InstalledModel:
    """One loaded checkpoint."""

    name: str                  # display name (the folder's path under the checkpoint root)
    path: Path
    model: torch.nn.Module
    meta: CheckpointMeta
    backend: Callable[[Any], torch.Tensor] | None = None   # model input -> logits; None: model

    def logits(self, x: Any) -> torch.Tensor:
        """The model's logits for a prepared batch, on its backend (:mod:`ser_core.backends`)."""
        if self.backend is not None and self.backend.accepts(x):
            return self.backend(x)
        return self.model(x)

    @property
    def arch(self) -> str:
        return self.meta.model

    @property
    def labels(self) -> list[str]:
        return list(self.meta.labels)

    @property
    def sample_rate(self) -> int:
        return self.meta.sample_rate

    @property
    def spec(self) -> InputSpec:
        return self.meta.input_spec

    def prepare(self, segments: torch.Tensor) -> Any:
        """``(segments, samples)`` at ``sample_rate`` -> model input, as in training."""
        return prepare_batch(self.meta, segments)


def load_installed(directory: str | Path, device: torch.device, name: str | None = None) -> InstalledModel:
    """Load one checkpoint directory; it must run on a synthetic clip (see
    :mod:`ser_core.checkpoint_checks`) or it is refused here, not in a prediction."""
    from ser_core.checkpoint_checks import smoke_test
    from ser_core.models import for_cpu_inference

    directory = Path(directory)
    model, meta = load_checkpoint(directory, device=device)
    if device.type == "cpu":
        for_cpu_inference(model)
    entry = InstalledModel(name=name or directory.name, path=directory, model=model, meta=meta)
    smoke_test(model, entry.prepare, entry.sample_rate, entry.spec.segment_s, meta.num_classes,
               directory)
    return entry


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Explanation:
    """What the Explain page draws for one model and one clip.

    ``features``: the model input of each segment (tensor or dict of tensors, first axis =
    segment); ``maps``: every :class:`~ser_core.models.AttentionProbe`'s output keyed by its
    qualified name (first axis = segment; a list when a probe fires several times, e.g. per
    layer); ``axes``: probe name → (axis name, dim) the weights sum to one over;
    ``windows``: deformable attention windows (SERCT) by
    :class:`~ser_core.models.layers.WindowProbe` name, ``(segments, heads, queries, 2)`` =
    ``[L, R]`` in key frames. Segment start times are ``prediction.segment_starts_s``.
    """

    model: InstalledModel
    prediction: ModelPrediction
    waveform: torch.Tensor
    sample_rate: int
    features: Any
    maps: dict[str, Any]
    axes: dict[str, tuple[str, int]]
    windows: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the service


class InferenceService:
    """Holds loaded models; predicts on :class:`~ser_core.audio.Audio` clips.

    Thread-safe for concurrent ``predict`` calls (Streamlit serves sessions from threads):
    models are in eval mode and run under ``torch.inference_mode``; attention capture, which
    installs hooks on shared modules, is serialised by a lock.

    ``threads`` (CPU threads for the models, ``None``: torch's setting) is applied in the
    thread that calls ``predict`` or ``explain``: torch's OpenMP thread count belongs to the
    calling thread, and Streamlit runs every rerun of a page in a new one.
    """

    def __init__(self, models: Sequence[InstalledModel], device: torch.device,
                 root: Path | None = None, failed: dict[str, str] | None = None,
                 threads: int | None = None, vad: bool | None = None, trim: bool = True,
                 min_fill: float = 0.5) -> None:
        self.models = list(models)
        self.threads = threads
        if vad is None:  # voice activity detection on unless $SER_VAD=off
            vad = os.environ.get(ENV_VAD, "on").strip().lower() not in ("off", "0", "false", "no")
        self.vad, self.trim, self.min_fill = vad, trim, min_fill   # see speech_input
        self.device = device
        self.root = root
        self.failed = dict(failed or {})   # checkpoint path -> why it could not be loaded
        self.batch_segments = BATCH_SEGMENTS
        self.workers: int | None = None   # models run at once (None: see _side_by_side)
        self._pool: tuple[int, Any] | None = None
        self._pool_lock = threading.Lock()
        self._lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_paths(cls, paths: Iterable[str | Path] | None = None, device: str | None = "auto",
                   strict: bool = False, extra: Iterable[tuple[str | Path, str]] = (),
                   threads: int | None = None, backend: str = "torch",
                   **speech: Any) -> "InferenceService":
        """Load checkpoints: each path a checkpoint directory or a folder holding some.

        ``paths=None`` uses :func:`checkpoints_dir` (which may be empty or missing). A given
        path with no checkpoint at all raises :class:`CheckpointError`. ``extra`` adds
        ``(checkpoint directory, display name)`` pairs (the app's finished training jobs).
        A checkpoint that cannot be loaded is recorded in ``failed`` (or raises with
        ``strict=True``) so that one broken folder never hides the others. ``backend``: torch,
        onnxruntime or auto (:mod:`ser_core.backends`).
        """
        from ser_core.backends import check_backend, make_backend

        backend = check_backend(backend)
        dev = pick_device(device)
        default = paths is None
        roots = [checkpoints_dir()] if default else [Path(p).expanduser() for p in paths]
        todo: list[tuple[Path, str]] = []
        for root in roots:
            if (root / "config.json").is_file():
                # a training run's ``DIR/checkpoint`` is named after its run folder
                todo.append((root, root.parent.name if root.name == "checkpoint" else root.name))
                continue
            dirs = find_checkpoints(root)
            if not dirs and not default:
                if not root.exists():
                    raise CheckpointError(f"{root} does not exist.")
                raise CheckpointError(f"{root} holds no checkpoint (a folder with "
                                      f"model.safetensors and config.json).")
            todo += [(d, str(d.relative_to(root))) for d in dirs]
        todo += [(Path(d), str(n)) for d, n in extra]
        loaded: list[InstalledModel] = []
        failed: dict[str, str] = {}
        seen: set[str] = set()
        for directory, name in todo:
            if str(directory.resolve()) in seen:
                continue
            seen.add(str(directory.resolve()))
            try:
                entry = load_installed(directory, dev, name)
                entry.backend = make_backend(entry, backend, threads)
            except Exception as exc:  # a broken checkpoint must not hide the others
                if strict:
                    raise
                failed[str(directory)] = f"{type(exc).__name__}: {exc}"
                continue
            taken = {m.name for m in loaded}
            base, n = entry.name, 2
            while entry.name in taken:
                entry.name, n = f"{base} ({n})", n + 1
            loaded.append(entry)
        svc = cls(loaded, dev, roots[0] if default else None, failed, threads, **speech)
        svc.consensus_settings = consensus_settings(roots, failed)
        return svc

    def __len__(self) -> int:
        return len(self.models)

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> InstalledModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    # -- prediction --------------------------------------------------------------------------
    def _input(self, entry: InstalledModel, segs: torch.Tensor, reference=None) -> Any:
        """The model input of some segments (with the "my voice" reference when it takes one)."""
        x = entry.prepare(segs.to(self.device))
        if reference is None:  # "my voice" (ser_core/reference.py)
            return x
        if takes_reference(entry):
            return {"x": x, "reference": reference.vector_for(entry).to(self.device)}
        shift = reference.shift_for(entry)
        return x if shift is None else shift_input(x, shift)

    def _run(self, entry: InstalledModel, waveform: torch.Tensor, capture: bool = False,
             reference=None, speech: Any = None) -> tuple[ModelPrediction, Any, dict, dict]:
        from ser_core.models.base import capture_attention
        from ser_core.models.layers import capture_windows

        t0 = time.perf_counter()
        spec = entry.spec
        waveform, offset, keep = self.speech_input(waveform, entry.sample_rate, spec, speech)
        # a last segment mostly zero padding is not cut (it would not vote): see speech_input
        segs = segment_waveform(waveform, entry.sample_rate, spec.segment_s, spec.hop_s, self.min_fill)
        starts = [round(t + offset, 6) for t in
                  segment_starts(segs.shape[0], entry.sample_rate, spec.segment_s, spec.hop_s)]
        with torch.inference_mode():
            maps: dict = {}
            windows: dict = {}
            if capture:
                x = self._input(entry, segs, reference)
                with self._lock, capture_attention(entry.model) as store, \
                        capture_windows(entry.model) as wins:
                    logits = entry.model(x)
                maps, windows = dict(store), dict(wins)
                seg_probs = torch.softmax(logits.float(), dim=-1).cpu()
            else:  # bounded batches: a 10-minute clip's segments never all at once
                x, step = None, max(1, int(self.batch_segments))
                seg_probs = torch.cat([
                    torch.softmax(entry.logits(self._input(entry, segs[i:i + step], reference)).float(),
                                  dim=-1).cpu() for i in range(0, segs.shape[0], step)])
            probs = aggregate_posteriors(seg_probs, entry.spec.aggregation, keep)
            if getattr(self, "calibrate", True):  # the checkpoint's fitted temperature, if any
                seg_probs, probs = apply_temperature(seg_probs, entry.meta), apply_temperature(probs, entry.meta)
        pred = ModelPrediction(
            name=entry.name, model=entry.arch, checkpoint=str(entry.path), labels=entry.labels,
            probs=probs.tolist(), segment_probs=seg_probs.tolist(), segment_starts_s=starts,
            segment_s=entry.spec.segment_s, aggregation=entry.spec.aggregation,
            seconds=time.perf_counter() - t0, segment_votes=keep.tolist())
        return pred, x, maps, windows

    def speech_input(self, waveform: torch.Tensor, rate: int, spec: InputSpec,
                     speech: Any = None) -> tuple[torch.Tensor, float, torch.Tensor]:
        """``(waveform to segment, its start in the clip in s, which segments vote)``.

        With ``speech`` (:class:`ser_core.vad.Speech`) and ``self.trim``, the clip is cut to
        its speech; a segment votes when at least ``self.min_fill`` of it is speech (with
        ``speech``) or real audio rather than zero padding (without); see
        :func:`ser_core.features.segments.voting_segments`. A last segment with less than
        ``self.min_fill`` of real audio is not cut at all (so never shown on a timeline).
        """
        from ser_core import vad
        from ser_core.features.segments import segment_fill, voting_segments

        offset = 0.0
        if speech is not None and speech.enough and self.trim:
            waveform, offset = vad.trim(waveform, rate, speech)
        if speech is not None and speech.enough:
            mask = vad.speech_mask(waveform.shape[-1], rate, speech.intervals, offset)
        else:
            mask = torch.ones(waveform.shape[-1])
        fill = segment_fill(mask, rate, spec.segment_s, spec.hop_s, min_tail=self.min_fill)
        keep = voting_segments(fill, self.min_fill)
        return waveform, offset, keep

    def _side_by_side(self, n_models: int) -> int:
        """How many models run at once on the CPU: the cores over the threads each model uses.

        The app gives each model one thread (:func:`interactive_threads`), so on two cores two
        models run side by side while the browser waits for their answers; the CLI, whose
        torch uses every core, runs them one after the other. ``self.workers`` overrides."""
        if self.workers is not None:
            return max(1, min(n_models, int(self.workers)))
        if self.device.type != "cpu" or n_models < 2:
            return 1
        per_model = self.threads or torch.get_num_threads()
        return max(1, min(n_models, (os.cpu_count() or 1) // max(1, per_model)))

    def _executor(self, workers: int):
        from concurrent.futures import ThreadPoolExecutor

        with self._pool_lock:  # Classify and Live may predict at the same time
            if self._pool is None or self._pool[0] != workers:
                if self._pool is not None:
                    self._pool[1].shutdown(wait=False)
                pool = ThreadPoolExecutor(workers, thread_name_prefix="ser-model", initializer=torch.set_num_threads,
                                          initargs=(self.threads or 1,))
                self._pool = (workers, pool)
            return self._pool[1]

    def _use_threads(self) -> None:
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _at_rate(self, audio: Audio, rate: int, cache: dict[int, torch.Tensor]) -> torch.Tensor:
        if rate not in cache:
            cache[rate] = resample(audio.waveform.float(), audio.sample_rate, rate)
        return cache[rate]

    def predict(self, audio: Audio, names: Sequence[str] | None = None,
                reference=None, speech: Any = None) -> ClipPrediction:
        """Every (or the named) model's prediction for ``audio``, plus their consensus.
        ``reference``: a :class:`~ser_core.reference.SpeakerReference` ("my voice");
        ``speech``: :meth:`speech_of` ``audio`` when the caller has it already."""
        self._use_threads()
        t0 = time.perf_counter()
        chosen = self.models if names is None else [self.get(n) for n in names]
        cache: dict[int, torch.Tensor] = {}
        speech = self.speech_of(audio) if speech is None else speech
        waves = [self._at_rate(audio, m.sample_rate, cache) for m in chosen]

        def one(i: int) -> ModelPrediction:
            return self._run(chosen[i], waves[i], reference=reference, speech=speech)[0]

        with shared_features():  # e.g. GLAM and GLAM+ take the same MFCCs: computed once
            workers = self._side_by_side(len(chosen))
            if workers > 1:  # each task in its own copy of this thread's context (made here, in
                # the caller): the shared features go along to the pool's threads
                contexts = [contextvars.copy_context() for _ in chosen]
                pool = self._executor(workers)
                preds = list(pool.map(lambda i: contexts[i].run(one, i), range(len(chosen))))
            else:
                preds = [one(i) for i in range(len(chosen))]
        cons = settle_consensus(consensus_of(preds), preds, getattr(self, "consensus_settings", None))
        return ClipPrediction(name=audio.name, duration_s=audio.duration_s,
                              sample_rate=audio.original_sample_rate, models=preds,
                              consensus=cons, seconds=time.perf_counter() - t0, speech=speech)

    def speech_of(self, audio: Audio):
        """Where the speech is in ``audio`` (:class:`ser_core.vad.Speech`), or None with
        ``vad=False``."""
        if not self.vad:
            return None
        from ser_core import vad

        return vad.analyse(audio.waveform.float(), audio.sample_rate)

    def explain(self, audio: Audio, name: str) -> Explanation:
        """One model's prediction with its attention maps and the features they refer to
        (on the first :data:`EXPLAIN_MAX_S` seconds of a longer clip)."""
        from ser_core.models.base import probe_axes

        self._use_threads()
        entry = self.get(name)
        # attention maps of every segment are kept: look at the first EXPLAIN_MAX_S seconds
        wave = self._at_rate(audio, entry.sample_rate, {})[: int(EXPLAIN_MAX_S * entry.sample_rate)]
        pred, x, maps, windows = self._run(entry, wave, capture=True)
        return Explanation(model=entry, prediction=pred, waveform=wave, sample_rate=entry.sample_rate,
                           features=_cpu(x), maps=_cpu(maps), axes=probe_axes(entry.model),
                           windows=_cpu(windows))


def apply_temperature(probs: torch.Tensor, meta: CheckpointMeta) -> torch.Tensor:
    """``softmax(log p / T)`` with the checkpoint's ``temperature`` (fitted on held-out
    speakers, ``training/calibration.py``); ``p`` unchanged without one. On pooled
    posteriors ``log p`` stands for the logits (equal up to a constant for one segment)."""
    t = float(meta.extra.get("temperature") or 1.0)
    if t == 1.0:
        return probs
    return torch.softmax(torch.log(probs.clamp_min(1e-8)) / t, dim=-1)


def _cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: _cpu(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_cpu(v) for v in x)
    return x


def installed_fingerprint(root: str | Path | None = None) -> tuple:
    """A cheap value that changes when checkpoints are added, removed or rewritten
    (for the app's cache key): ``(path, mtime)`` of every ``config.json``."""
    root = Path(root) if root else checkpoints_dir()
    out = []
    extra = root / "consensus.json"   # fitted consensus settings (ser_core/consensus.py)
    if extra.is_file():
        out.append((str(extra), extra.stat().st_mtime_ns))
    for d in find_checkpoints(root):
        try:
            out.append((str(d), (d / "config.json").stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(out)
