"""Calibration views: reliability diagrams, expected calibration error, the coverage curve and
the fitted consensus against the plain mean, from ``checkpoints/consensus.json``'s measured
block (``scripts/calibrate_shipped.py``)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ser_core.consensus import member_result

CHART = {"displayModeBar": False}


def reliability_figure(bins: dict, title: str) -> go.Figure:
    """Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration."""
    edges = bins["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    used = [i for i, n in enumerate(bins["counts"]) if n > 0]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[centres[i] for i in used], y=[bins["accuracy"][i] for i in used],
                         width=(edges[1] - edges[0]) * 0.9, name="accuracy", marker_color="#4c78a8",
                         customdata=[bins["counts"][i] for i in used],
                         hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} clips"))
    fig.add_trace(go.Scatter(x=[centres[i] for i in used], y=[bins["confidence"][i] for i in used],
                             mode="markers", name="mean confidence", marker_color="#e45756"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                             line=dict(dash="dot", color="#888")))
    fig.update_layout(title=f"{title} · ECE {100 * bins['ece']:.1f} %", height=300,
                      template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="confidence (top probability)", range=[0, 1]),
                      yaxis=dict(title="accuracy", range=[0, 1]), legend=dict(orientation="h"))
    return fig


def coverage_figure(curve: list[dict], threshold: float | None) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[c["threshold"] for c in curve], y=[c["coverage"] for c in curve],
                             name="coverage (share answered)", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=[c["threshold"] for c in curve], y=[c["accuracy"] for c in curve],
                             name="accuracy of answered clips", mode="lines+markers"))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dot", annotation_text=f"chosen {threshold:.2f}")
    fig.update_layout(title="Answer only above a confidence threshold, else \"not sure\"", height=300,
                      template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="threshold on the consensus' top probability"),
                      yaxis=dict(range=[0, 1]), legend=dict(orientation="h"))
    return fig


def calibration_tab(settings) -> None:
    """The Compare page's calibration tab."""
    m = (settings.measured if settings else None) or {}
    if not m:
        st.info("No calibration measured for these checkpoints (checkpoints/consensus.json, "
                "written by scripts/calibrate_shipped.py).")
        return
    st.markdown(f"Measured on speakers none of the members trained on: {m['protocol']} "
                f"({m['clips']} clips, {m['speakers']} speakers). Expected calibration error "
                "(ECE, 15 bins) is the gap between confidence and accuracy.")
    rows = []
    for name, r in m["per_model"].items():
        c = member_result(r)[0]
        rows.append({"model": name, "temperature": round(r["temperature"], 2),
                     "UA %": round(100 * c["after"]["ua"], 1),
                     "ECE before %": round(100 * c["before"]["ece"], 1) if "before" in c else None,
                     "ECE after %": round(100 * c["after"]["ece"], 1),
                     "top-class share %": round(100 * c["after"]["top_share_pred"])})
    for key, v in m["consensus"].items():
        rows.append({"model": f"consensus: {key.replace('_', ' ')}" + (f" ({v['model']})" if "model" in v else ""),
                     "temperature": None, "UA %": round(100 * v["ua"], 1), "ECE before %": None,
                     "ECE after %": round(100 * v["ece"], 1),
                     "top-class share %": round(100 * v["top_share_pred"])})
    st.dataframe(rows, hide_index=True, width="stretch")
    options = ["consensus (shown)", "consensus: plain mean, uncalibrated"] + list(m["per_model"])
    pick = st.selectbox("Reliability diagram of", options, key="cal_pick")
    bins = (m["reliability_consensus"] if pick == options[0] else
            m["reliability_mean_uncalibrated"] if pick == options[1] else
            member_result(m["per_model"][pick])[1])
    st.plotly_chart(reliability_figure(bins, pick), config=CHART, key="cal_rel")
    th = m["threshold_cross_fitted"]
    st.plotly_chart(coverage_figure(m["coverage_curve"], settings.threshold), config=CHART, key="cal_cov")
    st.caption(f"Chosen threshold {settings.threshold:.2f}. Chosen on one half of the speakers and "
               f"scored on the other: {100 * th['coverage']:.0f} % of clips answered, "
               f"{100 * th['accuracy_answered']:.1f} % of them right, against "
               f"{100 * th['accuracy_all']:.1f} % over all clips.")
