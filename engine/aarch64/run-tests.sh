#!/usr/bin/env bash
# test_engine_aarch64: cross-builds the engine and test_engine_portable for aarch64 (both NEON
# variants, see CMakeLists.txt here) and runs them under qemu-aarch64, so that the NEON kernels
# are executed and checked against the scalar ones. The figures qemu prints are correctness
# only, never speed.
#   run-tests.sh SOURCE_DIR BUILD_DIR
# Exit 77 (CTest: skipped) when the cross compiler or qemu is missing;
# installer/install-deps.sh --tests installs both.
set -euo pipefail
src="$1"
build="$2"
if ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1; then
  echo "SKIPPED: aarch64-linux-gnu-g++ is not installed (Debian g++-aarch64-linux-gnu; installer/install-deps.sh --tests)"
  exit 77
fi
qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
if [ -z "$qemu" ]; then
  echo "SKIPPED: qemu-aarch64 is not installed (Debian qemu-user-static; installer/install-deps.sh --tests)"
  exit 77
fi
start=$(date +%s)
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S "$src/engine/aarch64" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" > "$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
built=$(date +%s)
echo "cross build: $((built - start)) s"
status=0
# -cpu max: the emulated CPU has the dot-product extension (and everything else qemu knows).
for exe in test_engine_portable test_engine_portable_dotprod; do
  echo "== $exe (qemu-aarch64, correctness only)"
  t0=$(date +%s)
  if ! "$qemu" -cpu max -L /usr/aarch64-linux-gnu "$build/$exe"; then status=1; fi
  echo "$exe: $(( $(date +%s) - t0 )) s under qemu"
done
exit $status
