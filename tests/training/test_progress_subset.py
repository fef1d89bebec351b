"""progress.jsonl schema, subset selection, run manifest helpers."""

from __future__ import annotations

import io
import json

from ser_core.data.records import Utterance
from ser_core.training.manifest import corpus_provenance, environment, source_md_citation
from ser_core.training.progress import Progress
from ser_core.training.protocols import subsample


def test_progress_lines(tmp_path):
    path = tmp_path / "progress.jsonl"
    term = io.StringIO()
    p = Progress(path, stream=term, min_interval_s=0.0)
    p.plan(folds=2, epochs=3)
    p.emit("run_start", model="glam", corpora=["emodb"], protocol="speaker-kfold", folds=2,
           epochs=3, device="cpu", world_size=1)
    p.step(0, 1, 5, 10, 1.25, 1e-3, t_epoch_start=0.0)
    p.epoch_finished(2.0)
    p.emit("epoch_end", fold=0, epoch=1, epochs=3, train_loss=1.2, val={"loss": float("nan")},
           best=True, lr=1e-3, epoch_s=2.0, eta_s=p.eta())
    p.line("done")
    p.close()
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert [l["event"] for l in lines] == ["run_start", "step", "epoch_end"]
    for l in lines:
        assert {"event", "time", "fraction"} <= set(l) and 0.0 <= l["fraction"] <= 1.0
    step = lines[1]
    assert {"fold", "epoch", "epochs", "step", "steps", "loss", "lr", "eta_s"} <= set(step)
    assert lines[2]["val"]["loss"] is None  # NaN is written as null
    assert lines[2]["eta_s"] == 2.0 * 5  # 6 epochs planned, 1 done
    assert lines[2]["fraction"] == round(1 / 6, 4)
    assert "done" in term.getvalue()


def test_inactive_progress_writes_nothing(tmp_path):
    p = Progress(tmp_path / "p.jsonl", active=False)
    p.emit("run_start")
    assert not (tmp_path / "p.jsonl").exists()


def _utts():
    out = []
    for corpus in ("a", "b"):
        for s in range(5):
            for i, emo in enumerate(["x", "y", "z"] * 3):
                out.append(Utterance(uid=f"{corpus}:{s}-{i}", path=f"/{corpus}/{s}/{i}.wav",
                                     corpus=corpus, speaker=str(s), emotion=emo, label=emo))
    return out


def test_subsample_is_deterministic_balanced_and_small():
    utts = _utts()
    a = subsample(utts, 2, 12, seed=0)
    assert a == subsample(utts, 2, 12, seed=0)
    assert len(a) == 12
    assert len({u.speaker_key for u in a}) == 4  # 2 speakers per corpus
    assert {u.label for u in a} == {"x", "y", "z"}
    assert subsample(utts, None, None, 0) is utts
    assert len(subsample(utts, 1, None, 0)) == 18


def test_provenance_and_environment(tmp_path):
    (tmp_path / "SOURCE.md").write_text(
        "# X\n\n## License and citation\nLicense: **CC BY 4.0** for all.\n> Doe J (2020) A corpus.\n"
        "> Journal 1.\n\n## Counts\n")
    cit = source_md_citation(tmp_path)
    assert cit["citation"] == "Doe J (2020) A corpus. Journal 1." and cit["license"] == "CC BY 4.0"
    prov = corpus_provenance("emodb", tmp_path, files=3)
    assert prov["files"] == 3 and "Burkhardt" in prov["citation"]
    env = environment()
    assert env["versions"]["torch"] and "commit" in env["git"]
