#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing Swarm Workbench need.
# Idempotent: checks each package and calls apt-get only for what is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev
  libgloo-dev                   # the Gloo headers behind LibTorch's ProcessGroupGloo (data-parallel training on CPU)
  libopenblas0-pthread          # without it LibTorch falls back to reference BLAS (~12x slower fp32 matmul)
  qt6-base-dev libqt6svg6
  libqcustomplot-dev libqcustomplot2.1-qt6
  nlohmann-json3-dev
  libsqlite3-dev
  libcpp-httplib-dev            # swarm serve (serve/server.cpp)
  libcurl4-openssl-dev libssl-dev   # the Hugging Face Hub client and its checksums (core/http_client.cpp, core/digest.cpp)
  libsnappy-dev libzstd-dev zlib1g-dev   # Parquet pages: Snappy, Zstd, Gzip (datasets/parquet_column.cpp)
  xvfb xauth
)

# --- issue 17 (engine on ARM), test-only: test_engine_aarch64 cross-builds the engine for
# aarch64 and runs its tests under qemu-user (engine/aarch64/run-tests.sh). Debian 12's own
# packages (the cross g++ brings the arm64 libc and libstdc++ into /usr/aarch64-linux-gnu).
PACKAGES+=(
  g++-aarch64-linux-gnu
  qemu-user-static
)
# --- end issue 17

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
