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


def grid(names: Sequence[str], subtitles: Sequence[str], labels: Sequence[Sequence[str]],
         probs: Sequence[Sequence[float]]) -> str:
    """One card per model (name, subtitle, bars), as many columns as fit; one ``st.html``."""
    cards = [f'<div class="card"><div class="name">{html.escape(n)}</div>'
             f'<div class="sub">{html.escape(s)}</div>{bars(labs, ps)}</div>'
             for n, s, labs, ps in zip(names, subtitles, labels, probs)]
    return CSS + f'<div class="serg">{"".join(cards)}</div>'
