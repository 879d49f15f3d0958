#!/usr/bin/env bash
# Retrain the shipped default weights from scratch (README model card). Run from the
# repository root with PRNET_ASSETS set. Safe to re-run after an interruption: finished steps
# are skipped, a started training resumes.
#
# 1. training/select_model.sh: renders runs/cache128 (60,000 faces) and trains the three
#    selection candidates, 20 quiet-machine minutes each (docs/model_selection.md);
# 2. renders runs/cache128_ict (3,000 faces with ICT-FaceKit's closed eyes, winks, squints);
# 3. the long run from the winner (training/configs/default_model.json: 1,100 steps);
# 4. renders runs/cache128_b (40,000 fresh faces, seeds 6,000,000+) and trains on from 3's
#    export (training/configs/default_model_long.json: 4,000 steps);
# 5. copies its weights to engine/default_weights/.
# About 1 h 50 min for 1-2, 30 min for 3 and 4-5 h for 4 on a quiet 2-core machine
# (the machine of 2026-12-07 trained at 8-9 images/s, about half the speed of earlier ones).
set -euo pipefail
BIN="${PRNET_BIN:-.venv/bin}"
: "${PRNET_ASSETS:?set PRNET_ASSETS to the assets folder (e.g. ../shared/assets)}"
export OMP_WAIT_POLICY=PASSIVE
PY="$BIN/python" training/select_model.sh 20 w16_out64 w8_out64 w16_out32
"$BIN/prnet-train" --make-cache runs/cache128_ict --count 3000 --base-seed 5000000 --map-size 64 \
    --workers 2 --synthetic-config '{"image_size": 128, "pitch_range": [-40, 40], "expression_scale": 1.25, "open_mouth_probability": 0.4, "glasses_probability": 0.35, "box_shift": 0.06, "box_scale_jitter": 0.08, "ict_expression_probability": 1.0}'
SYNTHETIC='{"image_size": 128, "pitch_range": [-40, 40], "expression_scale": 1.25, "open_mouth_probability": 0.4, "glasses_probability": 0.35, "box_shift": 0.06, "box_scale_jitter": 0.08}'
"$BIN/prnet-train" --make-cache runs/cache128_b --count 40000 --base-seed 6000000 --map-size 64 \
    --workers 2 --synthetic-config "$SYNTHETIC"
# stages 3 and 4: each trains from the export of the one before (its init_weights)
for stage in default_model default_model_long; do
    if [[ -f runs/$stage/weights.safetensors ]]; then
        echo "== runs/$stage: already done"
    elif [[ -f runs/$stage/checkpoint.pt ]]; then
        "$BIN/prnet-train" training/configs/$stage.json --resume
    else
        "$BIN/prnet-train" training/configs/$stage.json
    fi
done
cp runs/default_model_long/weights.safetensors engine/default_weights/prnet_default.safetensors
echo "== new default weights: engine/default_weights/prnet_default.safetensors"
