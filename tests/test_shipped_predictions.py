"""The shipped models' probabilities on real clips are bit-identical to the recorded ones.

``tests/fixtures/shipped_predictions.json`` holds, for three clips (one each of Emo-DB, EMOVO
and RAVDESS from ``../shared/data``) and every shipped checkpoint, the float32 utterance and
per-segment posteriors that :class:`ser_core.inference.InferenceService` returned at one CPU
thread. A refactoring of the checkpoint/feature/inference path must reproduce them exactly.
Record again (only when a change is *meant* to alter predictions, e.g. a retrained model)::

    OMP_NUM_THREADS=1 python -m tests.test_shipped_predictions
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ser_core.audio import load_audio
from ser_core.inference import InferenceService
from tests.conftest import DATA_ROOT, NEEDS

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints"
FIXTURE = REPO / "tests" / "fixtures" / "shipped_predictions.json"
CLIPS = ("emodb/wav/03a01Wa.flac", "emovo/f1/dis-f1-b1.flac",
         "ravdess/Actor_01/03-01-05-01-01-01-01.flac")


def compute(clips=CLIPS) -> dict:
    """``{clip: {model: {"labels", "probs", "segment_probs"}}}`` with one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        service = InferenceService.from_paths([SHIPPED], device="cpu", strict=True)
        out = {}
        for clip in clips:
            pred = service.predict(load_audio(DATA_ROOT / clip))
            out[clip] = {m.name: {"labels": m.labels, "probs": m.probs,
                                  "segment_probs": m.segment_probs} for m in pred.models}
        return out
    finally:
        torch.set_num_threads(threads)


def test_shipped_predictions_are_bit_identical_to_the_recorded_ones():
    missing = [c for c in CLIPS if not (DATA_ROOT / c).is_file()]
    if missing:
        pytest.skip(f"{NEEDS}the corpora at {DATA_ROOT} (missing {missing[0]})")
    expected = json.loads(FIXTURE.read_text())
    got = compute()
    assert sorted(got) == sorted(expected)
    for clip, models in expected.items():
        assert sorted(got[clip]) == sorted(models), clip
        for name, want in models.items():
            have = got[clip][name]
            assert have["labels"] == want["labels"], (clip, name)
            # exact float equality: JSON keeps every float32 value exactly (as a double)
            assert have["probs"] == want["probs"], (clip, name)
            assert have["segment_probs"] == want["segment_probs"], (clip, name)


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {FIXTURE}")
