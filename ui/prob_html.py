"""Probability bars as plain HTML (for ``st.html``): what Classify shows for every answer.

Why not Plotly here: dropping a clip on Classify redraws every answer, and in the browser
Plotly's drawing of the bar charts was the largest part of the page's main-thread work
(profiled with Chromium's sampling profiler over three drops: ~0.6 s of Plotly per drop on
the shared 2-core machine, plus the layout it triggers). A bar is a ``div`` whose width is
the probability: the browser lays out a few dozen of them in well under a millisecond, and
the server builds the string in microseconds.
"""

from __future__ import annotations

import html
from typing import Sequence

from ui.figures import color_of

CSS = """<style>
.serp {font-size:0.9rem; line-height:1.2}
.serp .row {display:grid; grid-template-columns:6.5em 1fr 3em; align-items:center; gap:6px; margin:3px 0}
.serp .lab {text-align:right; color:#31333f; overflow:hidden; text-overflow:ellipsis; white-space:nowrap}
.serp .track {background:#f0f2f6; border-radius:3px; height:0.95em}
.serp .bar {height:100%; border-radius:3px}
.serp .pct {color:#5b6b7a; font-variant-numeric:tabular-nums}
.serp .top .lab, .serp .top .pct {font-weight:600; color:#31333f}
.serg {display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:10px 18px}
.serg .card {border:1px solid #e6e9ef; border-radius:8px; padding:8px 10px}
.serg .name {font-weight:600} .serg .sub {color:#5b6b7a; font-size:0.78rem; margin-bottom:4px}
.serv {width:100%; border-collapse:collapse; font-size:0.82rem; table-layout:auto}
.serv th {text-align:left; font-weight:500; color:#5b6b7a; border-bottom:1px solid #e6e9ef; padding:3px 4px}
.serv td {border-bottom:1px solid #f0f2f6; padding:3px 4px; white-space:nowrap}
.serv td.model {overflow:hidden; text-overflow:ellipsis; max-width:9em}
.serv .dot {display:inline-block; width:0.7em; height:0.7em; border-radius:50%; margin-right:5px}
.serv .track {display:inline-block; vertical-align:middle; width:2.5em; height:0.7em; background:#f0f2f6;
  border-radius:3px; margin-right:5px} .serv .bar {height:100%; border-radius:3px}
.serv .num {text-align:right; font-variant-numeric:tabular-nums; color:#5b6b7a}
.serh {display:flex; flex-wrap:wrap; gap:4px; font-size:0.8rem}
.serh span {border-radius:4px; padding:1px 6px; color:#1f2330; white-space:nowrap; border-left:4px solid}
.sert {font-size:0.8rem; color:#5b6b7a}
.sert .plot {position:relative; height:190px; margin:16px 0 4px 3.2em; border-left:1px solid #d5dae2;
  border-bottom:1px solid #d5dae2}
.sert .seg {position:absolute; bottom:0; height:100%; display:flex; flex-direction:column-reverse}
.sert .seg.mute {opacity:0.35}
.sert .seg .top {position:absolute; top:-15px; left:50%; transform:translateX(-50%); white-space:nowrap;
  font-size:0.7rem; color:#31333f}
.sert .pad {position:absolute; top:0; bottom:0; background:rgba(136,136,136,0.35); pointer-events:none}
.sert .pad span {position:absolute; top:2px; left:4px; font-size:0.7rem; color:#31333f; white-space:nowrap}
.sert .ylab {position:absolute; left:-3.2em; width:2.9em; text-align:right; transform:translateY(50%)}
.sert .ticks {position:relative; height:1.2em; margin-left:3.2em}
.sert .ticks span {position:absolute; transform:translateX(-50%)}
.sert .xtitle {text-align:center; margin:2px 0 4px 3.2em}
.sert .legend {display:flex; flex-wrap:wrap; gap:4px 12px; justify-content:center}
.sert .legend i {display:inline-block; width:0.8em; height:0.8em; border-radius:2px; margin-right:4px;
  vertical-align:-1px}
</style>"""


def bars(labels: Sequence[str], probs: Sequence[float]) -> str:
    """Rows ``label | bar | percent``, most probable first, each emotion in its colour."""
    order = sorted(range(len(probs)), key=lambda i: -float(probs[i]))
    rows = []
    for rank, i in enumerate(order):
        p = max(0.0, min(1.0, float(probs[i])))
        lab = html.escape(str(labels[i]))
        rows.append(f'<div class="row{" top" if rank == 0 else ""}" title="{lab}: {p:.1%}">'
                    f'<span class="lab">{lab}</span><span class="track"><div class="bar" '
                    f'style="width:{100 * p:.1f}%;background:{color_of(str(labels[i]))}"></div>'
                    f'</span><span class="pct">{p:.0%}</span></div>')
    return f'<div class="serp">{"".join(rows)}</div>'


def bars_block(labels: Sequence[str], probs: Sequence[float]) -> str:
    """:func:`bars` with its style sheet, for one ``st.html`` call."""
    return CSS + bars(labels, probs)


def votes(names: Sequence[str], answers: Sequence[str], confidences: Sequence[float],
          millis: Sequence[float]) -> str:
    """Each model's top answer, its confidence (a bar) and its time, as one HTML table (a
    ``st.dataframe`` here was a canvas grid to mount on every drop, and too wide for its
    column)."""
    rows = "".join(
        f'<tr><td class="model" title="{html.escape(n)}">{html.escape(n)}</td>'
        f'<td><span class="dot" style="background:{color_of(str(a))}"></span>{html.escape(str(a))}</td>'
        f'<td><span class="track"><div class="bar" style="width:{100 * max(0.0, min(1.0, float(c))):.1f}%;'
        f'background:{color_of(str(a))}"></div></span>{float(c):.0%}</td>'
        f'<td class="num">{float(ms):.0f}</td></tr>'
        for n, a, c, ms in zip(names, answers, confidences, millis))
    return (CSS + '<table class="serv"><thead><tr><th>model</th><th>answer</th><th>confidence</th>'
            f'<th class="num" title="this model\'s time on this clip">ms</th></tr></thead><tbody>{rows}'
            '</tbody></table>')


def grid(names: Sequence[str], subtitles: Sequence[str], labels: Sequence[Sequence[str]],
         probs: Sequence[Sequence[float]]) -> str:
    """One card per model (name, subtitle, bars), as many columns as fit; one ``st.html``."""
    cards = [f'<div class="card"><div class="name">{html.escape(n)}</div>'
             f'<div class="sub">{html.escape(s)}</div>{bars(labs, ps)}</div>'
             for n, s, labs, ps in zip(names, subtitles, labels, probs)]
    return CSS + f'<div class="serg">{"".join(cards)}</div>'


def timeline(segment_starts_s: Sequence[float], segment_s: float | None, labels: Sequence[str],
             segment_probs: Sequence[Sequence[float]], duration_s: float,
             votes: Sequence[bool] | None = None) -> str:
    """Segment posteriors over time as stacked bars, one per segment (centred on it; as wide as
    the hop when segments overlap), with the segment's top label above it; segments that do
    not vote (mostly silence) are faded. Plain HTML for one ``st.html`` call, like the bars:
    as a Plotly figure it was the page's largest script work per drop (Chromium's profiler)."""
    starts = [float(t) for t in segment_starts_s]
    seg = float(segment_s or duration_s)
    hop = starts[1] - starts[0] if len(starts) > 1 else seg
    width = min(seg, hop)
    end = max(float(duration_s), starts[-1] + seg if starts else float(duration_s), 1e-6)

    def pct(t: float) -> float:
        return 100.0 * t / end

    cols = []
    for k, (t, probs) in enumerate(zip(starts, segment_probs)):
        centre = t + seg / 2
        top = max(range(len(probs)), key=lambda i: float(probs[i]))
        pieces = "".join(
            f'<div title="{html.escape(str(lab))}: {float(p):.0%} (segment {t:.1f}-{t + seg:.1f} s)" '
            f'style="height:{100 * max(0.0, min(1.0, float(p))):.2f}%;background:{color_of(str(lab))}"></div>'
            for lab, p in zip(labels, probs))
        mute = " mute" if votes is not None and k < len(votes) and not votes[k] else ""
        cols.append(f'<div class="seg{mute}" style="left:{pct(centre - 0.48 * width):.3f}%;'
                    f'width:{pct(0.96 * width):.3f}%">{pieces}'
                    f'<span class="top">{html.escape(str(labels[top]))}</span></div>')
    pad = (f'<div class="pad" style="left:{pct(duration_s):.3f}%;right:0"><span>zero padding</span></div>'
           if end > duration_s + 1e-3 else "")  # drawn over the bars: what of them is padding
    ylabels = "".join(f'<span class="ylab" style="bottom:{v}%">{v}%</span>' for v in (0, 50, 100))
    step = _tick_step(end)
    ticks = "".join(f'<span style="left:{pct(i * step):.3f}%">{i * step:g}</span>'
                    for i in range(int(end / step + 1e-9) + 1))
    legend = "".join(f'<span><i style="background:{color_of(str(lab))}"></i>{html.escape(str(lab))}</span>'
                     for lab in labels)
    return (CSS + f'<div class="sert"><div class="plot">{ylabels}{"".join(cols)}{pad}</div>'
            f'<div class="ticks">{ticks}</div>'
            f'<div class="xtitle">time (s) · {seg:g} s segments every {hop:g} s</div>'
            f'<div class="legend">{legend}</div></div>')


def _tick_step(end: float) -> float:
    """A round tick spacing that gives 4-10 ticks over ``end`` seconds."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if end / step <= 10:
            return float(step)
    return float(600 * max(1, round(end / 6000)))


def history(entries, last: int = 12) -> str:
    """The Live page's recent answers, oldest first: one chip per analysis, in the answer's
    colour, with its stream time and probability."""
    chips = "".join(f'<span style="border-color:{color_of(str(lab))};background:{color_of(str(lab))}2e" '
                    f'title="{t:.0f} s">'
                    f'{html.escape(str(lab))} {p:.0%}</span>' for t, lab, p in list(entries)[-last:])
    return CSS + f'<div class="serh">{chips}</div>'
