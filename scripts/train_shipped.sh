#!/usr/bin/env bash
# Train the seed models the lab is meant to ship (issue 8), speaker-independently, on the
# three corpora in ../shared/data: RAVDESS + Emo-DB + EMOVO pooled on the ekman7 label set,
# 5 folds grouped by speaker (1 validation speaker per fold), plus seed 003's model on
# RAVDESS with its 8 native classes (to compare with the seed's 71.33 %).
#
#   scripts/train_shipped.sh                    # all models, results under runs/shipped/
#   DEVICE=cuda scripts/train_shipped.sh        # on a GPU
#   MODELS="glam dual_dslstm" scripts/train_shipped.sh --max-utterances 40 --epochs 1 --fold-index 0
#
# Extra arguments go to every `python -m ser_core train` call (e.g. a small trial as above).
# Each run's folder holds results.json (per-fold and mean metrics), predictions and the
# best fold's checkpoint/ (what `python -m ser_core predict --checkpoint DIR` and the app read).
# Needs a GPU in practice: measured CPU throughput (bench-train) is 0.55-13 utterances/s per
# model on 2 cores, i.e. hours per model for 5 folds.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SER_DATA_ROOT:-../shared/data}
OUT=${OUT:-runs/shipped}
DEVICE=${DEVICE:-auto}
MODELS=${MODELS:-"acrnn glam glam_plus serct squirtlenet parallel_cnn_transformer dual_dslstm"}
POOL=(--corpus ravdess,emodb,emovo --root "$DATA/ravdess,$DATA/emodb,$DATA/emovo" --labels ekman7)

for model in $MODELS; do
  echo "== $model: RAVDESS+Emo-DB+EMOVO, ekman7, 5-fold speaker-independent"
  python -m ser_core train --model "$model" "${POOL[@]}" --protocol speaker-kfold --folds 5 \
      --device "$DEVICE" --out "$OUT/$model-pooled" "$@"
done
if [[ " $MODELS " == *" parallel_cnn_transformer "* ]]; then
  echo "== parallel_cnn_transformer: RAVDESS, 8 native classes, 5-fold speaker-independent"
  python -m ser_core train --model parallel_cnn_transformer --corpus ravdess --root "$DATA/ravdess" \
      --labels native --protocol speaker-kfold --folds 5 --device "$DEVICE" \
      --out "$OUT/parallel_cnn_transformer-ravdess8" "$@"
fi
echo "results: $OUT/*/results.json"
