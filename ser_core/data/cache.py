"""On-disk cache of decoded waveforms and features, so a corpus is processed once per config.

:class:`FeatureCache` stores tensors as safetensors files (never pickle) under ``root``,
keyed by

    (cache format version, absolute audio path, SHA-256 of the file's bytes,
     what is stored: ``waveform`` or a feature kind with its *resolved* config, sample rate)

so a changed file, a changed config or a changed rate is a miss, and the same config
spelled two ways (defaults given explicitly or not) is a hit. Two things can be cached:

- :meth:`FeatureCache.waveform`: the file decoded, mixed to mono and resampled
  (:func:`ser_core.audio.load_audio`), ``(time,)`` float32. Decode + resample is the
  expensive part of reading a corpus; the training engine segments these waveforms.
- :meth:`FeatureCache.features`: ``ser_core.features.pipeline.extract(kind, waveform, sr,
  **params)`` of the whole utterance (a tensor or a dict of tensors), computed from the
  cached waveform.

Writes are atomic (temporary file in the same folder, then ``os.replace``): a crash never
leaves a half-written entry, and concurrent writers of one key are harmless. An unreadable
entry counts as a miss and is rewritten.

:func:`load_waveforms` is the module-level entry point the trainer uses; it caches under
``$SER_CACHE_DIR`` (default ``<repo>/.cache/ser``) unless ``SER_CACHE_DIR`` is ``off``.
"""

from __future__ import annotations

import dataclasses
import json
import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.data.atomic import atomic_write_bytes
from ser_core.data.duplicates import file_sha256

CACHE_VERSION = 1
WAVEFORM = "waveform"
_SUFFIX = ".safetensors"


def _jsonable(value: Any) -> Any:
    """Tuples as lists, keys as strings: the form a config takes in JSON."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class FeatureCache:
    """Tensors computed from audio files, stored once per (file content, config, rate).

    ``store_dtype=torch.float16`` halves disk use for features (they come back float32);
    waveforms are always stored float32.
    """

    def __init__(self, root: str | Path, *, store_dtype: torch.dtype = torch.float32) -> None:
        self.root = Path(root).expanduser()
        self.store_dtype = store_dtype
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------------- keys
    def key(self, path: str | Path, what: str, config: Mapping[str, Any], sample_rate: int) -> str:
        path = Path(path).expanduser().resolve()
        body = {"v": CACHE_VERSION, "path": str(path), "content": file_sha256(path), "what": what,
                "config": _jsonable(dict(config)), "sr": int(sample_rate)}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def entry_path(self, what: str, key: str) -> Path:
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", what)
        return self.root / folder / key[:2] / f"{key}{_SUFFIX}"

    # -------------------------------------------------------------------- raw get/put
    def get(self, what: str, key: str) -> torch.Tensor | dict[str, torch.Tensor] | None:
        from safetensors import safe_open

        path = self.entry_path(what, key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {name: fh.get_tensor(name) for name in fh.keys()}
        except Exception:  # truncated or foreign file: a miss, rewritten by the caller
            path.unlink(missing_ok=True)
            return None
        tensors = {k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v)
                   for k, v in tensors.items()}
        if meta.get("layout") == "tensor":
            return tensors.get("x")
        return tensors

    def put(self, what: str, key: str, value: torch.Tensor | Mapping[str, torch.Tensor],
            meta: Mapping[str, Any] | None = None, store_dtype: torch.dtype | None = None) -> Path:
        from safetensors.torch import save

        store_dtype = store_dtype or self.store_dtype
        if isinstance(value, torch.Tensor):
            tensors, layout = {"x": value}, "tensor"
        elif isinstance(value, Mapping) and all(isinstance(v, torch.Tensor) for v in value.values()):
            tensors, layout = dict(value), "dict"
        else:
            raise TypeError(f"only tensors or dicts of tensors can be cached, not {type(value).__name__}")
        tensors = {k: self._to_store(v, store_dtype) for k, v in tensors.items()}
        metadata = {"layout": layout, **{k: json.dumps(v) for k, v in (meta or {}).items()}}
        return atomic_write_bytes(self.entry_path(what, key), save(tensors, metadata=metadata))

    @staticmethod
    def _to_store(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        t = t.detach().cpu()
        if t.is_floating_point() and t.dtype != dtype:
            t = t.to(dtype)
        return t.contiguous()

    def get_or_compute(self, path: str | Path, what: str, config: Mapping[str, Any], sample_rate: int,
                       compute: Callable[[], Any], store_dtype: torch.dtype | None = None):
        key = self.key(path, what, config, sample_rate)
        found = self.get(what, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        value = compute()
        self.put(what, key, value, meta={"path": str(Path(path).resolve()), "config": dict(config),
                                         "sample_rate": int(sample_rate)}, store_dtype=store_dtype)
        return value

    # ----------------------------------------------------------------- waveforms
    def waveform(self, path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> torch.Tensor:
        """Mono float32 ``(time,)`` at ``sample_rate`` (decoded once, then read from disk)."""
        from ser_core.audio import load_audio

        return self.get_or_compute(
            path, WAVEFORM, {"loader": "ser_core.audio.load_audio", "mono": "mean"}, sample_rate,
            lambda: load_audio(path, target_sr=sample_rate).waveform, store_dtype=torch.float32)

    def waveforms(self, paths: Sequence[str | Path], sample_rate: int = DEFAULT_SAMPLE_RATE,
                  threads: int = 4) -> list[torch.Tensor]:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            return list(pool.map(lambda p: self.waveform(p, sample_rate), paths))

    # ------------------------------------------------------------------ features
    def features(self, path: str | Path, kind: str, params: Mapping[str, Any] | None = None,
                 sample_rate: int = DEFAULT_SAMPLE_RATE,
                 extract: Callable[..., Any] | None = None) -> torch.Tensor | dict[str, torch.Tensor]:
        """Whole-utterance features ``extract(kind, waveform, sample_rate, **config)``.

        ``extract`` defaults to :func:`ser_core.features.pipeline.extract`; the key uses the
        resolved config, so ``params`` may be partial.
        """
        if extract is None:
            from ser_core.features.pipeline import extract as pipeline_extract, feature_config

            params = dict(params or {})
            given = params.pop("config", None)
            if given is not None:
                given = given if isinstance(given, dict) else dataclasses.asdict(given)
                params = {**given, **params}
            cfg = feature_config(kind, **params)
            config = dataclasses.asdict(cfg)

            def compute():
                return pipeline_extract(kind, self.waveform(path, sample_rate), sample_rate, config=cfg)
        else:
            config = dict(params or {})

            def compute():
                return extract(kind, self.waveform(path, sample_rate), sample_rate, **config)

        return self.get_or_compute(path, f"features-{kind}", config, sample_rate, compute)

    def precompute(self, paths: Iterable[str | Path], kind: str | None = None,
                   params: Mapping[str, Any] | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE,
                   progress: Callable[[int, int], None] | None = None) -> int:
        """Fill the cache for ``paths`` (waveforms, or features of ``kind``). Returns the count."""
        paths = list(paths)
        for i, p in enumerate(paths, 1):
            if kind is None:
                self.waveform(p, sample_rate)
            else:
                self.features(p, kind, params, sample_rate)
            if progress:
                progress(i, len(paths))
        return len(paths)

    # ------------------------------------------------------------------- upkeep
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob(f"*{_SUFFIX}")) if self.root.is_dir() else 0

    def clear(self, what: str | None = None) -> int:
        """Delete entries (all, or of one ``what``); returns how many files were removed."""
        base = self.root if what is None else self.root / re.sub(r"[^A-Za-z0-9_.-]+", "_", what)
        n = 0
        if base.is_dir():
            for p in base.rglob(f"*{_SUFFIX}"):
                p.unlink(missing_ok=True)
                n += 1
        return n


# ---------------------------------------------------------------- module-level helpers

def default_cache_dir() -> Path | None:
    """``$SER_CACHE_DIR`` (``off`` disables caching), else ``<repo>/.cache/ser``."""
    env = os.environ.get("SER_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "none", "0") else Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / ".cache" / "ser"


_DEFAULT: dict[str, FeatureCache] = {}


def default_cache() -> FeatureCache | None:
    root = default_cache_dir()
    if root is None:
        return None
    key = str(root)
    if key not in _DEFAULT:
        _DEFAULT[key] = FeatureCache(root)
    return _DEFAULT[key]


def load_waveforms(paths: Sequence[str | Path], sample_rate: int = DEFAULT_SAMPLE_RATE,
                   threads: int = 4, cache: FeatureCache | None = None) -> list[torch.Tensor]:
    """Decoded mono ``(time,)`` float32 waveforms at ``sample_rate``, through the cache.

    With caching off (``SER_CACHE_DIR=off``) the files are decoded every time.
    """
    cache = cache or default_cache()
    if cache is not None:
        return cache.waveforms(paths, sample_rate, threads)
    from ser_core.audio import load_audio

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(lambda p: load_audio(p, target_sr=sample_rate).waveform, paths))
