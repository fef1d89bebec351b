"""The figure builders that skip plotly's validation still make valid, complete figures."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ui import figures as F

LABELS = ["neutral", "happy", "sad", "angry"]


def _validated(fig: go.Figure) -> dict:
    """Rebuild with full validation (raises on any invalid property) and round-trip JSON."""
    return json.loads(pio.to_json(go.Figure(fig.to_dict()), validate=True))


def test_probability_grid_one_figure_every_model_on_its_own_axes():
    probs = [[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.25] * 4]
    fig = F.probability_grid(["a", "b", "c"], [LABELS] * 3, probs, ["x", "y", "z"], cols=2)
    d = _validated(fig)
    assert [t.get("xaxis", "x") for t in d["data"]] == ["x", "x2", "x3"]
    assert d["data"][1]["y"][-1] == "neutral" and d["data"][1]["x"][-1] == 0.7  # top bar last
    assert d["layout"]["template"]["layout"]  # expanded: plotly.js takes no template names
    assert "<b>b</b>" in [a["text"].split("<br>")[0] for a in d["layout"]["annotations"]][1]
    again = F.probability_grid(["a", "b", "c"], [LABELS] * 3, probs[::-1], ["x", "y", "z"], cols=2)
    assert again.layout.annotations[0].text == fig.layout.annotations[0].text  # cached layout intact


def test_bars_waveform_and_timeline_validate():
    _validated(F.probability_bars(LABELS, [0.1, 0.2, 0.3, 0.4], title="t"))
    wave = _validated(F.waveform(np.sin(np.arange(48000) / 10.0), 16000, height=140))
    assert len(wave["data"]) == 2 and wave["layout"]["height"] == 140
    tl = _validated(F.timeline([0.0, 0.4, 0.8], 2.0, LABELS, np.full((3, 4), 0.25), 2.5))
    assert len(tl["data"]) == len(LABELS) + 1 and tl["layout"]["shapes"][0]["x0"] == 2.5


def test_heatmap_and_overlay_validate_with_named_scales_resolved():
    hm = _validated(F.heatmap(np.random.default_rng(0).normal(size=(4, 6)), zmid=0.0, robust=True,
                              colorbar="ln", yaxis="mel band"))
    trace = hm["data"][0]
    assert isinstance(trace["colorscale"], list) and trace["zmin"] == -trace["zmax"]
    assert hm["layout"]["yaxis"]["title"]["text"] == "mel band"
    ov = _validated(F.overlay([("a", [1, 2, 3], "#444"), ("b", [3, 2, 1], "#f00")], mode="lines+markers"))
    assert [t["name"] for t in ov["data"]] == ["a", "b"]
