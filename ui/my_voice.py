""""My voice" panel: a speaker's neutral reference speech, kept in the session.

Models that support it (``acoustic_stats``, and the deep models whose checkpoint stores its
training speakers' neutral input means) then classify relative to that voice
(:mod:`ser_core.reference`); ``serct_small`` (raw waveform) is unchanged.
"""

from __future__ import annotations

import io

import streamlit as st

from ser_core.audio import load_audio
from ser_core.errors import SerError
from ser_core.reference import SpeakerReference

KEY = "my_voice"
ON = "my_voice_on"


def active_reference() -> SpeakerReference | None:
    """The session's reference when the user switched it on."""
    ref = st.session_state.get(KEY)
    return ref if ref is not None and st.session_state.get(ON, True) else None


def _decode(data: bytes, name: str):
    named = io.BytesIO(data)
    named.name = name
    return load_audio(named, target_sr=16_000)


def my_voice_panel(key: str = "mv") -> None:
    with st.expander(":material/record_voice_over: My voice", expanded=st.session_state.get(KEY) is not None):
        st.caption("Record or upload 10-30 s of yourself speaking calmly (neutral, no emotion). "
                   "The models then judge your clips relative to your own voice: the "
                   "acoustic-statistics model with its speaker-referenced head, and the deep "
                   "models that store their training speakers' neutral voices by moving yours "
                   "onto those (all but serct_small, and glam and squirtlenet_small, which "
                   "remove each clip's own mean anyway). On a corpus the deep models had never "
                   "heard this raised their consensus from 30 to 42 % UA; on unseen speakers of "
                   "corpora they had heard it cost 2 points (see the README). Kept for this "
                   "session only.")
        rec = st.audio_input("Record neutral speech", key=f"{key}_rec", sample_rate=16000)
        files = st.file_uploader("or upload neutral clips", type=["wav", "flac", "ogg", "mp3"],
                                 accept_multiple_files=True, key=f"{key}_files")
        raw = ([("my_voice.wav", rec.getvalue())] if rec is not None else []) + \
              [(f.name, f.getvalue()) for f in files or []]
        if raw:
            token = tuple((n, len(d)) for n, d in raw)
            if st.session_state.get(f"{KEY}_token") != token:
                try:
                    st.session_state[KEY] = SpeakerReference.from_audio([_decode(d, n) for n, d in raw])
                    st.session_state[f"{KEY}_token"] = token
                except SerError as exc:
                    st.error(str(exc))
        ref = st.session_state.get(KEY)
        if ref is not None:
            st.toggle(f"Use my voice ({ref.duration_s:.0f} s of reference)", value=True, key=ON)
            if st.button("Forget my voice", key=f"{key}_forget"):
                for k in (KEY, f"{KEY}_token"):
                    st.session_state.pop(k, None)
                st.rerun()
