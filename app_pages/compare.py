"""Compare: every model on the same clip, and their measured results from checkpoint metadata."""

import plotly.graph_objects as go
import streamlit as st

from ser_core.inference import canonical_label, label_union, probs_by_label
from ui import figures
from ui.calibration import calibration_tab
from ui import metrics as M
from ui.state import predict_current
from ui.widgets import installed_models, require_clip

st.title("Compare models")
svc = installed_models()

CHART = {"displayModeBar": False}
names = st.multiselect("Models", svc.names(), default=svc.names(), key="cmp_models")
chosen = [svc.get(n) for n in names]
if not chosen:
    st.info("Choose at least one model.")
    st.stop()

tab_clip, tab_metrics, tab_cm, tab_cal = st.tabs([":material/headphones: On the current clip",
                                                  ":material/leaderboard: Measured results",
                                                  ":material/grid_on: Confusion matrices",
                                                  ":material/speed: Calibration"])

with tab_clip:
    clip = require_clip()
    if clip is not None:
        pred = predict_current(svc, clip)
        preds = [m for m in pred.models if m.name in names]
        labels = label_union(preds)  # "anger" and "angry" are one column
        matrix = [[probs_by_label(m).get(lab, 0.0) for lab in labels] for m in preds]
        st.plotly_chart(figures.model_matrix([m.name for m in preds], labels, matrix,
                                             title="Probability each model gives each emotion"),
                        config=CHART, key="cmp_matrix")
        st.dataframe([{"model": m.name, "architecture": m.model, "answer": m.top,
                       "confidence %": round(100 * m.top_prob, 1), "segments": len(m.segment_probs),
                       "pooling": m.aggregation, "time ms": round(1000 * m.seconds)} for m in preds],
                     hide_index=True, width="stretch")
        if pred.consensus is not None and pred.consensus.uncertain:
            st.warning(f"Not sure: the consensus' top answer ({pred.consensus.top}, "
                       f"{pred.consensus.top_prob:.0%}) is below the confidence threshold "
                       f"{pred.consensus.threshold:.0%} chosen on held-out speakers.")
        if clip.label:
            right = [m.name for m in preds if canonical_label(m.top) == canonical_label(clip.label)]
            st.caption(f"True emotion: **{clip.label}**. Models that agree: "
                       f"{', '.join(right) if right else 'none'}.")

with tab_metrics:
    from ser_core import loco

    left_out = loco.load_results()
    if left_out:
        st.markdown("**On a corpus the models never heard** (leave-one-corpus-out; what to "
                    "expect on your own voice). 95 % intervals from a bootstrap over speakers; "
                    "`python -m ser_core report --loco`. Which checkpoints each row measured is "
                    "in its first column.")
        st.dataframe([{"left-out corpus": f"{r['corpus']} ({r['utterances']} clips, {r['speakers']} speakers)"
                                          + (f"; {r['note']}" if r.get("note") else ""),
                       "model": name, "UA %": round(100 * s_["ua"], 1),
                       "95 % CI": f"{100 * s_['ua_ci95'][0]:.1f}-{100 * s_['ua_ci95'][1]:.1f}",
                       "macro-F1 %": round(100 * s_["macro_f1"], 1),
                       "chance %": round(100 * s_["chance_ua"], 1),
                       "top-class share pred / true %": f"{100 * s_['top_share_pred']:.0f} / "
                                                        f"{100 * s_['top_share_true']:.0f}",
                       "most predicted": s_["top_class_pred"]}
                      for r in left_out
                      for name, s_ in [("consensus", r["consensus"]), *sorted(r["models"].items())]],
                     hide_index=True, width="stretch")
    st.markdown("Numbers measured when each checkpoint was trained and evaluated (speaker-"
                "independent folds unless its protocol says otherwise), read from its metadata.")
    uas = [(m.name, M.headline_ua(m.meta), m.meta.metrics.get("std", {}).get("ua"))
           for m in chosen]
    have = [(n, u, s) for n, u, s in uas if u is not None]
    if have:
        fig = go.Figure(go.Bar(x=[n for n, _, _ in have], y=[100 * u for _, u, _ in have],
                               error_y=dict(type="data", array=[100 * (s or 0) for _, _, s in have]),
                               text=[f"{100 * u:.1f}" for _, u, _ in have], textposition="outside",
                               marker_color="#4c78a8", cliponaxis=False))
        fig.update_layout(title="Unweighted accuracy (UA %, mean ± std over folds)", height=320,
                          template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
                          yaxis=dict(range=[0, 105]))
        st.plotly_chart(fig, config=CHART, key="cmp_ua")
    rows = []
    for m in chosen:
        for r in M.metric_rows(m.meta):
            rows.append({"model": m.name, "trained on": M.training_data(m.meta),
                         "protocol": M.protocol_name(m.meta), **r})
    if rows:
        import pandas as pd

        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info("These checkpoints carry no measured metrics in their metadata.")

with tab_cm:
    found = [(m, M.confusion_matrices(m.meta)) for m in chosen]
    found = [(m, cms) for m, cms in found if cms]
    if not found:
        st.info("These checkpoints carry no confusion matrices in their metadata.")
    for i in range(0, len(found), 2):
        cols = st.columns(2)
        for col, (m, cms) in zip(cols, found[i:i + 2]):
            with col.container(border=True):
                title = st.selectbox(f"{m.name}", [t for t, _, _ in cms], key=f"cm_{m.name}")
                _, labels, mat = next(c for c in cms if c[0] == title)
                st.plotly_chart(figures.confusion(mat, labels, title=f"{m.name} · {title}"),
                                config=CHART, key=f"cmfig_{m.name}")

with tab_cal:
    calibration_tab(getattr(svc, "consensus_settings", None))
