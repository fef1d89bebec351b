"""Session state shared by the pages and the cached services.

The *current clip* is recorded or uploaded once (Classify, Datasets, the demo button) and
then used by Features, Explain and Compare. Models load once per server process
(``st.cache_resource``) and reload when a checkpoint appears, disappears or is rewritten.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ser_core.audio import Audio, load_audio
from ser_core.inference import (ClipPrediction, InferenceService, checkpoints_dir,
                                installed_fingerprint, interactive_threads)

CLIP_KEY = "current_clip"


@dataclass(frozen=True)
class Clip:
    """The audio every page works on."""

    audio: Audio          # decoded, mono, 16 kHz
    data: bytes           # the original file, for playback
    mime: str
    source: str           # "upload", "microphone", "corpus", "demo", "live"
    label: str | None = None   # the true emotion when it came from a corpus
    note: str = ""

    @property
    def id(self) -> str:
        return hashlib.sha1(self.data).hexdigest()[:16]


def mime_of(name: str) -> str:
    ext = Path(name).suffix.lower().lstrip(".")
    return {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "oga": "audio/ogg",
            "opus": "audio/ogg", "mp3": "audio/mpeg"}.get(ext, "audio/wav")


def make_clip(data: bytes, name: str, source: str, label: str | None = None, note: str = "") -> Clip:
    """Decode and validate (raises :class:`~ser_core.errors.AudioError` with a sentence)."""
    named = io.BytesIO(data)
    named.name = name  # the clip's name, also in any error sentence
    audio = load_audio(named, target_sr=16_000)
    return Clip(audio=audio, data=bytes(data), mime=mime_of(name), source=source, label=label, note=note)


def current_clip() -> Clip | None:
    return st.session_state.get(CLIP_KEY)


def set_clip(clip: Clip) -> None:
    st.session_state[CLIP_KEY] = clip


# -- models ---------------------------------------------------------------------------------

def _job_checkpoints() -> list[tuple[str, str]]:
    """Best checkpoints of finished training jobs: (directory, display name)."""
    try:
        from ser_core.jobs import api as jobs
        found = jobs.list_finished_checkpoints()
    except Exception:  # no runs folder yet, or the jobs layer is unavailable
        return []
    return [(c["checkpoint"], f"job {c['job_id']} · {c.get('model') or Path(c['checkpoint']).name}")
            for c in found if c.get("best", True)]


@st.cache_resource(show_spinner="Loading the installed models…", max_entries=1)
def _load_service(root: str, fingerprint: tuple, jobs: tuple) -> InferenceService:
    del fingerprint  # part of the cache key only
    from ser_core.backends import default_backend, export_in_background

    # the browser that shows the app usually shares these cores: see interactive_threads
    backend = default_backend()
    svc = InferenceService.from_paths(None, extra=jobs, threads=interactive_threads(), backend=backend)
    if backend == "auto":  # models not exported yet move to onnxruntime when their export is ready
        export_in_background(svc.models, svc.threads)
    return svc


def models_fingerprint() -> tuple[str, tuple, tuple]:
    jobs = tuple(_job_checkpoints())
    return str(checkpoints_dir()), installed_fingerprint(), jobs


def service() -> InferenceService:
    """Every installed checkpoint plus finished job checkpoints, loaded once."""
    return _load_service(*models_fingerprint())


def predict_current(svc: InferenceService, clip: Clip) -> ClipPrediction:
    """The prediction for ``clip``, computed once per clip and set of models per session."""
    from ui.my_voice import active_reference

    reference = active_reference()
    key = (clip.id, tuple(svc.names()), id(svc), id(reference))
    cached = st.session_state.get("_prediction")
    if cached and cached[0] == key:
        return cached[1]
    with st.spinner(f"Running {len(svc)} model(s)…"):
        pred = svc.predict(clip.audio, reference=reference)
    st.session_state["_prediction"] = (key, pred)
    return pred
