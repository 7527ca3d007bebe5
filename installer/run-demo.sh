#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the demo on bundled data:
# a project with the three generated sample datasets, a tiny Eve-2 MoE fine-tuned on NL->SQL
# for a few minutes, its SQL for held-out questions beside the references, and then the
# workbench opened on that project (when a display is available).
set -euo pipefail
cd "$(dirname "$0")/.."
bash installer/install-deps.sh
bash installer/build.sh
BUILD="${SWARM_BUILD_DIR:-build}"
SWARM="$BUILD/app/swarm"
OUT="${SWARM_DEMO_DIR:-demo-output}"
STEPS="${SWARM_DEMO_STEPS:-300}"
mkdir -p "$OUT"

echo "== a project with the bundled sample datasets (generated, deterministic)"
rm -rf "$OUT/demo.swarm" "$OUT/demo.swarm-wal" "$OUT/demo.swarm-shm" "$OUT/runs"
"$SWARM" project create "$OUT/demo.swarm"
"$SWARM" dataset samples --out "$OUT/samples"
"$SWARM" dataset import "$OUT/samples/nl2sql.jsonl" --project "$OUT/demo.swarm" --name nl2sql --max-len 256
"$SWARM" dataset import "$OUT/samples/support-routing.jsonl" --project "$OUT/demo.swarm" --name router --quiet > /dev/null
"$SWARM" dataset import "$OUT/samples/pii-masking.jsonl" --project "$OUT/demo.swarm" --name pii --quiet > /dev/null
"$SWARM" dataset list --project "$OUT/demo.swarm"
"$SWARM" dataset mask-preview nl2sql --project "$OUT/demo.swarm" --color never | head -20

echo
echo "== a tiny Eve-2 MoE (the 272M release's structure, 10M parameters), randomly initialised"
"$SWARM" model init --preset tiny --out "$OUT/tiny-base" --seed 1
"$SWARM" model info "$OUT/tiny-base"

echo
echo "== fine-tuning it on NL->SQL for $STEPS steps (Ctrl-C stops with a checkpoint; resume with"
echo "   swarm train --resume $OUT/runs/nl2sql-tiny)"
"$SWARM" train --project "$OUT/demo.swarm" --dataset nl2sql --base "$OUT/tiny-base" --out "$OUT/runs/nl2sql-tiny" \
  --preset quick-test --lr 3e-3 --global-batch 16 --micro-batch 16 --max-steps "$STEPS" --eval-every 50 || true

MODEL="$OUT/runs/nl2sql-tiny/final"
if [ ! -d "$MODEL" ]; then MODEL="$(ls -d "$OUT"/runs/nl2sql-tiny/checkpoints/step-* | tail -1)"; fi
echo
echo "== its SQL for held-out test questions (greedy, CPU engine), beside the reference"
"$SWARM" dataset export nl2sql --project "$OUT/demo.swarm" --split test > "$OUT/nl2sql-test.jsonl"
n=0
while IFS= read -r line && [ $n -lt 5 ]; do
  prompt="$(printf '%s' "$line" | sed -E 's/.*"prompt":"(([^"\\]|\\.)*)".*/\1/' | sed -e 's/\\n/\n/g' -e 's/\\"/"/g')"
  reference="$(printf '%s' "$line" | sed -E 's/.*"response":"(([^"\\]|\\.)*)".*/\1/' | sed -e 's/\\"/"/g')"
  echo "-- $(printf '%s' "$prompt" | tail -1)"
  echo "   reference: $reference"
  printf '   model:    '
  "$SWARM" generate "$MODEL" --prompt "$prompt" --max-tokens 48 2>/dev/null | head -1
  n=$((n + 1))
done < "$OUT/nl2sql-test.jsonl"

echo
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$BUILD/app/swarm-workbench" ]; then
  echo "== opening the workbench on $OUT/demo.swarm"
  exec "$BUILD/app/swarm-workbench" "$OUT/demo.swarm"
else
  echo "== no display: open the workbench later with"
  echo "   $BUILD/app/swarm-workbench $OUT/demo.swarm"
  if [ -x "$BUILD/app/swarm-workbench" ]; then
    QT_QPA_PLATFORM=offscreen "$BUILD/app/swarm-workbench" "$OUT/demo.swarm" --page train --screenshot "$OUT/train-page.png" \
      && echo "   (a picture of its Train page: $OUT/train-page.png)"
  fi
fi
