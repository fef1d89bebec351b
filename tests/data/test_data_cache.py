"""The feature cache: computed once per (file content, config, rate), atomic, never pickle."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from corpus_helpers import write_audio
from ser_core.audio import load_audio
from ser_core.data.cache import FeatureCache, default_cache_dir, load_waveforms


@pytest.fixture
def clip(tmp_path):
    return write_audio(tmp_path / "audio" / "a.wav", seconds=0.5, sr=22050)


def entries(cache: FeatureCache):
    return sorted(p for p in cache.root.rglob("*") if p.is_file())


def test_waveform_is_decoded_once_and_matches_load_audio(tmp_path, clip):
    cache = FeatureCache(tmp_path / "cache")
    first = cache.waveform(clip, 16000)
    assert (cache.hits, cache.misses) == (0, 1)
    again = cache.waveform(clip, 16000)
    assert (cache.hits, cache.misses) == (1, 1)
    ref = load_audio(clip, target_sr=16000).waveform
    assert torch.equal(first, ref) and torch.equal(again, ref) and again.dtype == torch.float32
    cache.waveform(clip, 8000)  # another rate is another entry
    assert cache.misses == 2 and len(entries(cache)) == 2
    assert all(p.suffix == ".safetensors" for p in entries(cache))
    assert not any(p.name.startswith(".") for p in entries(cache))  # no temp files left


def test_changed_file_content_is_a_miss(tmp_path, clip):
    cache = FeatureCache(tmp_path / "cache")
    a = cache.waveform(clip)
    write_audio(clip, seconds=0.5, sr=22050, content="different")
    os.utime(clip, ns=(1, 1))  # even with an old mtime the content hash changes
    b = cache.waveform(clip)
    assert cache.misses == 2 and not torch.equal(a, b)


def test_features_keyed_by_resolved_config(tmp_path, clip):
    cache = FeatureCache(tmp_path / "cache")
    x = cache.features(clip, "logmel")
    y = cache.features(clip, "logmel", {"n_mels": 40})  # the default, spelled out: same entry
    assert torch.equal(x, y) and cache.hits >= 1
    misses = cache.misses
    z = cache.features(clip, "logmel", {"n_mels": 64})
    assert cache.misses == misses + 1 and z.shape[-2] == 64 and x.shape[-2] == 40
    from ser_core.features.pipeline import extract

    assert torch.allclose(x, extract("logmel", load_audio(clip).waveform, 16000))
    pair = cache.features(clip, "mel_pair")  # dict outputs are cached as dicts
    assert isinstance(pair, dict) and isinstance(cache.features(clip, "mel_pair"), dict)


def test_custom_extractor_and_half_precision_storage(tmp_path, clip):
    calls = []

    def fake(kind, waveform, sr, scale=1.0):
        calls.append(kind)
        return waveform[:100].reshape(1, 100) * scale

    cache = FeatureCache(tmp_path / "cache", store_dtype=torch.float16)
    a = cache.features(clip, "toy", {"scale": 2.0}, extract=fake)
    b = cache.features(clip, "toy", {"scale": 2.0}, extract=fake)
    assert calls == ["toy"] and b.dtype == torch.float32
    assert torch.allclose(a, b, atol=1e-3)
    cache.features(clip, "toy", {"scale": 3.0}, extract=fake)
    assert calls == ["toy", "toy"]


def test_corrupt_entry_is_recomputed(tmp_path, clip):
    cache = FeatureCache(tmp_path / "cache")
    ref = cache.waveform(clip)
    (entry,) = entries(cache)
    entry.write_bytes(b"\x00garbage")
    assert torch.equal(cache.waveform(clip), ref) and cache.misses == 2


def test_no_pickle_anywhere(tmp_path, clip):
    cache = FeatureCache(tmp_path / "cache")
    cache.features(clip, "mfcc")
    for p in entries(cache):
        head = p.read_bytes()[:8]
        assert int.from_bytes(head, "little") < p.stat().st_size  # safetensors header length
        assert not p.read_bytes().startswith(b"\x80")  # not a pickle stream


def test_load_waveforms_uses_the_env_cache(tmp_path, clip, monkeypatch):
    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    (w,) = load_waveforms([str(clip)], 16000)
    assert w.shape == load_audio(clip).waveform.shape and any((tmp_path / "envcache").rglob("*.safetensors"))
    monkeypatch.setenv("SER_CACHE_DIR", "off")
    assert default_cache_dir() is None
    (w2,) = load_waveforms([str(clip)], 16000)
    assert torch.equal(w, w2)


def test_precompute_and_clear(tmp_path):
    paths = [write_audio(tmp_path / f"{i}.wav") for i in range(3)]
    cache = FeatureCache(tmp_path / "cache")
    seen = []
    assert cache.precompute(paths, progress=lambda i, n: seen.append((i, n))) == 3
    assert seen[-1] == (3, 3) and cache.size_bytes() > 0
    assert cache.clear() == 3 and cache.size_bytes() == 0


def test_bad_audio_raises_the_audio_error(tmp_path):
    from ser_core.errors import AudioError

    bad = tmp_path / "bad.wav"
    sf.write(bad, np.zeros(1600, dtype=np.float32), 16000)  # silent
    with pytest.raises(AudioError):
        FeatureCache(tmp_path / "cache").waveform(bad)
