#!/usr/bin/env bash
# Model selection (docs/model_selection.md): train every candidate config for the same wall time.
#
#   training/select_model.sh [MINUTES] [CANDIDATE ...]     (default 20 minutes, all candidates)
#
# 1. renders the 128-pixel synthetic cache (runs/cache128, seeds 4,000,000+; resumable);
# 2. per candidate, measures its training throughput in a 40-step probe, in samples per CPU
#    second of the trainer and its data worker, and sets train.steps to what fits in MINUTES of
#    both cores (2 x MINUTES CPU-minutes; the cosine schedule then ends on budget). CPU time,
#    not wall time, makes the budgets equal when other work shares the machine; on a quiet
#    2-core machine the two are the same;
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

$PY -m training.cli --make-cache runs/cache128 --count "${CACHE_COUNT:-80000}" --base-seed 4000000 \
    --map-size 64 --workers 2 --synthetic-config "$SYNTHETIC" --no-progress

for name in "${CANDIDATES[@]}"; do
  config=training/configs/selection/$name.json
  out=runs/select/$name
  if [ -f "$out/weights.safetensors" ]; then
    echo "$name: already trained"
  else
    if [ ! -f "$out/checkpoint.pt" ]; then
      rm -rf "runs/select/probe_$name"
      $PY -m training.cli "$config" --steps 40 --output-dir "runs/select/probe_$name" --no-export --no-progress
      steps=$($PY - "$MINUTES" "runs/select/probe_$name/log.csv" "$config" <<'PYEOF'
import csv, json, sys
minutes, log, config = float(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [r for r in csv.DictReader(open(log))]
first, last = rows[1], rows[-1]          # skip the first window (start-up)
batch = json.load(open(config))["train"]["batch_size"]
steps_per_cpu_s = (int(last["step"]) - int(first["step"])) / (float(last["cpu_s"]) - float(first["cpu_s"]))
print(int(2 * minutes * 60 * steps_per_cpu_s))
PYEOF
)
      echo "$name: $steps steps in 2 x $MINUTES CPU-minutes" | tee "runs/select/$name.steps"
      $PY -m training.cli "$config" --steps "$steps" --no-progress
    else
      $PY -m training.cli "$config" --steps "$(grep -o '[0-9]* steps' "runs/select/$name.steps" | cut -d' ' -f1)" --resume --no-progress
    fi
  fi
  if [ ! -f "runs/select/eval_$name/synthetic/results.json" ]; then
    $PY -c 'import sys; from training.cli import eval_main; sys.exit(eval_main(sys.argv[1:]))' \
        "$out/weights.safetensors" --synthetic 600 --photos "$PHOTOS" --no-baseline \
        -o "runs/select/eval_$name" --no-progress
  fi
done
