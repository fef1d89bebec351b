"""Registry of corpus loaders: ``load_corpus(name, root)`` and ``list_corpora()``.

Each corpus lives in its own module (``ser_core/data/<name>.py``) that defines ``INFO``
(a :class:`CorpusInfo`) and ``load(root, *, check_audio=True, **options) -> CorpusListing``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser_core.data.records import CorpusListing, check_unique_uids
from ser_core.errors import DatasetError

#: Registered corpus names -> module (imported on first use).
CORPUS_MODULES = {
    "ravdess": "ser_core.data.ravdess",
    "emodb": "ser_core.data.emodb",
    "emovo": "ser_core.data.emovo",
    "iemocap": "ser_core.data.iemocap",
    "tess": "ser_core.data.tess",
    "cremad": "ser_core.data.cremad",
    "savee": "ser_core.data.savee",
    "esd": "ser_core.data.esd",
    "aesdd": "ser_core.data.aesdd",
    "seac": "ser_core.data.seac",
    "generic": "ser_core.data.generic",
}

ALIASES = {"emo-db": "emodb", "crema-d": "cremad", "crema": "cremad", "emo_db": "emodb"}


@dataclass(frozen=True)
class CorpusInfo:
    """What a corpus is: its native labels, layout, language, citation."""

    name: str
    title: str
    language: str
    native_labels: tuple[str, ...]
    layout: str
    citation: str = ""
    license: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def default_data_root() -> Path | None:
    """``$SER_DATA_ROOT``, else ``../shared/data`` beside the repository when it exists."""
    env = os.environ.get("SER_DATA_ROOT")
    if env:
        return Path(env)
    guess = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return guess if guess.is_dir() else None


def list_corpora() -> list[str]:
    return list(CORPUS_MODULES)


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in CORPUS_MODULES:
        raise DatasetError(f"Unknown corpus {name!r}; known corpora: {', '.join(CORPUS_MODULES)}.")
    return key


def _module(name: str):
    return importlib.import_module(CORPUS_MODULES[canonical_name(name)])


def corpus_info(name: str) -> CorpusInfo:
    return _module(name).INFO


def load_corpus(name: str, root: str | Path, *, check_audio: bool = True, **options: Any) -> CorpusListing:
    """List every utterance of corpus ``name`` under ``root`` (its authors' layout).

    ``check_audio`` reads each file's header (duration; unreadable files are reported in
    ``listing.skipped``). Raises :class:`DatasetError` when ``root`` is not a folder (or,
    for the generic corpus, a CSV file).
    """
    name = canonical_name(name)
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"The {name} folder {root} does not exist.")
    if not root.is_dir() and not (name == "generic" and root.suffix.lower() == ".csv"):
        raise DatasetError(f"{root} is not a folder; give the root folder of the {name} corpus.")
    listing = _module(name).load(root.resolve(), check_audio=check_audio, **options)
    check_unique_uids(listing)
    listing.utterances.sort(key=lambda u: u.uid)
    return listing
