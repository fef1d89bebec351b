"""Bounded memory changes nothing a user sees: on real clips, the shipped models give the
same probabilities (and so the same top classes) through the block decoder and bounded
batches as through the whole-file decoder and one batch per clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from ser_core.audio import Audio, load_audio
from ser_core.data.records import iter_audio_files
from ser_core.inference import InferenceService
from tests.conftest import corpus_root

pytestmark = [pytest.mark.slow, pytest.mark.corpus]
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"


def _whole_file(path: Path) -> Audio:
    """The decoder as it was: read everything, mix down, resample the whole signal."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = torch.from_numpy(np.ascontiguousarray(x.mean(axis=1)))
    return Audio(AF.resample(mono, sr, 16000) if sr != 16000 else mono, 16000, sr, x.shape[1], path.name)


def _clips() -> list[Path]:
    rav = iter_audio_files(corpus_root("ravdess"))[:3]  # the corpora are FLAC
    emo = sorted((corpus_root("emodb") / "wav").glob("*"))[:3]
    return rav + emo


def test_shipped_models_answer_the_same(tmp_path):
    if not any(SHIPPED.glob("*/config.json")):
        pytest.skip("no shipped checkpoints")
    torch.set_num_threads(1)
    svc = InferenceService.from_paths([SHIPPED], device="cpu", strict=True)
    clips = _clips()
    # and one long clip (44.1 kHz stereo, > 16 segments) so that batching really splits it
    parts = [load_audio(p, target_sr=None) for p in clips[:3]]
    joined = np.concatenate([a.waveform.numpy() for a in parts] * 4)
    long_path = tmp_path / "long.wav"
    sf.write(long_path, np.stack([joined, 0.5 * joined], axis=1), parts[0].sample_rate, subtype="FLOAT")
    for path in clips + [long_path]:
        new = svc.predict(load_audio(path))
        svc.batch_segments = 10**6  # one batch per clip, as before
        old = svc.predict(_whole_file(path))
        svc.batch_segments = 16
        for a, b in zip(new.models, old.models):
            assert a.top == b.top, (path.name, a.name)
            np.testing.assert_allclose(a.probs, b.probs, atol=2e-4, err_msg=f"{path.name} {a.name}")
        assert new.consensus.top == old.consensus.top
    assert max(len(m.segment_probs) for m in new.models) > 16
