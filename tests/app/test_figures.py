"""The figure builders that skip plotly's validation still make valid, complete figures."""

from __future__ import annotations

import base64
import json
import re

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


def test_bars_and_waveform_validate():
    _validated(F.probability_bars(LABELS, [0.1, 0.2, 0.3, 0.4], title="t"))
    wave = _validated(F.waveform(np.sin(np.arange(48000) / 10.0), 16000, height=140))
    assert len(wave["data"]) == 2 and wave["layout"]["height"] == 140
    assert len(wave["data"][1]["x"]) <= 2000  # the min/max envelope, not 48000 samples


def test_waveform_svg_is_the_envelope_at_screen_resolution():
    x = np.zeros(48000, dtype=np.float32)
    x[16000:17000] = 0.5  # a burst at 1.0-1.06 s
    shown = F.waveform_svg(x, 16000, height=84, points=300)
    assert 'alt="waveform, 3.00 s"' in shown
    svg = base64.b64decode(re.search(r"base64,([^\"]+)", shown).group(1)).decode()
    assert "<title>waveform, 3.00 s</title>" in svg and svg.count("<path") == 1
    path = re.search(r'd="M([^"]+) Z"', svg).group(1)
    points = [tuple(map(float, p.split(","))) for p in path.replace("L", " ").split()]
    assert len(points) == 2 * 300
    ys = sorted({round(y, 1) for _, y in points})
    assert ys[0] == 2.0 and ys[-1] == 42.0  # the burst reaches the top; the rest is the centre line
    assert F.waveform_svg(np.zeros(0), 16000) == ""
    t, low, high = F.envelope(np.arange(10.0), 10, 4)
    assert list(low) == [0, 3, 6, 9] and list(high) == [2, 5, 8, 9] and len(t) == 4


def test_html_timeline_stacks_each_segment_and_fades_the_silent_ones():
    from ui import prob_html

    probs = [[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]]
    out = prob_html.timeline([0.0, 0.4, 0.8], 2.0, LABELS, probs, 2.5, votes=[True, True, False])
    out = out.split("</style>")[1]
    assert out.count('class="seg') == 3 and out.count('class="seg mute"') == 1
    assert "2 s segments every 0.4 s" in out and "zero padding" in out  # 0.8 + 2 > 2.5 s
    assert f'<span class="top">{LABELS[0]}</span>' in out and f'<span class="top">{LABELS[1]}</span>' in out
    assert f'title="{LABELS[1]}: 60% (segment 0.4-2.4 s)"' in out and "height:60.00%" in out
    one = prob_html.timeline([0.0, 3.0], 3.0, LABELS, probs[:2], 6.0).split("</style>")[1]
    assert "every 3 s" in one and "zero padding" not in one and "mute" not in one


def test_heatmap_and_overlay_validate_with_named_scales_resolved():
    hm = _validated(F.heatmap(np.random.default_rng(0).normal(size=(4, 6)), zmid=0.0, robust=True,
                              colorbar="ln", yaxis="mel band"))
    trace = hm["data"][0]
    assert isinstance(trace["colorscale"], list) and trace["zmin"] == -trace["zmax"]
    assert hm["layout"]["yaxis"]["title"]["text"] == "mel band"
    ov = _validated(F.overlay([("a", [1, 2, 3], "#444"), ("b", [3, 2, 1], "#f00")], mode="lines+markers"))
    assert [t["name"] for t in ov["data"]] == ["a", "b"]


def test_live_picture_and_history_are_cheap_to_redraw():
    from ui import prob_html

    z = np.zeros((40, 300))
    z[0] = 5.0  # the lowest mel band loud
    im = F.heatmap_image(z, rows_per_bin=3)
    assert im.shape == (120, 300, 3) and im.dtype == np.uint8
    assert (im[-3:] != im[0]).any(axis=-1).all() and (im[-1] == im[-3]).all()  # band 0 at the bottom
    out = prob_html.history([(float(t), "angry" if t % 2 else "sad", 0.5) for t in range(20)], last=12)
    assert out.count("<span") == 12 and "angry 50%" in out and 'title="19 s"' in out
