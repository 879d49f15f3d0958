#!/usr/bin/env bash
# Model selection (docs/model_selection.md): train every candidate config for the same wall time.
#
#   training/select_model.sh [MINUTES] [CANDIDATE ...]     (default 20 minutes, all candidates)
#
# 1. renders the 128-pixel synthetic cache (runs/cache128, seeds 4,000,000+; resumable);
# 2. per candidate, measures its training throughput (images/s of the real loop) in a 40-step
#    probe and sets train.steps to what fits in MINUTES at that rate (the cosine schedule then
#    ends on time). Run the probes on a quiet machine: on a shared one, the budgets are equal
#    in quiet-machine minutes only if the probes were quiet (runs/select/NAME.steps records
#    them; write that file yourself to reuse a measured rate);
# 3. evaluates each on 600 held-out synthetic faces and the photos in $PHOTOS.
# Re-running resumes: finished candidates are skipped. Needs PRNET_ASSETS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MINUTES=${1:-20}
shift || true
CANDIDATES=("$@")
if [ ${#CANDIDATES[@]} -eq 0 ]; then
  CANDIDATES=(w16_out64 w8_out64 w24_out64 w16_out32)
fi
PHOTOS=${PHOTOS:-../shared/assets/photos}
SYNTHETIC='{"image_size": 128, "pitch_range": [-40, 40], "expression_scale": 1.25, "open_mouth_probability": 0.4, "glasses_probability": 0.35, "box_shift": 0.06, "box_scale_jitter": 0.08}'

$PY -m training.cli --make-cache runs/cache128 --count "${CACHE_COUNT:-60000}" --base-seed 4000000 \
    --map-size 64 --workers 2 --synthetic-config "$SYNTHETIC" --no-progress

for name in "${CANDIDATES[@]}"; do
  config=training/configs/selection/$name.json
  out=runs/select/$name
  if [ -f "$out/weights.safetensors" ]; then
    echo "$name: already trained"
  else
    if [ ! -f "runs/select/$name.steps" ]; then
      # probe: the throughput of the real training loop (loader worker included)
      rm -rf "runs/select/probe_$name"
      $PY -m training.cli "$config" --steps 40 --output-dir "runs/select/probe_$name" --no-export --no-progress
      $PY - "$MINUTES" "runs/select/probe_$name/log.csv" "$config" > "runs/select/$name.steps" <<'PYEOF'
import csv, json, sys
minutes, log, config = float(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(log)))[1:]          # skip the first window (start-up)
rate = sum(float(r["samples_per_s"]) for r in rows) / len(rows)
batch = json.load(open(config))["train"]["batch_size"]
print(int(minutes * 60 * rate / batch), "steps at", round(rate, 2), "images/s")
PYEOF
    fi
    steps=$(cut -d' ' -f1 "runs/select/$name.steps")
    echo "$name: $(cat "runs/select/$name.steps")"
    if [ -f "$out/checkpoint.pt" ]; then
      $PY -m training.cli "$config" --steps "$steps" --resume --no-progress
    else
      $PY -m training.cli "$config" --steps "$steps" --no-progress
    fi
  fi
  if [ ! -f "runs/select/eval_$name/synthetic/results.json" ]; then
    $PY -c 'import sys; from training.cli import eval_main; sys.exit(eval_main(sys.argv[1:]))' \
        "$out/weights.safetensors" --synthetic 600 --photos "$PHOTOS" --no-baseline \
        -o "runs/select/eval_$name" --no-progress
  fi
done
