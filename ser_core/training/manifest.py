"""What a run used, written next to its results so that it can be re-run exactly.

:func:`environment` gives versions (Python, torch, torchaudio, NumPy, scikit-learn, ser_core,
CUDA/GPU), the git commit of the code (and whether the work tree had changes) and the host;
:func:`corpus_provenance` gives a corpus' name, root, file count, license and citation (from
the data layer's corpus info, and from a ``SOURCE.md`` at the corpus root when there is one,
as the shared corpora have).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def git_state(repo: Path = REPO) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, Any]:
    import numpy
    import sklearn
    import torch
    import torchaudio

    import ser_core

    v = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchaudio": torchaudio.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "ser_core": ser_core.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }
    if torch.cuda.is_available():
        v["gpu"] = torch.cuda.get_device_name(0)
    return v


def environment() -> dict[str, Any]:
    return {"versions": versions(), "git": git_state(), "host": platform.node(),
            "platform": platform.platform(), "pid": os.getpid(),
            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}


def source_md_citation(root: str | Path) -> dict[str, str]:
    """Citation and license lines from ``ROOT/SOURCE.md`` (blockquotes of its citation
    section; the bold license name), when the file exists."""
    path = Path(root) / "SOURCE.md"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    out: dict[str, str] = {}
    m = re.search(r"^##[^\n]*(?:citation|cite)[^\n]*\n(.*?)(?=^## |\Z)", text,
                  flags=re.IGNORECASE | re.MULTILINE | re.DOTALL)
    section = m.group(1) if m else text
    quotes = [line.lstrip("> ").strip() for line in section.splitlines()
              if line.startswith(">")]
    if quotes:
        out["citation"] = " ".join(q for q in quotes if q)
    lic = re.search(r"\*\*((?:CC|Creative)[^*]+|CC0[^*]*)\*\*", section)
    if lic:
        out["license"] = lic.group(1).strip()
    out["source_md"] = str(path)
    return out


def corpus_provenance(name: str, root: str | Path, files: int | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": name, "root": str(Path(root).expanduser().resolve())}
    if files is not None:
        info["files"] = files
    try:
        from ser_core.data.registry import corpus_info

        ci = corpus_info(name)
        info.update({"title": ci.title, "language": ci.language, "citation": ci.citation,
                     "license": ci.license})
    except Exception:  # data layer without that corpus: provenance from SOURCE.md only
        pass
    from_md = source_md_citation(root)
    if from_md.get("citation"):
        info["citation_source_md"] = from_md["citation"]
        if not info.get("citation"):
            info["citation"] = from_md["citation"]
    if from_md.get("license") and not info.get("license"):
        info["license"] = from_md["license"]
    return info


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (temp file + rename), NaN → null."""
    from ser_core.training.progress import _clean

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(_clean(obj), indent=2, default=str))
    os.replace(tmp, path)
    return path
