"""Explain: where each model attends in the current clip (ACRNN alpha_t, transformer maps,
SERCT's deformable windows)."""

import streamlit as st

from ser_core.inference import EXPLAIN_MAX_S
from ui import explain as X
from ui import figures
from ui.widgets import icon, installed_models, require_clip

st.title("Where the models listen")
st.caption("Attention weights captured while a model classifies the current clip: ACRNN's "
           "weight αₜ over time, the self-attention maps of the transformer models and the "
           "windows SERCT's deformable attention chose.")

svc = installed_models()
clip = require_clip()
if clip is None:
    st.stop()

CHART = {"displayModeBar": False}
name = st.selectbox("Model", svc.names(), key="x_model",
                    format_func=lambda n: f"{n} ({svc.get(n).arch})")
key = ("_explain", clip.id, name, id(svc))
expl = st.session_state.get("_explain_cache", {}).get(key)
if expl is None:
    with st.spinner(f"Running {name} with attention capture…"):
        expl = svc.explain(clip.audio, name)
    st.session_state["_explain_cache"] = {key: expl}

p = expl.prediction
if clip.audio.duration_s > EXPLAIN_MAX_S:
    st.caption(f"The clip is {clip.audio.duration_s:.0f} s long: attention is shown for its first "
               f"{EXPLAIN_MAX_S:.0f} s (every segment's maps are kept in memory).")
st.markdown(f"**{name}** says {icon(p.top)} **{p.top}** ({p.top_prob:.0%}) · "
            f"{len(p.segment_probs)} segment(s), {p.aggregation}-pooled")
n_seg = len(p.segment_probs)
seg = st.slider("Segment", 0, n_seg - 1, 0, key=f"x_seg_{name}") if n_seg > 1 else 0
start, length = X.segment_span(expl, seg)
seg_top = p.labels[max(range(len(p.labels)), key=lambda j: p.segment_probs[seg][j])]
st.caption(f"Segment {seg}: {start:.2f}–{start + length:.2f} s · this segment alone says "
           f"**{seg_top}**")

image, image_name = X.background(expl, seg)
img_times = X.frame_times(expl, seg, image.shape[-1])
shown = False

for probe, alpha in X.time_attention(expl).items():
    shown = True
    st.subheader("Attention over time")
    st.latex(r"\alpha_t = \frac{\exp(W h_t)}{\sum_{\tau}\exp(W h_\tau)},\qquad c = \sum_t \alpha_t h_t")
    a = alpha[seg]
    st.plotly_chart(figures.attention_over_features(image, img_times, a, X.frame_times(expl, seg, a.shape[-1]),
                                                    title=f"{probe}: αₜ over {image_name}"),
                    config=CHART, key=f"alpha_{probe}")
    peak = int(a.argmax())
    st.caption(f"The model leans most on {float(X.frame_times(expl, seg, a.shape[-1])[peak]):.2f} s "
               f"(α = {float(a[peak]):.3f}; uniform would be {1 / a.shape[-1]:.3f}).")

maps = X.key_attention(expl)
if maps:
    shown = True
    st.subheader("Self-attention maps")
    st.latex(r"A = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right)\quad"
             r"\text{row } q\text{: how much query frame } q \text{ takes from each key frame}")
    layers = {(f"{probe} [{i}]" if len(ts) > 1 else probe): t for probe, ts in maps.items()
              for i, t in enumerate(ts)}
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", list(layers), key=f"x_layer_{name}")
    t = layers[layer][seg]
    heads = t.shape[0]
    head = c2.selectbox("Head", ["mean of heads"] + list(range(heads)), key=f"x_head_{name}")
    m = t.mean(0) if head == "mean of heads" else t[int(head)]
    qt = X.frame_times(expl, seg, m.shape[0])
    kt = X.frame_times(expl, seg, m.shape[1])
    a, b = st.columns(2)
    a.plotly_chart(figures.heatmap(m, x=kt, y=qt, title="attention map", xaxis="key time (s)",
                                   yaxis="query time (s)", height=380), config=CHART, key="x_map")
    b.plotly_chart(figures.attention_over_features(image, img_times, m.mean(0), kt,
                                                   title="attention each moment receives",
                                                   yaxis=image_name.split(" (")[0],
                                                   label="mean over queries"),
                   config=CHART, key="x_received")

wins = X.windows(expl)
if wins:
    shown = True
    st.subheader("Deformable attention windows")
    st.markdown("In Deformable Speech Attention each query frame attends only to a window "
                "[L, R] of key frames whose position and size a small decision network predicts "
                "(seed 001 eqs. 7-8). Wide bands: the head gathers context; narrow bands hugging "
                "the diagonal: it looks locally.")
    layers = {(f"{probe} [{i}]" if len(ts) > 1 else probe): t for probe, ts in wins.items()
              for i, t in enumerate(ts)}
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer ", list(layers), key=f"x_wlayer_{name}")
    w = layers[layer][seg]
    head = c2.slider("Head ", 0, w.shape[0] - 1, 0, key=f"x_whead_{name}") if w.shape[0] > 1 else 0
    frame_s = length / w.shape[1]
    st.plotly_chart(figures.windows_plot(w.float().numpy() if hasattr(w, "numpy") else w, frame_s, head,
                                         title=f"head {head}: window of keys per query"),
                    config=CHART, key="x_windows")
    width = (w[..., 1] - w[..., 0] + 1).mean(-1) * frame_s
    st.caption("Mean window length per head: " +
               ", ".join(f"h{h} {float(s) * 1000:.0f} ms" for h, s in enumerate(width)))

if not shown:
    st.info(f"{svc.get(name).arch} has no attention layer: its decision is not a weighting "
            "over time that can be drawn. ACRNN, the parallel CNN + transformer and SERCT have "
            "one.", icon=":material/info:")
    st.plotly_chart(figures.heatmap(image, x=img_times, title=f"What it saw: {image_name}",
                                    yaxis="", height=280), config=CHART, key="x_input")
