"""Classify: a clip in (upload, microphone, corpus, demo), every model's answer out."""

import streamlit as st

from ui.classify_results import results
from ui.my_voice import my_voice_panel
from ui.state import current_clip, predict_current
from ui.widgets import clip_card, clip_picker, installed_models

st.title("Classify a clip")
st.caption("Drop a file, record yourself, or pick a clip from a corpus folder. Every installed "
           "model answers; long clips are cut into the segments each model was trained on.")

left, right = st.columns([5, 6], gap="large")
with left:
    clip_picker(key="classify")
    my_voice_panel(key="classify_mv")
clip = current_clip()
with right:
    if clip is None:
        st.info("No clip yet. Recorded or uploaded clips are kept for the Features, Explain and "
                "Compare pages.", icon=":material/mic:")
    else:
        clip_card(clip)

svc = installed_models()
if clip is None:
    st.stop()

# computed once per clip, models and reference; the result area reruns on its own
results(predict_current(svc, clip), clip.label)
