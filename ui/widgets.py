"""Widgets several pages share: choosing the clip, showing it, the no-models notice."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ser_core.errors import SerError
from ser_core.sandbox import check_path
from ser_core.inference import canonical_label
from ui import figures
from ui.state import Clip, current_clip, make_clip, service, set_clip

AUDIO_TYPES = ["wav", "flac", "ogg", "oga", "opus", "mp3"]
# Material Symbols (bundled with Streamlit, so they render without any emoji font)
#: keyed by the labels' common names (:func:`ser_core.inference.canonical_label`)
ICONS = {"angry": "sentiment_extremely_dissatisfied", "disgust": "sick", "fear": "sentiment_stressed",
         "happy": "sentiment_very_satisfied", "neutral": "sentiment_neutral",
         "calm": "sentiment_calm", "sad": "sentiment_sad", "surprise": "sentiment_excited",
         "boredom": "sentiment_dissatisfied", "bored": "sentiment_dissatisfied"}


def icon(label: str) -> str:
    """A Markdown icon for an emotion (``:material/...:``), for text that renders Markdown."""
    return f":material/{ICONS.get(canonical_label(label).lower(), 'theater_comedy')}:"


_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|:~$&")


def md_escape(text: str) -> str:
    """``text`` shown literally by ``st.markdown`` (labels can come from folder names: no
    links, images, HTML or icons smuggled in)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in str(text))


def default_corpus_root() -> str:
    """``$SER_DATA_ROOT`` or ``../shared/data`` beside the repository, when present."""
    from ser_core.data.registry import default_data_root

    root = default_data_root()
    return str(root) if root else ""


def corpus_folder_input(key: str, label: str = "Corpus folder on this machine") -> str:
    """A folder text box; when it holds several corpora, a choice among them. Returns a path."""
    from ser_core.data import list_corpora
    from ui.corpora import subfolders

    root = st.text_input(label, value=default_corpus_root(), key=f"{key}_root",
                         placeholder="/path/to/ravdess",
                         help=f"Any folder of audio files. The corpora "
                              f"{', '.join(n for n in list_corpora() if n != 'generic')} in "
                              "their published layout, or one folder per emotion, are "
                              "recognised and show the true emotion.")
    if not root:
        return root
    try:
        check_path(root)
    except SerError as exc:
        st.error(str(exc), icon=":material/block:")
        return ""
    subs = subfolders(root)
    if subs:
        sub = st.radio("Corpus", subs, horizontal=True, key=f"{key}_sub")
        return str(Path(root) / sub)
    return root


def accept_clip(data: bytes, name: str, source: str, marker: str, label: str | None = None,
            note: str = "") -> None:
    """Decode a new input once (``marker`` identifies it across reruns) and make it current."""
    if st.session_state.get("_clip_marker") == marker:
        return
    st.session_state["_clip_marker"] = marker
    try:
        set_clip(make_clip(data, name, source, label, note))
        st.session_state.pop("_clip_error", None)
    except SerError as exc:
        st.session_state["_clip_error"] = str(exc)


def clip_picker(key: str = "pick") -> None:
    """Tabs to upload, record, pick from a corpus folder or use the demo clip.

    A new input becomes the session's current clip; unusable audio shows the audio layer's
    sentence with ``st.error`` (never a traceback).
    """
    up, rec, corpus, demo = st.tabs([":material/upload: Upload", ":material/mic: Record",
                                     ":material/folder_open: From a corpus",
                                     ":material/auto_awesome: Demo clip"])
    with up:
        _uploader(key)
    with rec:
        r = st.audio_input("Record with your microphone", key=f"{key}_mic", sample_rate=16000)
        if r is not None:
            accept_clip(r.getvalue(), "microphone.wav", "microphone", f"mic:{r.file_id}")
    with corpus:
        _corpus_tab(key)
    with demo:
        from ser_core.demo import DEMO_TEXT

        st.caption(f'A sentence spoken by espeak-ng ("{DEMO_TEXT}"), or a synthetic voiced tone '
                   "where espeak-ng is missing. It is not emotional speech: use it to see the "
                   "pipeline work.")
        if st.button("Use the demo clip", key=f"{key}_demo", icon=":material/auto_awesome:"):
            data, what = _demo_bytes()
            accept_clip(data, "demo.wav", "demo", f"demo:{len(data)}", note=what)
    if err := st.session_state.get("_clip_error"):
        st.error(err, icon=":material/error:")


def _upload_key(key: str) -> str:
    """The widget key of ``key``'s file uploader now: ``<key>_upload``, then ``<key>_upload_<n>``
    after the n-th accepted file (see :func:`_uploader`)."""
    n = st.session_state.get(f"_{key}_uploads", 0)
    return f"{key}_upload" + (f"_{n}" if n else "")


def _uploader(key: str) -> None:
    """A file uploader that is empty again once its file became the current clip.

    A file dropped on an uploader that still holds the previous one makes Streamlit's frontend
    remove the old file first, and that removal reruns the whole page before the new file's
    run: measured with ``scripts/measure_app.py``, a second script run and redraw on every
    drop. So the dropped file is read from the widget's state before the widget is drawn and,
    once accepted, the uploader is drawn under a new key, empty; the clip card shows the file.
    """
    f = st.session_state.get(_upload_key(key))
    if f is not None:
        accept_clip(f.getvalue(), f.name, "upload", f"upload:{f.file_id}")
        st.session_state[f"_{key}_uploads"] = st.session_state.get(f"_{key}_uploads", 0) + 1
    st.file_uploader("Drag and drop an audio file (WAV, FLAC, OGG, MP3)", type=AUDIO_TYPES,
                     key=_upload_key(key))


@st.cache_data(show_spinner=False)
def _demo_bytes() -> tuple[bytes, str]:
    from ser_core.demo import demo_wav_bytes

    return demo_wav_bytes()


@st.cache_data(show_spinner="Listing the folder…", ttl=300)
def list_corpus(root: str) -> tuple[list[tuple[str, str | None, str | None]], str]:
    """``([(path, emotion, speaker)], description)`` of the audio under ``root``.

    Uses the data layer's corpus detection when it recognises the folder (so emotions are
    known), else lists audio files with unknown labels.
    """
    from ui.corpora import list_clips

    return list_clips(root)


def _corpus_tab(key: str) -> None:
    root = corpus_folder_input(key)
    if not root:
        st.caption("Point at a folder of audio files.")
        return
    try:
        clips, what = list_corpus(root)
    except SerError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if not clips:
        st.warning(f"No audio files under {root}.")
        return
    st.caption(what)
    emotions = sorted({e for _, e, _ in clips if e})
    c1, c2 = st.columns([1, 2])
    emo = c1.selectbox("Emotion", ["any"] + emotions, key=f"{key}_emo") if emotions else "any"
    shown = [c for c in clips if emo == "any" or c[1] == emo]
    titles = _clip_titles(root, emo)  # formatted once per folder, not on every rerun
    idx = c2.selectbox("File", range(len(shown)), key=f"{key}_file", format_func=titles.__getitem__)
    if st.button("Use this clip", key=f"{key}_use", icon=":material/check:"):
        path, label, speaker = shown[idx]
        try:
            data = read_allowed(path)
        except SerError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        except OSError as exc:
            st.error(f"{path} could not be read: {exc.strerror}.")
            return
        accept_clip(data, Path(path).name, "corpus", f"corpus:{path}", label=label,
                note=f"speaker {speaker}" if speaker else "")


@st.cache_data(show_spinner=False, ttl=300, max_entries=32)
def _clip_titles(root: str, emotion: str) -> list[str]:
    clips, _ = list_corpus(root)
    return [_clip_title(root, c) for c in clips if emotion == "any" or c[1] == emotion]


def read_allowed(path: str) -> bytes:
    """The bytes of a file under the allowed roots (a symlink out of a root is refused)."""
    return check_path(path, what="file").read_bytes()


def _clip_title(root: str, c: tuple[str, str | None, str | None]) -> str:
    path, emo, spk = c
    try:
        rel = str(Path(path).relative_to(root))
    except ValueError:
        rel = path
    return f"{rel}  ·  {emo}" if emo else rel


def clip_card(clip: Clip, waveform: bool = True) -> None:
    """Playback and facts about the current clip."""
    a = clip.audio
    facts = [f"**{md_escape(a.name or 'clip')}**", f"{a.duration_s:.2f} s",
             f"{a.original_sample_rate} Hz", "stereo" if a.original_channels == 2 else
             ("mono" if a.original_channels == 1 else f"{a.original_channels} channels"), clip.source]
    if clip.label:
        facts.append(f"true emotion: {icon(clip.label)} **{md_escape(clip.label)}**")
    st.markdown(" · ".join(facts))
    if clip.note:
        st.caption(clip.note)
    st.audio(clip.data, format=clip.mime)
    if waveform:  # an SVG, not a Plotly figure: see figures.waveform_svg
        st.html(figures.waveform_svg(a.waveform, a.sample_rate))


def require_clip(picker_label: str = "Choose a clip") -> Clip | None:
    """The current clip with its card; when there is none, the picker (returns None)."""
    clip = current_clip()
    with st.expander(picker_label if clip is None else "Use another clip", expanded=clip is None):
        clip_picker(key="side")
    clip = current_clip()
    if clip is None:
        st.info("No clip yet: upload, record, pick one from a corpus or use the demo clip above. "
                "The clip you choose on any page is kept for the others.", icon=":material/mic:")
        return None
    clip_card(clip)
    return clip


def no_models_notice() -> None:
    from ser_core.inference import checkpoints_dir

    st.warning(
        f"No trained models are installed yet (nothing in `{checkpoints_dir()}`). "
        "Train one on the **Train** page (or `python -m ser_core train ...`); finished "
        "checkpoints appear here automatically.", icon=":material/model_training:")
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")


def failed_models_notice(failed: dict[str, str]) -> None:
    if failed:
        with st.expander(f":material/warning: {len(failed)} checkpoint(s) could not be loaded"):
            for path, why in failed.items():
                st.markdown(f"- `{path}`: {why}")


def installed_models(stop_if_none: bool = True):
    """The loaded models, after telling the user about broken or missing checkpoints.

    With no model installed it shows how to get one and, when ``stop_if_none``, ends the page.
    """
    svc = service()
    failed_models_notice(svc.failed)
    if not len(svc):
        no_models_notice()
        if stop_if_none:
            st.stop()
    return svc


def backend_picker(svc) -> None:
    """What runs the models (features are torch either way): torch eager or onnxruntime."""
    from ser_core.backends import BACKENDS, backend_label, switch_backend

    choice = st.segmented_control(
        "Inference backend", BACKENDS, default=None, key="backend_choice",
        help="auto: onnxruntime once a model's ONNX export is ready (made once, in the "
             "background, cached in .cache/onnx), else torch. Same answers within 1e-3. "
             "onnxruntime-int8: int8 graphs for the models whose stored int8 calibration says "
             "they are faster (about 2x for the convolutional ones); they keep the float32 "
             "answer on 95-97 % of test clips, not on all.")
    if choice and st.session_state.get("_backend_applied") != choice:
        with st.spinner(f"Switching to {choice}…"):
            refused = switch_backend(svc.models, choice, svc.threads)
        st.session_state["_backend_applied"] = choice
        for name, why in refused.items():
            st.warning(f"{name} stays on torch: {why}")
    kept = [f"{m.name}: {m.backend.note}" for m in svc.models if getattr(m.backend, "note", "")]
    if kept:  # only the int8 backend leaves notes
        from ser_core.onnx_int8 import rule

        st.caption(f"These run their float32 graph ({rule()}): " + "; ".join(kept) + ".")
    st.caption("Models run on: " + ", ".join(f"{m.name} · {backend_label(m)}" for m in svc.models))
