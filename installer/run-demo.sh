#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the demo on bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash installer/install-deps.sh
bash installer/build.sh
SWARM="${SWARM_BUILD_DIR:-build}/app/swarm"
OUT="${SWARM_DEMO_DIR:-demo-output}"
mkdir -p "$OUT"

echo "== a tiny Eve-2 MoE model (same structure as the 272M release, ~10M parameters)"
"$SWARM" model init --preset tiny --out "$OUT/tiny-base" --seed 1
"$SWARM" model info "$OUT/tiny-base"

echo
echo "== the published 272M configuration"
"$SWARM" model init --preset eve-272m --out "$OUT/eve-272m-random" --dtype bf16
"$SWARM" model info "$OUT/eve-272m-random"

echo
echo "== the GPT-2 tokenizer on an NL->SQL prompt"
"$SWARM" tokenize "User: How many heads of the departments are older than 56?
Assistant: SELECT COUNT(*) FROM head WHERE age > 56<|endoftext|>"

echo
echo "== greedy generation from the (untrained) tiny model: the reference path"
"$SWARM" generate "$OUT/tiny-base" --prompt "How many singers do we have?" --max-tokens 16

echo
echo "== a project with the bundled sample datasets (generated, deterministic)"
rm -f "$OUT/demo.swarm" "$OUT/demo.swarm-wal" "$OUT/demo.swarm-shm"
"$SWARM" project create "$OUT/demo.swarm"
"$SWARM" dataset samples --out "$OUT/samples"
"$SWARM" dataset preview "$OUT/samples/nl2sql.jsonl" --rows 2
"$SWARM" dataset import "$OUT/samples/nl2sql.jsonl" --project "$OUT/demo.swarm" --name nl2sql
"$SWARM" dataset import "$OUT/samples/support-routing.jsonl" --project "$OUT/demo.swarm" --name router --quiet > /dev/null
"$SWARM" dataset import "$OUT/samples/pii-masking.jsonl" --project "$OUT/demo.swarm" --name pii --quiet > /dev/null
"$SWARM" dataset list --project "$OUT/demo.swarm"
"$SWARM" dataset mask-preview pii --project "$OUT/demo.swarm" --color never
