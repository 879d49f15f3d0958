#!/usr/bin/env bash
# Retrain the shipped default weights from scratch: the three stages of the model card,
# about 3 h 35 min on 2 CPU cores. Run from the repository root with PRNET_ASSETS set.
# Safe to re-run after an interruption: a finished stage is skipped, a started one resumes.
set -euo pipefail
BIN="${PRNET_BIN:-.venv/bin}"
: "${PRNET_ASSETS:?set PRNET_ASSETS to the assets folder (e.g. ../shared/assets)}"

stage() {  # stage CONFIG OUTPUT_DIR
    if [[ -f "$2/weights.safetensors" ]]; then
        echo "== $1: already done ($2/weights.safetensors)"
    elif [[ -f "$2/checkpoint.pt" ]]; then
        "$BIN/prnet-train" "$1" --resume
    else
        "$BIN/prnet-train" "$1"
    fi
}

stage training/configs/shipped.json runs/shipped                  # 800 steps, fresh faces rendered on the fly
stage training/configs/shipped_stage2.json runs/shipped_stage2    # 500 steps from stage 1
"$BIN/prnet-train" --make-cache runs/cache_stage3 --count 12000 --base-seed 3000000 --workers 2
stage training/configs/shipped_stage3.json runs/shipped_stage3    # 4,000 steps on the cache
cp runs/shipped_stage3/weights.safetensors engine/default_weights/prnet_default.safetensors
echo "== new default weights: engine/default_weights/prnet_default.safetensors"
