#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite through CTest,
# then the torch-free tests labelled "sanitize" (engine, formats, datasets, metrics) again in an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash installer/install-deps.sh
# The OpenAI client test (issue 18): Node.js and the pinned npm package `openai` in tests/openai.
bash installer/install-node-deps.sh
bash installer/build.sh
JOBS="$(nproc)"
(cd "${SWARM_BUILD_DIR:-build}" && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$JOBS" "$@")

if [ "${SWARM_SKIP_SANITIZERS:-0}" != "1" ]; then
  ASAN_DIR="${SWARM_ASAN_BUILD_DIR:-build-asan}"
  GENERATOR=()
  if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
  cmake -S . -B "$ASAN_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWARM_SANITIZE=ON \
    -DSWARM_BUILD_GUI=OFF -DSWARM_BUILD_BENCH=OFF > /dev/null
  mapfile -t SANITIZED < <(cd "$ASAN_DIR" && ctest -N -L sanitize | sed -n 's/^ *Test *#[0-9]*: *//p')
  cmake --build "$ASAN_DIR" -j "$JOBS" --target "${SANITIZED[@]}"
  (cd "$ASAN_DIR" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$JOBS" -L sanitize)
fi
