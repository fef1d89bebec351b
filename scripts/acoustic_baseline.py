"""The acoustic_stats recipe on the split of the deep checkpoints of 2026-12-02 (RAVDESS +
Emo-DB + EMOVO, speaker-kfold k=5 seed 0, whose test speakers the README's 5-fold tables use):
the baseline row every deep model there is reported against.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/acoustic_baseline.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import json

    from ser_core.checkpoint import read_meta
    from ser_core.data import load_labeled, speaker_kfold
    from ser_core.training.acoustic_fit import out_of_fold, protocol_metrics
    from ser_core.training.functional_data import functionals_of

    names = ["ravdess", "emodb", "emovo"]
    data = load_labeled(names, [f"../shared/data/{n}" for n in names], "ekman7", check_audio=False)
    split = speaker_kfold(data.utterances, k=5, seed=0)
    print(f"{len(data.utterances)} utterances, split {', '.join(f.name for f in split.folds)} "
          "(speaker-kfold k=5 seed 0; no validation speaker is held out here)")
    recipe = read_meta("checkpoints/acoustic_stats").extra["recipe"]
    table = functionals_of(data.utterances, data.classes)
    m = protocol_metrics(table, *out_of_fold(table, "speaker-kfold", recipe["classifier"], recipe["C"],
                                                   balance=recipe.get("balance", "class")))
    print(f"acoustic_stats ({recipe['classifier']}, C={recipe['C']}, balance "
          f"{recipe.get('balance', 'class')}) 5-fold UA "
          f"{100 * m['ua']:.1f} ± {100 * m['ua_std']:.1f}, WA {100 * m['wa']:.1f}, top-class share "
          f"{100 * m['top_share_pred']:.0f} / {100 * m['top_share_true']:.0f}")
    print(json.dumps({c: round(100 * v["ua"], 1) for c, v in m["per_corpus"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
