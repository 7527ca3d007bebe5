#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the demo on bundled data:
# a project with the generated sample datasets, a tiny Eve-2 MoE fine-tuned on NL->SQL for about
# eight minutes, its execution accuracy on held-out questions before and after (with its SQL beside
# the references), then a swarm (a tiny router and two more tiny specialists, trained briefly)
# evaluated end to end, and the workbench opened on that project (when a display is available).
set -euo pipefail
cd "$(dirname "$0")/.."
bash installer/install-deps.sh
bash installer/build.sh
BUILD="${SWARM_BUILD_DIR:-build}"
SWARM="$BUILD/app/swarm"
OUT="${SWARM_DEMO_DIR:-demo-output}"
STEPS="${SWARM_DEMO_STEPS:-1000}"
LR="${SWARM_DEMO_LR:-3e-3}"          # the best measured within the demo's budget (README, "The demo specialist")
EVAL_LIMIT=200                         # held-out questions scored before and after
SWARM_STEPS="${SWARM_DEMO_SWARM_STEPS:-120}"   # each of the router, intent and PII specialists
mkdir -p "$OUT"

echo "== a project with the bundled sample datasets (generated, deterministic)"
rm -rf "$OUT/demo.swarm" "$OUT/demo.swarm-wal" "$OUT/demo.swarm-shm" "$OUT/runs" "$OUT/swarm.json"
"$SWARM" project create "$OUT/demo.swarm"
"$SWARM" dataset samples --out "$OUT/samples"
"$SWARM" dataset import "$OUT/samples/nl2sql.jsonl" --project "$OUT/demo.swarm" --name nl2sql --max-len 256
"$SWARM" dataset import "$OUT/samples/support-routing.jsonl" --project "$OUT/demo.swarm" --name intent --quiet > /dev/null
"$SWARM" dataset import "$OUT/samples/pii-masking.jsonl" --project "$OUT/demo.swarm" --name pii --quiet > /dev/null
"$SWARM" dataset list --project "$OUT/demo.swarm"
"$SWARM" dataset mask-preview nl2sql --project "$OUT/demo.swarm" --color never | head -20

echo
echo "== a tiny Eve-2 MoE (the 272M release's structure, 10M parameters), randomly initialised"
"$SWARM" model init --preset tiny --out "$OUT/tiny-base" --seed 1
"$SWARM" model info "$OUT/tiny-base"

echo
echo "== before training: its SQL execution accuracy on $EVAL_LIMIT held-out test questions (greedy, CPU engine)"
"$SWARM" eval "$OUT/tiny-base" --project "$OUT/demo.swarm" --dataset nl2sql --split test --limit "$EVAL_LIMIT" \
  --max-tokens 64 2>/dev/null | grep -E "sql_exec|sql_syntax|^run"

echo
echo "== fine-tuning it on NL->SQL for $STEPS steps (Ctrl-C stops with a checkpoint; resume with"
echo "   swarm train --resume $OUT/runs/nl2sql-tiny)"
"$SWARM" train --project "$OUT/demo.swarm" --dataset nl2sql --base "$OUT/tiny-base" --out "$OUT/runs/nl2sql-tiny" \
  --preset quick-test --epochs 2 --lr "$LR" --global-batch 16 --micro-batch 16 --max-steps "$STEPS" --eval-every 100 || true

# A run's final model, or its last checkpoint when it was stopped early.
run_model() {
  if [ -d "$OUT/runs/$1/final" ]; then echo "runs/$1/final"
  else (cd "$OUT" && ls -d "runs/$1"/checkpoints/step-* | tail -1); fi
}
MODEL="$OUT/$(run_model nl2sql-tiny)"
echo
echo "== after training: before and after on the same $EVAL_LIMIT held-out questions (sql_exec: the query's"
echo "   result equals the reference's in SQLite), with its SQL beside the references"
"$SWARM" compare "$OUT/tiny-base" "$MODEL" --project "$OUT/demo.swarm" --dataset nl2sql --split test \
  --limit "$EVAL_LIMIT" --max-tokens 64 --report "$OUT/nl2sql-before-after.md" 2>/dev/null \
  | sed -n '/^| metric/,/^$/p;/^## Examples/,$p' | cut -c1-220 | head -24 || true
echo "   (the whole report: $OUT/nl2sql-before-after.md)"

echo
echo "== a swarm: a tiny router trained for $SWARM_STEPS steps to name each request's task (sql, intent,"
echo "   pii), and tiny intent and PII specialists trained as briefly (the SQL one is the model above)"
# The router learns each request's task from the train splits of the three datasets; the swarm is
# evaluated on their test splits, which no model here has seen.
"$SWARM" swarm mix --project "$OUT/demo.swarm" --tasks sql=nl2sql,intent=intent,pii=pii --split train \
  --per-task 2000 --out "$OUT/swarm-router-train.jsonl"
"$SWARM" swarm mix --project "$OUT/demo.swarm" --tasks sql=nl2sql,intent=intent,pii=pii --split test \
  --per-task 20 --out "$OUT/swarm-eval.jsonl"
"$SWARM" dataset import "$OUT/swarm-router-train.jsonl" --project "$OUT/demo.swarm" --name swarm-router \
  --prompt-template '{input}' --response-field task --max-len 96 --overlong truncate --quiet > /dev/null
for job in "swarm-router router-tiny" "intent intent-tiny" "pii pii-tiny"; do
  set -- $job
  echo "-- training $2 on $1"
  "$SWARM" train --project "$OUT/demo.swarm" --dataset "$1" --base "$OUT/tiny-base" --out "$OUT/runs/$2" \
    --preset quick-test --lr 3e-3 --global-batch 16 --micro-batch 16 --max-steps "$SWARM_STEPS" --eval-every 60 || true
done
cat > "$OUT/swarm.json" <<JSON
{
  "name": "demo",
  "router": {"model": "$(run_model router-tiny)"},
  "specialists": {
    "sql": {"model": "$(run_model nl2sql-tiny)", "max_tokens": 64},
    "intent": {"model": "$(run_model intent-tiny)", "max_tokens": 8},
    "pii": {"model": "$(run_model pii-tiny)", "max_tokens": 96}
  },
  "memory_budget_mb": 512
}
JSON
"$SWARM" swarm save "$OUT/swarm.json" --project "$OUT/demo.swarm"
echo
echo "== the swarm on 60 held-out mixed requests: routing accuracy, and each task routed vs direct"
"$SWARM" swarm eval "$OUT/swarm.json" --data "$OUT/swarm-eval.jsonl" --preset intent=router --report "$OUT/swarm-eval.md" || true
echo
echo "== one request through the swarm (serve it over HTTP with: $SWARM serve $OUT/swarm.json)"
"$SWARM" swarm run "$OUT/swarm.json" --input "I was charged twice for my order, can I get a refund?" || true

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
    QT_QPA_PLATFORM=offscreen "$BUILD/app/swarm-workbench" "$OUT/demo.swarm" --page swarm --screenshot "$OUT/swarm-page.png" \
      && echo "   (and of its Swarm page, the demo swarm loaded: $OUT/swarm-page.png)"
  fi
fi
