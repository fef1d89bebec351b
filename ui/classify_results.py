"""Classify's result area: the consensus, the votes, every model's bars and the timeline.

It is a Streamlit fragment (``st.fragment``): a control inside it (the timeline's model
picker) reruns only this function with the prediction it was given, so neither the clip
picker, the decoding nor the models run again. The prediction itself is computed once per
clip, models and "my voice" reference (:func:`ui.state.predict_current`).
"""

from __future__ import annotations

import streamlit as st

from ser_core.inference import ClipPrediction
from ui import prob_html


@st.fragment
def results(pred: ClipPrediction, true_label: str | None = None) -> None:
    """Everything Classify shows about ``pred``; ``true_label``: the corpus' label, if any."""
    st.divider()
    if not pred.enough_speech:  # voice activity detection found (almost) no speech
        st.warning(pred.speech.sentence, icon=":material/voice_over_off:")
        return
    _headline(pred, true_label)
    _consensus_and_votes(pred)
    _every_model(pred)
    _timeline(pred)


def _headline(pred: ClipPrediction, true_label: str | None) -> None:
    cons = pred.consensus
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    c1.metric("Consensus", cons.top + (" (not sure)" if cons.uncertain else ""),
              f"{cons.top_prob:.0%} {'mean ' if cons.method == 'mean' else ''}probability",
              delta_color="off", delta_arrow="off")
    c2.metric("Models agreeing", f"{cons.votes[cons.top]} of {len(pred.models)}")
    c3.metric("Clip", f"{pred.duration_s:.1f} s")
    c4.metric("Time for all models", f"{pred.seconds * 1000:.0f} ms")
    if cons.uncertain:
        st.warning(f"**Not sure.** The models' combined confidence ({cons.top_prob:.0%} for "
                   f"{cons.top}) is below {cons.threshold:.0%}, the threshold chosen on speakers "
                   "none of the models heard (Compare → Calibration shows what it buys).",
                   icon=":material/help:")
    if true_label:
        st.caption(f"The corpus says this clip is **{true_label}**.")


def _consensus_and_votes(pred: ClipPrediction) -> None:
    cons = pred.consensus
    left, right = st.columns([3, 2], gap="large")
    with left.container(border=True):
        st.markdown("**Consensus** · " + (
            "weighted product of the models' calibrated probabilities (weights fitted on "
            "held-out speakers)" if cons.method == "stacked"
            else "mean of the models' probabilities over the union of their label sets"
            + (", sharpened by a temperature fitted on held-out speakers (the mean of models "
               "that disagree is under-confident)" if cons.mean_probs is not None else "")))
        st.html(prob_html.bars_block(cons.labels, cons.probs))
    with right.container(border=True):
        st.markdown("**Votes** · each model's top answer")
        st.html(prob_html.votes([m.name for m in pred.models], [m.top for m in pred.models],
                                [m.top_prob for m in pred.models], [1000 * m.seconds for m in pred.models]))


def _every_model(pred: ClipPrediction) -> None:
    st.subheader("Every model")
    st.caption("Each model's own probabilities; a clip longer than a model's segment is cut into "
               "segments whose posteriors are pooled (max for ACRNN, mean for the others).")
    st.html(prob_html.grid(  # HTML bars: Plotly's drawing was most of the browser's work here
        [m.name for m in pred.models],
        [f"{m.model} · {len(m.segment_probs)} × {m.segment_s or pred.duration_s:.1f} s, {m.aggregation}"
         for m in pred.models], [m.labels for m in pred.models], [m.probs for m in pred.models]))


def _timeline(pred: ClipPrediction) -> None:
    long_models = [m for m in pred.models if len(m.segment_probs) > 1]
    if not long_models:
        return
    st.subheader("Timeline")
    st.caption("Segment by segment, as each model saw the clip before pooling. "
               + (f"Silence before and after the speech is cut ({pred.speech.sentence.rstrip('.')}); "
                  "segments that are mostly silence are shown but do not vote. "
                  if pred.speech is not None else "")
               + "A last piece shorter than half a segment is not cut into a segment of its own.")
    pick = st.selectbox("Model", [m.name for m in long_models], key="timeline_model")
    m = next(x for x in long_models if x.name == pick)
    with st.container(key="timeline"):  # HTML, not Plotly: see prob_html.timeline
        st.html(prob_html.timeline(m.segment_starts_s, m.segment_s, m.labels, m.segment_probs,
                                   pred.duration_s, m.segment_votes))
