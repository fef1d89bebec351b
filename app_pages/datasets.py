"""Datasets: point at a corpus folder, see what it holds, listen to it."""

from pathlib import Path

import streamlit as st

from ser_core.data import corpus_info
from ser_core.errors import SerError
from ui import figures
from ui.corpora import guess_corpus
from ui.widgets import corpus_folder_input, icon, md_escape, read_allowed

st.title("Datasets")
st.caption("Point at a corpus folder in its authors' layout (or one folder per emotion). The lab "
           "reads the file names and label files, never uploads anything.")

root = corpus_folder_input("ds")
if not root:
    st.info("Type the folder of a corpus (RAVDESS, Emo-DB, EMOVO, ...).", icon=":material/folder:")
    st.stop()


@st.cache_data(show_spinner="Reading the corpus…", ttl=600)
def summarise(root: str):
    from ser_core.data import load_corpus

    found = guess_corpus(root)
    if found is None:
        return None
    name = found[0]
    listing = load_corpus(name, root, check_audio=True)  # with durations
    return name, listing.summary(), [u.to_dict() for u in listing.utterances]


try:
    result = summarise(root)
except SerError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if result is None:
    st.warning(f"No corpus recognised under {root}: expected a published layout (RAVDESS, Emo-DB, "
               "EMOVO, TESS, SAVEE, CREMA-D, ESD, AESDD, IEMOCAP, SEAC) or one folder per emotion.")
    st.stop()

name, summary, utterances = result
info = corpus_info(name)
st.subheader(f"{info.title}")
c = st.columns(4)
c[0].metric("Files", summary["files"])
c[1].metric("Speakers", summary["speakers"])
c[2].metric("Emotions", len(summary["by_emotion"]))
minutes = sum(u.get("duration_s") or 0 for u in utterances) / 60
c[3].metric("Minutes", f"{minutes:.1f}")
st.caption(f"Language: {info.language} · layout: `{info.layout}`" +
           (f" · license: {info.license}" if info.license else ""))
if info.citation:
    st.caption(f"Cite: {info.citation}")
for note in info.notes:
    st.caption(f"• {note}")

a, b = st.columns(2)
a.plotly_chart(figures.counts_bar(summary["by_emotion"], "Files per emotion"),
               config={"displayModeBar": False})
b.plotly_chart(figures.counts_bar(summary["by_speaker"], "Files per speaker", color_by_emotion=False),
               config={"displayModeBar": False})
if summary.get("skipped"):
    with st.expander(f"{len(summary['skipped'])} file(s) skipped"):
        st.dataframe(summary["skipped"], hide_index=True, width="stretch")

st.subheader("Listen")
c1, c2 = st.columns(2)
emo = c1.selectbox("Emotion", ["any"] + list(summary["by_emotion"]), key="ds_emo")
spk = c2.selectbox("Speaker", ["any"] + list(summary["by_speaker"]), key="ds_spk")
rows = [u for u in utterances if (emo == "any" or u["emotion"] == emo) and (spk == "any" or u["speaker"] == spk)]
table = [{"file": str(Path(u["path"]).relative_to(summary["root"])) if u["path"].startswith(summary["root"]) else u["path"],
          "emotion": u["emotion"], "speaker": u["speaker"],
          "gender": u.get("gender") or "", "seconds": round(u.get("duration_s") or 0, 2)} for u in rows]
event = st.dataframe(table, hide_index=True, width="stretch", height=280,
                     on_select="rerun", selection_mode="single-row", key="ds_table")
picked = event.selection.rows[0] if event and event.selection and event.selection.rows else (0 if rows else None)
if picked is not None and rows:
    u = rows[picked]
    try:
        data = read_allowed(u["path"])
    except (SerError, OSError) as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    st.markdown(f"**{md_escape(Path(u['path']).name)}** · {icon(u['emotion'])} {md_escape(u['emotion'])} · "
                f"speaker {md_escape(u['speaker'])}")
    from ui.state import mime_of

    st.audio(data, format=mime_of(u["path"]))
    if st.button("Use this clip on the other pages", icon=":material/arrow_forward:", key="ds_use"):
        from ui.widgets import accept_clip

        accept_clip(data, Path(u["path"]).name, "corpus", f"corpus:{u['path']}", label=u["emotion"],
                note=f"{name}, speaker {u['speaker']}")
        if err := st.session_state.get("_clip_error"):
            st.error(err)
        else:
            st.success("It is now the current clip: open Classify, Features or Explain.")
