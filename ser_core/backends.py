"""Inference backends: what turns a prepared batch into logits.

The inference service prepares every model's input in torch (segments -> features ->
normalisation, :func:`ser_core.checkpoint.prepare_batch`) and hands the batch to the
model's backend:

``torch``
    the eager ``nn.Module`` (also what Explain always uses: attention capture hooks modules).
``onnxruntime``
    the checkpoint exported to ONNX (:mod:`ser_core.onnx_export`) run by onnxruntime's CPU
    provider. Exports are cached under ``$SER_ONNX_CACHE`` or ``<repo>/.cache/onnx``, one
    folder per checkpoint content hash (weights + config) and exporter version, so a
    checkpoint is exported once, on first use, and a rewritten checkpoint is exported again.
``onnxruntime-int8``
    the int8 graph of each checkpoint that stores int8 calibration ranges judged worth it
    (:mod:`ser_core.onnx_int8`: about 2x faster than float32 for the convolutional models, the
    same top class on 95-97 % of test clips, not on all), else its float32 export; opt-in only.
``auto`` (the default)
    onnxruntime where an export of the checkpoint is already in the cache, else torch; never
    exports by itself, because exporting costs more than a one-off prediction (0.1-7 s per
    shipped model against 2-50 ms to run it). The app calls :func:`export_in_background`,
    which exports what is missing in a low-priority thread and switches each model to
    onnxruntime when its export is ready. Measured on this 2-core machine with
    ``python scripts/bench_onnx.py`` (README, "Speed"): onnxruntime is faster than torch eager
    for each of the seven shipped models, so ``auto`` prefers it; a model that cannot be
    exported stays on torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

import torch

from ser_core.errors import ConfigError, SerError

BACKENDS = ("auto", "torch", "onnxruntime", "onnxruntime-int8")
INT8 = "onnxruntime-int8"
ENV_CACHE = "SER_ONNX_CACHE"
ENV_BACKEND = "SER_BACKEND"
CACHE_ENTRIES = 64

_EXPORT_LOCK = threading.Lock()


def onnx_cache_dir() -> Path:
    """``$SER_ONNX_CACHE`` or ``<repo>/.cache/onnx``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / ".cache" / "onnx"


def check_backend(name: str | None) -> str:
    name = (name or "auto").strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}.")
    return name


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxRuntimeBackend:
    """Logits from an exported graph; takes the prepared batch (tensor or dict of tensors)."""

    def __init__(self, export, threads: int = 1, note: str = "") -> None:
        from ser_core.onnx_export import SINGLE, _session

        self.export = export
        self.name = INT8 if "int8" in export.meta else "onnxruntime"
        self.note = note  # why an int8 request runs this float32 graph, when it does
        self.threads = max(1, int(threads))
        self.session = _session(export.path, self.threads)
        self._names = export.input_names
        self._single = self._names == [SINGLE]

    def accepts(self, x: Any) -> bool:
        """Whether ``x`` has the exported inputs (a "my voice" reference adds one that the
        export has not: such a batch runs on torch)."""
        return set(x) == set(self._names) if isinstance(x, Mapping) else self._single

    def __call__(self, x: Any) -> torch.Tensor:
        items = {self._names[0]: x} if self._single else x
        feeds = {n: _numpy(items[n]) for n in self._names}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def _numpy(t: torch.Tensor):
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.float().contiguous().numpy()


def cached_export(directory: str | Path, cache: str | Path | None = None):
    """The ONNX export of a checkpoint, from the cache or made now (once per content hash)."""
    from ser_core.onnx_export import export_checkpoint

    with _EXPORT_LOCK:
        found = _cached(directory, cache)
        if found is None:
            found = export_checkpoint(directory, _cache_folder(directory, cache))
            prune_cache(Path(cache or onnx_cache_dir()))
        return found


def prune_cache(root: Path, keep: int = CACHE_ENTRIES) -> None:
    """Remove the least recently written exports beyond ``keep`` (rewritten checkpoints and
    test runs leave stale entries)."""
    import shutil

    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _cache_folder(directory: str | Path, cache: str | Path | None) -> Path:
    import onnx

    from ser_core.onnx_export import OPSET, checkpoint_hash

    key = f"{checkpoint_hash(directory)[:20]}-t{torch.__version__.split('+')[0]}-o{OPSET}-{onnx.__version__}"
    return Path(cache or onnx_cache_dir()) / key


def _cached(directory: str | Path, cache: str | Path | None):
    """The cached export of a checkpoint, or ``None`` (absent or unreadable)."""
    from ser_core.onnx_export import read_export

    try:
        return read_export(_cache_folder(directory, cache))
    except (OSError, ValueError, KeyError, SerError):
        return None


def make_backend(entry, backend: str, threads: int | None = None, cache: str | Path | None = None):
    """The backend object for a loaded model (``None`` = its eager module).

    ``onnxruntime`` exports when the cache has no export yet, and raises
    :class:`~ser_core.onnx_export.ExportError` (or ConfigError when onnxruntime is not
    installed); ``onnxruntime-int8`` takes the int8 graph where the checkpoint's calibration
    allows it, else the float32 export (its ``note`` says why); ``auto`` takes a cached export
    or torch (always torch on GPU).
    """
    backend = check_backend(backend)
    if backend == "torch":
        return None
    on_cpu = next(iter(entry.model.parameters()), torch.empty(0)).device.type == "cpu"
    if backend == "auto" and (not on_cpu or not onnxruntime_available()):
        return None
    if not onnxruntime_available():
        raise ConfigError("the onnxruntime backend needs the onnx and onnxruntime packages "
                          "(pip install -r requirements.txt).")
    n = threads or torch.get_num_threads()
    if backend == "auto":
        found = _cached(entry.path, cache)
        return OnnxRuntimeBackend(found, n) if found is not None else None
    if backend == INT8:
        from ser_core.onnx_int8 import Int8Error, int8_export, not_used_because

        try:
            found = int8_export(entry.path, cache)
            note = "" if found is not None else not_used_because(entry.path)
        except Int8Error as exc:
            found, note = None, str(exc)
        if found is not None:
            return OnnxRuntimeBackend(found, n)
        return OnnxRuntimeBackend(cached_export(entry.path, cache), n, note=note)
    return OnnxRuntimeBackend(cached_export(entry.path, cache), n)


def export_in_background(models, threads: int | None = None, cache: str | Path | None = None,
                         nice: int = 10) -> threading.Thread | None:
    """Export, in a daemon thread at lower CPU priority, every CPU model still on torch, and
    switch each to onnxruntime as soon as its export is ready (an attribute swap: a
    prediction running meanwhile finishes on torch). A model that cannot be exported stays
    on torch. Returns the thread (``None`` when there is nothing to do)."""
    if not onnxruntime_available():
        return None
    todo = [m for m in models if m.backend is None
            and next(iter(m.model.parameters()), torch.empty(0)).device.type == "cpu"]
    if not todo:
        return None

    def work() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (AttributeError, OSError):
            pass
        for m in todo:
            try:
                m.backend = OnnxRuntimeBackend(cached_export(m.path, cache), threads or 1)
            except Exception:  # stays on torch: same answers, a little slower
                continue

    thread = threading.Thread(target=work, name="onnx-export", daemon=True)
    thread.start()
    return thread


def backend_name(entry) -> str:
    """``"torch"``, ``"onnxruntime"`` or ``"onnxruntime-int8"``: what runs ``entry`` now."""
    b = getattr(entry, "backend", None)
    return getattr(b, "name", "torch") if b is not None else "torch"


def backend_label(entry) -> str:
    """What runs ``entry``, for people: the backend's name and, for an int8 graph, how often it
    kept the float32 graph's answer when it was calibrated."""
    name = backend_name(entry)
    if name != INT8:
        return name
    m = entry.backend.export.meta["int8"]["measured"]
    return f"{name} (same top class as float32 on {100 * m['same_top_class']:.1f} % of {m['test_clips']} clips)"


def default_backend(environ: Mapping[str, str] | None = None) -> str:
    """``$SER_BACKEND`` (one of :data:`BACKENDS`), else ``auto``; a bad value is an error."""
    env = os.environ if environ is None else environ
    return check_backend(env.get(ENV_BACKEND) or "auto")


def switch_backend(models, backend: str, threads: int | None = None,
                   cache: str | Path | None = None) -> dict[str, str]:
    """Put loaded models on ``backend`` (the app's choice); returns ``{name: why}`` for those
    left on torch because they could not be exported. ``auto`` starts the background export."""
    from ser_core.onnx_export import ExportError

    backend = check_backend(backend)
    refused: dict[str, str] = {}
    for m in models:
        try:
            m.backend = make_backend(m, backend, threads, cache)
        except (ExportError, ConfigError) as exc:
            m.backend, refused[m.name] = None, str(exc)
    if backend == "auto":
        export_in_background(models, threads, cache)
    return refused
