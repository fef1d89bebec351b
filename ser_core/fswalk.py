"""Walk a folder tree following symlinked folders, each real folder once.

``os.walk(followlinks=True)`` alone loops forever on a link cycle and visits a folder linked
twice twice; ``Path.rglob`` does not follow symlinked folders at all before Python 3.13. Corpus
folders and ``checkpoints/`` are both often assembled from links, so both walks use this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator


def walk_once(root: str | Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``(folder, subfolders, files)`` like ``os.walk``, top-down, links followed, every real
    folder once, subfolders sorted (the same path wins when a folder is linked twice). Prune
    the walk by editing ``subfolders`` in place, as with ``os.walk``."""
    seen: set[str] = set()
    for here, subdirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            subdirs[:] = []
            continue
        seen.add(real)
        subdirs.sort()
        yield Path(here), subdirs, files
