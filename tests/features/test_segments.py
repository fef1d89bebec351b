"""Cutting clips into segments: a last segment that would be mostly zero padding."""

from __future__ import annotations

import pytest
import torch

from ser_core.features.segments import segment_count, segment_fill, segment_starts, segment_waveform


def test_exact_and_just_over_a_boundary_give_one_segment_with_min_tail():
    sr = 1000
    for n in (3000, 3010):  # 3.00 s and 3.01 s in 3 s segments
        segs = segment_waveform(torch.ones(n), sr, 3.0, min_tail=0.5)
        assert segs.shape == (1, 3000) and bool((segs == 1).all())
    # without min_tail (training's layout) the 10 ms tail is a second, padded segment
    old = segment_waveform(torch.ones(3010), sr, 3.0)
    assert old.shape == (2, 3000) and old[1].sum() == 10


@pytest.mark.parametrize("n, min_tail, expected", [
    (4400, 0.5, 1), (4600, 0.5, 2), (1200, 0.5, 1), (3000, 0.5, 1), (6000, 0.5, 2),
    (3010, 0.0, 2), (4400, 0.3, 2)])
def test_segment_count_drops_only_a_short_tail(n, min_tail, expected):
    assert segment_count(n, 3000, 3000, min_tail) == expected
    segs = segment_waveform(torch.arange(1, n + 1).float(), 1000, 3.0, min_tail=min_tail)
    assert segs.shape[0] == expected
    assert segs[0, 0] == 1  # starts at the clip's first sample, in order
    assert segment_fill(torch.ones(n), 1000, 3.0, min_tail=min_tail).shape == (expected,)


def test_overlapping_windows_keep_their_tail():
    # 2 s windows every 0.4 s: the last window always holds more than 2 - 0.4 s of audio
    segs = segment_waveform(torch.ones(3000), 1000, 2.0, 0.4, min_tail=0.5)
    assert segment_starts(segs.shape[0], 1000, 2.0, 0.4) == [0.0, 0.4, 0.8, 1.2]
    assert segs[-1].sum() == 1800
