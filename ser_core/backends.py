"""Inference backends: what turns a prepared batch into logits.

The inference service prepares every model's input in torch (segments -> features ->
normalisation, :func:`ser_core.training.featurize.prepare_batch`) and hands the batch to the
model's backend:

``torch``
    the eager ``nn.Module`` (also what Explain always uses: attention capture hooks modules).
``onnxruntime``
    the checkpoint exported to ONNX (:mod:`ser_core.onnx_export`) run by onnxruntime's CPU
    provider. Exports are cached under ``$SER_ONNX_CACHE`` or ``<repo>/.cache/onnx``, one
    folder per checkpoint content hash (weights + config) and exporter version, so a
    checkpoint is exported once, on first use, and a rewritten checkpoint is exported again.
``auto`` (the default)
    onnxruntime where the checkpoint exports and onnxruntime is installed, else torch.
    Measured on this 2-core machine with ``python scripts/bench_onnx.py`` (README, "Speed"):
    onnxruntime is faster than torch eager for each of the seven shipped models at 1 and 2
    threads, so ``auto`` picks it; a model that cannot be exported falls back to torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

import torch

from ser_core.errors import ConfigError, SerError

BACKENDS = ("auto", "torch", "onnxruntime")
ENV_CACHE = "SER_ONNX_CACHE"
ENV_BACKEND = "SER_BACKEND"

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

    name = "onnxruntime"

    def __init__(self, export, threads: int = 1) -> None:
        from ser_core.onnx_export import SINGLE, _session

        self.export = export
        self.threads = max(1, int(threads))
        self.session = _session(export.path, self.threads)
        self._names = export.input_names
        self._single = self._names == [SINGLE]

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
    import onnx

    from ser_core.onnx_export import OPSET, export_checkpoint, read_export, checkpoint_hash

    key = f"{checkpoint_hash(directory)[:20]}-t{torch.__version__.split('+')[0]}-o{OPSET}-{onnx.__version__}"
    folder = Path(cache or onnx_cache_dir()) / key
    with _EXPORT_LOCK:
        try:
            return read_export(folder)
        except (OSError, ValueError, KeyError, SerError):  # absent or unreadable: export anew
            pass
        return export_checkpoint(directory, folder)


def make_backend(entry, backend: str, threads: int | None = None, cache: str | Path | None = None):
    """The backend object for a loaded model (``None`` = its eager module).

    ``onnxruntime`` raises :class:`~ser_core.onnx_export.ExportError` (or ConfigError when
    onnxruntime is not installed); ``auto`` falls back to torch in either case and on GPU.
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
    try:
        return OnnxRuntimeBackend(cached_export(entry.path, cache), n)
    except Exception:
        if backend == "auto":
            return None
        raise


def backend_name(entry) -> str:
    """``"torch"`` or ``"onnxruntime"``: what runs ``entry`` now."""
    b = getattr(entry, "backend", None)
    return getattr(b, "name", "torch") if b is not None else "torch"


def default_backend(environ: Mapping[str, str] | None = None) -> str:
    """``$SER_BACKEND`` (auto, torch, onnxruntime), else ``auto``; a bad value is an error."""
    env = os.environ if environ is None else environ
    return check_backend(env.get(ENV_BACKEND) or "auto")
