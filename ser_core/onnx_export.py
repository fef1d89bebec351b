"""ONNX export of a checkpoint: ``model.onnx`` plus ``model.json`` (everything needed to use it).

``python -m ser_core export onnx CHECKPOINT... [--out DIR]`` and the ``onnxruntime`` inference
backend (:mod:`ser_core.backends`) both call :func:`export_checkpoint`.

What is exported is the model alone: segments -> features -> normalisation stay in torch
(:func:`ser_core.checkpoint.prepare_batch`), and the graph maps the prepared batch to
logits. ``model.json`` says how to build that batch: ``sample_rate``, ``input_spec`` (segment
length, hop, how segment posteriors pool), ``feature`` (kind + resolved config),
``normalization`` (per-bin mean/std), ``labels``, the checkpoint's ``temperature`` when it has
one, and every graph input with its axes (``"batch"``; ``"time"`` where the time axis is
dynamic).

Exporter: ``torch.onnx.export(..., dynamo=False)`` (the TorchScript tracer), opset 17.
Measured on the seven shipped checkpoints with torch 2.11: the tracer exports all seven in
0.1-7 s each with logits within 1e-5 of eager; the dynamo exporter (which also needs
``onnxscript``) failed on serct ("Failed to decompose the FX graph"), took 80 s for
dual_dslstm, and gives static shapes unless every dimension is declared by hand.

Dynamic axes: the batch (segment) axis always; the time axis too where the traced graph is
right at another length. The tracer records Python-side shapes as constants (dual_dslstm's
step loop, reshapes sized from a traced shape), so the time axis is *checked*, not assumed: the
exported graph runs a batch of another size and, where the features' width depends on the clip
length, inputs of another width, against eager; a graph that disagrees is re-exported with a
fixed time axis (``"dynamic_time": false``). A model whose operators ONNX cannot express is
refused with :class:`ExportError` (a sentence, exit status 2 in the CLI).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ser_core.errors import SerError

OPSET = 17
MODEL_FILE = "model.onnx"
META_FILE = "model.json"      # never config.json: find_checkpoints would take it for a checkpoint
FORMAT = "ser-onnx"
FORMAT_VERSION = 1
PARITY_ATOL = 1e-4            # logits, exported graph vs eager, when checking the axes
SINGLE = "x"


class ExportError(SerError):
    """A checkpoint cannot be exported to ONNX (an operator ONNX cannot express, a graph that
    disagrees with the eager model)."""


@dataclass
class OnnxExport:
    """An exported model on disk."""

    path: Path           # model.onnx
    meta: dict[str, Any]  # model.json

    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self.meta["inputs"]]


def checkpoint_hash(directory: str | Path) -> str:
    """SHA-256 over a checkpoint's weights and config (what an export depends on)."""
    from ser_core.checkpoint import CONFIG, WEIGHTS

    h = hashlib.sha256()
    for name in (WEIGHTS, CONFIG):
        with open(Path(directory) / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def temperature_of(meta: Mapping[str, Any]) -> float | None:
    """The checkpoint's softmax temperature when it was calibrated, else ``None``."""
    t = meta.get("temperature")
    if t is None and isinstance(meta.get("calibration"), Mapping):
        t = meta["calibration"].get("temperature")
    return float(t) if t is not None else None


# -- example inputs -------------------------------------------------------------------------

def probe_waveform(seconds: float, sample_rate: int) -> torch.Tensor:
    """A fixed speech-like test signal (harmonics with a slow envelope, a little noise)."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 40 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    wave = sum(torch.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 * (1 - torch.cos(2 * torch.pi * 2.0 * t))
    return (0.2 * wave * env + 0.01 * torch.randn(t.shape, generator=g)).float()


def _batch(entry, n: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """The model's prepared input for ``n`` probe segments of ``scale`` x its segment length
    (3 s for whole-clip models), as a dict keyed by graph input name."""
    seconds = (entry.spec.segment_s or 3.0) * scale
    wave = probe_waveform(seconds * n, entry.sample_rate)
    segs = wave.reshape(n, -1)
    with torch.inference_mode():
        x = entry.prepare(segs)
    x = x if isinstance(x, Mapping) else {SINGLE: x}
    return {k: v.detach().contiguous().float() for k, v in x.items()}


class _Positional(torch.nn.Module):
    """A dict-input model as a module of positional tensors (the exporter's calling form)."""

    def __init__(self, model: torch.nn.Module, names: list[str], as_dict: bool) -> None:
        super().__init__()
        self.model, self.names, self.as_dict = model, names, as_dict

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.names, xs)) if self.as_dict else xs[0])


# -- export ---------------------------------------------------------------------------------

def _trace_to_onnx(module: torch.nn.Module, example: dict[str, torch.Tensor], path: Path,
                   dynamic_time: bool, label: str) -> None:
    names = list(example)
    axes = {}
    for n, v in example.items():
        axes[n] = {0: "batch"}
        if dynamic_time and v.dim() >= 2:
            axes[n][v.dim() - 1] = "time"
    axes["logits"] = {0: "batch"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, tuple(example.values()), str(path), input_names=names,
                              output_names=["logits"], dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False, do_constant_folding=True)
    except Exception as exc:  # the exporter's errors are many types; all mean "cannot"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"{label} cannot be exported to ONNX (opset {OPSET}): {first[:300]}") from None


def _session(path: Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    # no busy-waiting pool threads: the app shares its cores with the browser
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _agrees(session, module, inputs: dict[str, torch.Tensor]) -> bool:
    try:
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    except Exception:
        return False
    with torch.inference_mode():
        ref = module(*inputs.values()).float().numpy()
    return got.shape == ref.shape and float(abs(got - ref).max()) <= PARITY_ATOL


def _probes(entry, example: dict[str, torch.Tensor]) -> tuple[list[dict], list[dict]]:
    """Inputs of other batch sizes, and of other widths (when the features have a time axis
    whose width follows the clip length)."""
    batches = [_batch(entry, 1), _batch(entry, 3)]
    longer = _batch(entry, 1, scale=1.5)
    widths = [longer] if any(longer[k].shape[-1] != example[k].shape[-1] for k in example) else []
    return batches, widths


def _export_verified(entry, module, path: Path, label: str) -> bool:
    """Export with a dynamic time axis if the graph is right at other widths; returns whether
    the time axis is dynamic."""
    example = _batch(entry, 2)
    batches, widths = _probes(entry, example)
    for dynamic_time in ((True, False) if widths else (False,)):
        _trace_to_onnx(module, example, path, dynamic_time, label)
        session = _session(path)
        if not all(_agrees(session, module, b) for b in batches):
            continue
        if dynamic_time and not all(_agrees(session, module, w) for w in widths):
            continue
        return dynamic_time
    raise ExportError(f"{label}: the exported ONNX graph does not reproduce the model's logits "
                      f"(within {PARITY_ATOL}) on inputs of another batch size, so it is not "
                      f"written.")


def export_checkpoint(directory: str | Path, out_dir: str | Path) -> OnnxExport:
    """Export one checkpoint directory to ``out_dir/model.onnx`` + ``out_dir/model.json``.

    Written atomically (a temporary sibling renamed into place). Raises :class:`ExportError`
    when the model cannot be exported, :class:`~ser_core.errors.CheckpointError` when the
    directory is not a checkpoint.
    """
    from ser_core.inference import load_installed

    directory, out_dir = Path(directory), Path(out_dir)
    entry = load_installed(directory, torch.device("cpu"))
    label = f"{directory} ({entry.arch})"
    model = copy.deepcopy(entry.model).to(memory_format=torch.contiguous_format).eval()
    names = list(_batch(entry, 1))
    module = _Positional(model, names, as_dict=names != [SINGLE]).eval()
    found: dict[str, Any] = {}

    def write(tmp: Path) -> None:
        dynamic_time = _export_verified(entry, module, tmp / MODEL_FILE, label)
        found["meta"] = _export_meta(entry, directory, _batch(entry, 1), dynamic_time)
        (tmp / META_FILE).write_text(json.dumps(found["meta"], indent=2))

    write_folder(out_dir, write)
    return OnnxExport(out_dir / MODEL_FILE, found["meta"])


def write_folder(out_dir: Path, write) -> None:
    """Fill a temporary sibling of ``out_dir`` with ``write(tmp)``, then put it in place of
    ``out_dir`` (a reader sees the old folder or the new one, never half of one); on any
    failure the temporary folder is removed and ``out_dir`` is left as it was."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        write(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _export_meta(entry, directory: Path, example: dict[str, torch.Tensor], dynamic_time: bool) -> dict:
    import onnx

    meta = entry.meta.to_dict()
    inputs = []
    for name, v in example.items():
        shape: list[Any] = ["batch", *v.shape[1:]]
        if dynamic_time and v.dim() >= 2:
            shape[-1] = "time"
        inputs.append({"name": name, "dtype": "float32", "shape": shape})
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model": entry.arch, "checkpoint": str(directory),
        "checkpoint_sha256": checkpoint_hash(directory),
        "labels": entry.labels, "label_set": meta.get("label_set"),
        "num_classes": len(entry.labels), "sample_rate": entry.sample_rate,
        "input_spec": meta.get("input_spec"), "feature": meta.get("feature"),
        "normalization": meta.get("normalization"), "temperature": temperature_of(meta),
        "inputs": inputs, "output": {"name": "logits", "shape": ["batch", len(entry.labels)]},
        "dynamic_time": dynamic_time,
        "preprocessing": ("cut the clip at sample_rate into input_spec segments, compute the "
                          "feature kind with its config, standardise with normalization "
                          "((x - mean) / (std + eps) per bin), run the graph, divide logits by "
                          "temperature if given, softmax, pool segment posteriors by "
                          "input_spec.aggregation (ser_core.checkpoint.prepare_batch)"),
        "exporter": "torch.onnx.export(dynamo=False)", "opset": OPSET,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__},
    }


def read_export(out_dir: str | Path) -> OnnxExport:
    """An export written by :func:`export_checkpoint`."""
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / META_FILE).read_text())
    if meta.get("format") != FORMAT or not (out_dir / MODEL_FILE).is_file():
        raise ExportError(f"{out_dir} is not an ONNX export of this lab.")
    return OnnxExport(out_dir / MODEL_FILE, meta)
