"""Home: what the lab does, the pipeline, and the installed models with their measured UA."""

import streamlit as st

from ser_core.inference import describe_device
from ui import metrics as M
from ui.state import service
from ui.widgets import backend_picker, failed_models_notice, no_models_notice

PIPELINE = [  # (stage, title, detail)
    ("in", "your audio", "upload · microphone · corpus"),
    ("in", "decode and check", "mono · 16 kHz"),
    ("in", "segments", "2-3 s each"),
    ("feat", "z-score, pre-emphasis", "y[n] = x[n] − a·x[n−1]"),
    ("feat", "frames + window", "25 ms Hamming, 10 ms hop"),
    ("feat", "power spectrum", "|DFT|²"),
    ("feat", "mel filterbank, log", "40 triangular filters"),
    ("feat", "Δ, ΔΔ, MFCC, images", "or the raw waveform"),
    ("model", "normalise", "training statistics"),
    ("model", "six model families", "ACRNN · GLAM · SERCT · SquirtleNET · CNN+Transformer · DS-LSTM"),
    ("model", "pool the segments", "max (ACRNN) or mean"),
    ("out", "emotion", "probabilities + consensus"),
]
PIPELINE_CSS = """
<style>
.pipe {display:flex; flex-wrap:wrap; align-items:center; gap:6px 4px; margin:4px 0 8px 0}
.pipe .chip {border-radius:10px; padding:8px 12px; border:1px solid #c9d6e2; line-height:1.25;
             font-size:0.92rem; max-width:250px}
.pipe .chip small {color:#5b6b7a; font-size:0.78rem}
.pipe .in {background:#fff6db} .pipe .feat {background:#eef5fb} .pipe .model {background:#e9f5e3}
.pipe .out {background:#fde8dc; font-weight:600}
.pipe .arr {color:#8899aa; font-size:1.1rem; padding:0 2px}
</style>
"""

st.title(":material/theater_comedy: SER lab")
st.markdown(
    "#### Speech emotion recognition you can see inside\n"
    "Speak into the microphone or drop an audio file and see what the models of five "
    "research papers hear in it: **how** the speech features are made, step by step, "
    "**where** each model attends, and **how well** each one was measured to work on "
    "speakers it never heard. Train and fine-tune them yourself as background jobs.")
cols = st.columns(4)
links = [("app_pages/classify.py", "Classify a clip", ":material/graphic_eq:",
          "Upload, record or pick a clip; every model's answer."),
         ("app_pages/live.py", "Live microphone", ":material/mic:",
          "Rolling predictions about once a second."),
         ("app_pages/features.py", "Learn the features", ":material/school:",
          "Pre-emphasis to MFCC on your own voice."),
         ("app_pages/train.py", "Train a model", ":material/model_training:",
          "Cross-validation and fine-tuning jobs.")]
for col, (page, label, icon, text) in zip(cols, links):
    with col.container(border=True):
        st.page_link(page, label=f"**{label}**", icon=icon)
        st.caption(text)

st.subheader("The pipeline")
chips = '<span class="arr">→</span>'.join(
    f'<span class="chip {stage}"><b>{title}</b><br><small>{detail}</small></span>'
    for stage, title, detail in PIPELINE)
st.html(PIPELINE_CSS + f'<div class="pipe">{chips}</div>')
st.caption("Every box is a function of the `ser_core` package; the Features page shows the "
           "spectral steps on your audio, the Explain page what the models do with them.")

st.subheader("Installed models")
svc = service()
c1, c2, c3 = st.columns(3)
c1.metric("Models loaded", len(svc))
c2.metric("Device", "GPU" if svc.device.type == "cuda" else "CPU")
c3.metric("Label sets", len({tuple(m.labels) for m in svc.models}) if len(svc) else 0)
st.caption(f"Running on {describe_device(svc.device)}. Models load once per server and are "
           "shared by every page and every visitor.")
failed_models_notice(svc.failed)
if not len(svc):
    no_models_notice()
    st.stop()
backend_picker(svc)
rows = []
for m in svc.models:
    ua = M.headline_ua(m.meta)
    rows.append({"model": m.name, "architecture": m.arch, "labels": ", ".join(m.labels),
                 "label set": m.meta.label_set or "—",
                 "trained on": M.training_data(m.meta), "protocol": M.protocol_name(m.meta),
                 "UA %": "—" if ua is None else f"{100 * ua:.1f}",
                 "parameters": f"{sum(p.numel() for p in m.model.parameters()) / 1e6:.2f} M",
                 "input": f"{m.spec.feature}, {m.spec.segment_s or 'whole'} s, {m.spec.aggregation}"})
st.dataframe(rows, hide_index=True, width="stretch")
cites = sorted({c for m in svc.models for c in M.citations(m.meta)})
if cites:
    with st.expander("Training data and citations"):
        for c in cites:
            st.markdown(f"- {c}")
