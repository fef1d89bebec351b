"""Plotly figures for the app's pages: data in, figure out (no Streamlit, no computation).

Each builder takes arrays that ``ser_core`` produced and only arranges them for display.
"""

from __future__ import annotations

import base64
import copy
import functools
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# one colour per emotion, stable across pages and models (unknown labels cycle the palette)
EMOTION_COLORS = {
    "anger": "#d62728", "angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd",
    "fearful": "#9467bd", "happiness": "#ffbf00", "happy": "#ffbf00", "joy": "#ffbf00",
    "neutral": "#7f7f7f", "calm": "#17becf", "sadness": "#1f77b4", "sad": "#1f77b4",
    "surprise": "#ff7f0e", "surprised": "#ff7f0e", "boredom": "#bcbd22", "excited": "#e377c2",
    "frustration": "#e377c2", "other": "#c7c7c7",
}
_PALETTE = ["#2ca02c", "#e377c2", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a"]
HEATMAP = "Viridis"
BASE_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), template="plotly_white",
                   font=dict(size=13))


def color_of(label: str) -> str:
    key = label.lower()
    if key in EMOTION_COLORS:
        return EMOTION_COLORS[key]
    return _PALETTE[sum(map(ord, key)) % len(_PALETTE)]


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _layout(fig: go.Figure, title: str = "", height: int = 300, **kw) -> go.Figure:
    layout = {**BASE_LAYOUT, **kw}
    if not title and "margin" not in kw:  # no room reserved for a title that is not there
        layout["margin"] = {**layout["margin"], "t": 10}
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=15)), height=height, **layout)
    return fig


# -- predictions ----------------------------------------------------------------------------

def _template() -> dict:
    """``BASE_LAYOUT``'s template expanded once (plotly.js takes templates as objects)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        import plotly.io as pio

        _TEMPLATE = pio.templates[BASE_LAYOUT["template"]].to_plotly_json()
    return _TEMPLATE


_TEMPLATE: dict | None = None


def _assemble(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace/layout dicts without plotly's property validation.

    Why: validating a figure property by property is most of a page's server time (the
    Classify page's seven-model grid took 200 ms to build and serialise, 9 ms this way).
    Only for figures whose dicts are built here from known-good keys; the Plotly figure
    reference is the contract.
    """
    return go.Figure({"data": data, "layout": {"template": _template(), **layout}}, _validate=False)


def _base_layout(title: str, height: int, **kw) -> dict:
    layout = {**BASE_LAYOUT, **kw}
    layout.pop("template")
    if not title and "margin" not in kw:
        layout["margin"] = {**layout["margin"], "t": 10}
    return {"title": {"text": title, "x": 0, "font": {"size": 15}}, "height": height, **layout}


def _prob_bar(labels: Sequence[str], probs: Sequence[float], axis: str = "") -> dict:
    order = np.argsort(probs)
    labs = [labels[i] for i in order]
    vals = [float(probs[i]) for i in order]
    return {"type": "bar", "x": vals, "y": labs, "orientation": "h",
            "marker": {"color": [color_of(lab) for lab in labs]},
            "text": [f"{v:.0%}" for v in vals], "textposition": "outside", "cliponaxis": False,
            "hovertemplate": "%{y}: %{x:.1%}<extra></extra>", "showlegend": False,
            **({"xaxis": f"x{axis}", "yaxis": f"y{axis}"} if axis else {})}


def probability_bars(labels: Sequence[str], probs: Sequence[float], title: str = "",
                     height: int = 260) -> go.Figure:
    """Horizontal bars, most probable on top, each emotion in its colour."""
    layout = _base_layout(title, height, showlegend=False)
    layout["xaxis"] = {"range": [0, 1.12], "tickformat": ".0%", "showgrid": True}
    return _assemble([_prob_bar(labels, probs)], layout)


@functools.lru_cache(maxsize=16)
def _grid_layout(titles: tuple[str, ...], cols: int, rows: int, height: int) -> dict:
    """The subplot grid's layout (axes domains, titles), built once per set of models."""
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles),
                        horizontal_spacing=0.12, vertical_spacing=0.45 / max(rows, 1))
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", showgrid=True)
    fig.update_annotations(font_size=13)
    layout = fig.to_dict()["layout"]
    layout.pop("template", None)
    return {**layout, **_base_layout("", height, margin=dict(l=10, r=10, t=75, b=10))}


def probability_grid(names: Sequence[str], labels: Sequence[Sequence[str]],
                     probs: Sequence[Sequence[float]], subtitles: Sequence[str], cols: int = 3) -> go.Figure:
    """Every model's probabilities as small horizontal bar charts in one figure."""
    n = len(names)
    rows = int(np.ceil(n / cols))
    most = max((len(l) for l in labels), default=7)
    titles = tuple(f"<b>{a}</b><br><sup>{b}</sup>" for a, b in zip(names, subtitles))
    layout = _grid_layout(titles, cols, rows, 40 + rows * (80 + 24 * most))
    data = [_prob_bar(labs, ps, "" if i == 0 else str(i + 1))
            for i, (labs, ps) in enumerate(zip(labels, probs))]
    return _assemble(data, copy.deepcopy(layout))


def model_matrix(model_names: Sequence[str], labels: Sequence[str], probs: np.ndarray,
                 title: str = "") -> go.Figure:
    """Models x labels heatmap of probabilities (the Compare page's overview)."""
    z = _np(probs)
    fig = go.Figure(go.Heatmap(z=z, x=list(labels), y=list(model_names), colorscale="Blues",
                               zmin=0, zmax=1, text=[[f"{v:.0%}" for v in row] for row in z],
                               texttemplate="%{text}", hovertemplate="%{y} · %{x}: %{z:.1%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, 80 + 40 * len(model_names))


def confusion(matrix: Sequence[Sequence[float]], labels: Sequence[str], title: str = "",
              height: int = 360) -> go.Figure:
    """Row-normalised confusion matrix (true rows, predicted columns)."""
    z = _np(matrix).astype(float)
    if z.max() > 1.0 + 1e-6:  # counts given: normalise rows for display
        z = z / np.clip(z.sum(1, keepdims=True), 1e-12, None)
    fig = go.Figure(go.Heatmap(z=z, x=list(labels), y=list(labels), colorscale="Blues", zmin=0, zmax=1,
                               text=[[f"{v:.2f}" for v in row] for row in z], texttemplate="%{text}",
                               showscale=False,
                               hovertemplate="true %{y} → predicted %{x}: %{z:.1%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="true")
    fig.update_xaxes(title="predicted")
    return _layout(fig, title, height)


# -- signals and features -------------------------------------------------------------------

def waveform(x, sample_rate: int, title: str = "", t0: float = 0.0, color: str = "#1f77b4",
             height: int = 220, max_points: int = 2000, name: str = "") -> go.Figure:
    """A waveform; long signals are drawn as their min/max envelope over ``max_points``
    chunks (what a sample-by-sample plot looks like at screen resolution, at a fraction of
    the browser's work)."""
    y = _np(x).reshape(-1).astype(np.float32)
    if len(y) <= max_points:
        t = t0 + np.arange(len(y)) / sample_rate
        data = [{"type": "scatter", "x": t, "y": y, "mode": "lines",
                 "line": {"width": 1, "color": color}, "name": name or "signal"}]
    else:
        t, low, high = envelope(y, sample_rate, max_points, t0)
        data = [{"type": "scatter", "x": t, "y": low, "mode": "lines",
                 "line": {"width": 0.6, "color": color}, "showlegend": False, "hoverinfo": "skip"},
                {"type": "scatter", "x": t, "y": high, "mode": "lines",
                 "line": {"width": 0.6, "color": color}, "fill": "tonexty", "fillcolor": color,
                 "name": name or "signal", "hovertemplate": "%{x:.3f} s<extra></extra>"}]
    layout = _base_layout(title, height, showlegend=bool(name))
    layout["xaxis"] = {"title": {"text": "time (s)"}}
    return _assemble(data, layout)


def envelope(y: np.ndarray, sample_rate: int, points: int, t0: float = 0.0):
    """``(times, minima, maxima)`` of ``y`` over ``points`` equal chunks (at least one sample
    each): a waveform at screen resolution."""
    points = max(1, min(points, len(y)))
    chunk = int(np.ceil(len(y) / points))
    points = int(np.ceil(len(y) / chunk))
    padded = np.pad(y, (0, chunk * points - len(y)), mode="edge").reshape(points, chunk)
    t = (t0 + (np.arange(points) * chunk + chunk / 2) / sample_rate).astype(np.float32)
    return t, padded.min(1), padded.max(1)


def waveform_svg(x, sample_rate: int, height: int = 84, points: int = 480,
                 color: str = "#1f77b4") -> str:
    """A waveform as an SVG image (for ``st.html``): the min/max envelope as one filled path,
    with the clip's start and end time under it. The clip card on every page draws this
    rather than a Plotly figure: dropping a clip on Classify mounts a new figure, and each of
    the page's Plotly figures cost ~0.13 s of the warm drop-to-answer time
    (``scripts/measure_app.py``, with and without it); a path of a few hundred points costs
    the browser next to nothing. The Features page keeps the interactive waveform."""
    y = _np(x).reshape(-1).astype(np.float32)
    duration = len(y) / sample_rate
    if len(y) == 0:
        return ""
    _, low, high = envelope(y, sample_rate, points)
    peak = float(max(np.abs(low).max(), np.abs(high).max(), 1e-9))
    n = len(high)
    xs = np.linspace(0, 1000, n) if n > 1 else np.array([0.0])
    mid = height / 2

    def ys(v: np.ndarray) -> np.ndarray:
        return mid - v / peak * (mid - 2)

    top = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys(high)))
    bottom = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], ys(low)[::-1]))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1000 {height}" '
           f'preserveAspectRatio="none"><title>waveform, {duration:.2f} s</title>'
           f'<line x1="0" y1="{mid}" x2="1000" y2="{mid}" stroke="#d5dae2" stroke-width="1"/>'
           f'<path d="M{top} L{bottom} Z" fill="{color}" stroke="{color}" stroke-width="0.6" '
           f'vector-effect="non-scaling-stroke"/></svg>')
    # an <img> of the SVG: st.html's sanitiser removes inline <svg> elements, not images
    data = base64.b64encode(svg.encode()).decode()
    return (f'<div class="serw" style="margin:2px 0 4px 0">'
            f'<img alt="waveform, {duration:.2f} s" src="data:image/svg+xml;base64,{data}" '
            f'style="display:block;width:100%;height:{height}px"/>'
            f'<div style="display:flex;justify-content:space-between;color:#5b6b7a;'
            f'font-size:0.75rem"><span>0 s</span><span>time</span><span>{duration:.2f} s</span>'
            f'</div></div>')


def heatmap_image(z, rows_per_bin: int = 3, colormap: str = "viridis") -> np.ndarray:
    """``z`` (bins, frames) as an RGB image ``(bins·rows_per_bin, frames, 3)`` uint8, row 0 at
    the bottom, colours over the 1st-99th percentile: for ``st.image`` where a picture is
    redrawn every second (Live), which costs the browser far less than a new Plotly figure."""
    from matplotlib import colormaps

    z = _np(z).astype(np.float32)
    finite = z[np.isfinite(z)]
    lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    scaled = np.clip((np.nan_to_num(z, nan=lo) - lo) / max(float(hi - lo), 1e-9), 0.0, 1.0)
    rgb = colormaps[colormap](scaled[::-1])[..., :3]
    return (255 * np.repeat(rgb, rows_per_bin, axis=0)).astype(np.uint8)


def overlay(traces: Sequence[tuple[str, np.ndarray, str]], x=None, title: str = "",
            xaxis: str = "", yaxis: str = "", height: int = 260, mode: str = "lines") -> go.Figure:
    """Several curves on one axis: ``(name, y, colour)``."""
    data = []
    for name, y, color in traces:
        y = _np(y).reshape(-1)
        xs = np.arange(len(y)) if x is None else _np(x)
        data.append({"type": "scatter", "x": xs, "y": y, "name": name, "mode": mode,
                     "line": {"width": 1.3, "color": color}})
    layout = _base_layout(title, height, legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    layout["xaxis"] = {"title": {"text": xaxis}}
    layout["yaxis"] = {"title": {"text": yaxis}}
    return _assemble(data, layout)


@functools.lru_cache(maxsize=16)
def _colorscale(name: str) -> tuple:
    """A named scale (``"Viridis"``, ``"RdBu_r"``) as plotly.js's ``[[position, colour], ...]``."""
    from plotly.colors import get_colorscale

    return tuple(tuple(step) for step in get_colorscale(name))


def heatmap(z, x=None, y=None, title: str = "", xaxis: str = "time (s)", yaxis: str = "",
            colorscale: str = HEATMAP, height: int = 280, zmid: float | None = None,
            colorbar: str = "", robust: bool = False) -> go.Figure:
    """An image with row 0 at the bottom (frequency axes grow upwards).

    ``zmid`` centres a diverging scale on that value; ``robust`` sets the colour range to the
    1st-99th percentiles (symmetric around ``zmid`` when given), so that a few extreme
    values (silence edges in deltas, c0 of MFCCs) do not wash out the rest.
    """
    z = _np(z).astype(float)
    kw: dict = {}
    if robust and np.isfinite(z).any():
        finite = z[np.isfinite(z)]
        if zmid is not None:
            r = float(np.percentile(np.abs(finite - zmid), 99)) or 1.0
            kw = dict(zmin=zmid - r, zmax=zmid + r)
        else:
            kw = dict(zmin=float(np.percentile(finite, 1)), zmax=float(np.percentile(finite, 99)))
    trace = {"type": "heatmap", "z": z, "colorscale": [list(c) for c in _colorscale(
                 "RdBu_r" if zmid is not None else colorscale)],
             "colorbar": {"title": {"text": colorbar}, "thickness": 12}, **kw}
    if x is not None:
        trace["x"] = _np(x)
    if y is not None:
        trace["y"] = _np(y)
    if zmid is not None and not kw:
        trace["zmid"] = zmid
    layout = _base_layout(title, height)
    layout["xaxis"] = {"title": {"text": xaxis}}
    layout["yaxis"] = {"title": {"text": yaxis}}
    return _assemble([trace], layout)


def filterbank(fb, freqs, title: str = "", height: int = 300) -> go.Figure:
    """Every mel filter as a curve over frequency (seed 000 Fig. 6)."""
    fb = _np(fb)
    f = _np(freqs)
    fig = go.Figure()
    for m in range(fb.shape[0]):
        fig.add_trace(go.Scatter(x=f, y=fb[m], mode="lines", line=dict(width=1),
                                 hovertemplate=f"filter {m}: %{{y:.3g}} at %{{x:.0f}} Hz<extra></extra>",
                                 showlegend=False))
    fig.update_xaxes(title="frequency (Hz)")
    fig.update_yaxes(title="weight")
    return _layout(fig, title, height)


def attention_over_features(image, times_s, alpha, alpha_times_s, title: str = "",
                            yaxis: str = "mel band", height: int = 380,
                            label: str = "attention αₜ") -> go.Figure:
    """A feature image with the attention weights over time in a strip below it, on the same
    time axis (ACRNN's alpha_t; what each moment receives in a transformer), with the level
    of uniform attention as a dotted line."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.66, 0.34],
                        vertical_spacing=0.04)
    fig.add_trace(go.Heatmap(z=_np(image), x=_np(times_s), colorscale=HEATMAP, showscale=False,
                             hovertemplate="%{x:.2f} s, band %{y}: %{z:.2f}<extra></extra>"), row=1, col=1)
    a = _np(alpha).reshape(-1)
    fig.add_trace(go.Scatter(x=_np(alpha_times_s), y=a, mode="lines", name=label,
                             line=dict(color="#d62728", width=2), fill="tozeroy",
                             fillcolor="rgba(214,39,40,0.18)",
                             hovertemplate="%{x:.2f} s: %{y:.4f}<extra></extra>"), row=2, col=1)
    fig.add_hline(y=1.0 / max(len(a), 1), line=dict(color="#555", dash="dot", width=1), row=2, col=1)
    fig.update_yaxes(title_text=yaxis, row=1, col=1)
    fig.update_yaxes(title_text="weight", rangemode="tozero", tickformat=".2~g", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    return _layout(fig, title, height, showlegend=False)


def windows_plot(windows, frame_s: float, head: int, title: str = "", height: int = 340) -> go.Figure:
    """Deformable attention windows: for each query frame, the key span [L, R] of one head."""
    w = _np(windows)[head]  # (queries, 2)
    q = np.arange(w.shape[0]) * frame_s
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=q, y=w[:, 0] * frame_s, mode="lines", line=dict(width=0),
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=q, y=w[:, 1] * frame_s, mode="lines", line=dict(width=0),
                             fill="tonexty", fillcolor="rgba(31,119,180,0.35)", name="window [L, R]"))
    fig.add_trace(go.Scatter(x=q, y=q, mode="lines", line=dict(color="#444", dash="dot", width=1),
                             name="query position"))
    fig.update_xaxes(title="query time (s)")
    fig.update_yaxes(title="key time (s)")
    return _layout(fig, title, height, legend=dict(orientation="h", y=1.1, x=1, xanchor="right"))


def curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str = "",
           xaxis: str = "epoch", yaxis: str = "", height: int = 280) -> go.Figure:
    """Training curves: name → (x, y)."""
    fig = go.Figure()
    for name, (xs, ys) in series.items():
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers", name=name,
                                 marker=dict(size=5)))
    fig.update_xaxes(title=xaxis)
    fig.update_yaxes(title=yaxis)
    return _layout(fig, title, height, legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))


def counts_bar(counts: dict[str, int], title: str = "", color_by_emotion: bool = True,
               height: int = 280) -> go.Figure:
    keys = list(counts)
    fig = go.Figure(go.Bar(x=keys, y=[counts[k] for k in keys], text=[counts[k] for k in keys],
                           textposition="outside", cliponaxis=False,
                           marker_color=[color_of(k) for k in keys] if color_by_emotion else "#4c78a8"))
    return _layout(fig, title, height, showlegend=False)
