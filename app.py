"""SER lab: ``streamlit run app.py``. The entry point: page configuration and navigation
(every page, Home included, is a script in ``app_pages/``)."""

from __future__ import annotations

import streamlit as st

# The favicon is an emoji (drawn by the browser): a ``:material/...:`` page icon makes the
# browser fetch an SVG from fonts.gstatic.com on every page, and the lab stays on this machine.
st.set_page_config(page_title="SER lab", page_icon="🎭", layout="wide",
                   initial_sidebar_state="expanded")

PAGES = {
    "Lab": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/classify.py", title="Classify", icon=":material/graphic_eq:"),
        st.Page("app_pages/live.py", title="Live", icon=":material/mic:"),
    ],
    "Learn": [
        st.Page("app_pages/features.py", title="Features", icon=":material/school:"),
        st.Page("app_pages/explain.py", title="Explain", icon=":material/visibility:"),
    ],
    "Research": [
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    ],
}

page = st.navigation(PAGES)
current = st.sidebar.empty()
try:
    page.run()
finally:  # after the page (a clip dropped on it is the current clip now), even after st.stop()
    from ui.state import current_clip

    clip = current_clip()
    if clip is not None:
        current.caption(f":material/headphones: Current clip: **{clip.audio.name or 'clip'}** · "
                        f"{clip.audio.duration_s:.1f} s · {clip.source}")
