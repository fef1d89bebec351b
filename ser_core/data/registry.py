"""Registry of corpus loaders: ``load_corpus(name, root)`` and ``list_corpora()``.

Each corpus lives in its own module, ``ser_core/data/corpora/<name>.py``, that defines ``INFO``
(a :class:`CorpusInfo`, with the names it is also known by) and
``load(root, *, check_audio=True, **options) -> CorpusListing``. Adding a corpus is adding
such a file: the registry finds every module of that package (they import no torch, so
reading all of them is cheap).
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser_core.data.records import CorpusListing, check_unique_uids
from ser_core.errors import DatasetError



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
    aliases: tuple[str, ...] = ()       # other spellings accepted for ``name``


def default_data_root() -> Path | None:
    """``$SER_DATA_ROOT``, else ``../shared/data`` beside the repository when it exists."""
    env = os.environ.get("SER_DATA_ROOT")
    if env:
        return Path(env)
    guess = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return guess if guess.is_dir() else None


@functools.lru_cache(maxsize=1)
def _corpus_modules() -> dict[str, Any]:
    """Every module of :mod:`ser_core.data.corpora` by corpus name (the generic one last)."""
    from ser_core.data import corpora

    names = sorted(m.name for m in pkgutil.iter_modules(corpora.__path__))
    modules = [importlib.import_module(f"{corpora.__name__}.{n}") for n in names]
    return {m.INFO.name: m for m in sorted(modules, key=lambda m: (m.INFO.name == "generic",
                                                                   m.INFO.name))}


def list_corpora() -> list[str]:
    return list(_corpus_modules())


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    for corpus, module in _corpus_modules().items():
        if key == corpus or key in module.INFO.aliases:
            return corpus
    raise DatasetError(f"Unknown corpus {name!r}; known corpora: {', '.join(list_corpora())}.")


def _module(name: str):
    return _corpus_modules()[canonical_name(name)]


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
