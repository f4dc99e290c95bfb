#!/usr/bin/env bash
# Installs RouterScope's Debian packages (only those missing), configures and builds.
# Cheap the second time: no apt call when everything is installed, incremental build.
# usage: scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-build}
shift || true

packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev libspectra-dev libhdf5-dev libcairo2-dev nlohmann-json3-dev
  libimgui-dev libglfw3-dev libgl-dev libgl1-mesa-dri
  libgtest-dev libbenchmark-dev
  xvfb xauth fonts-dejavu-core poppler-utils
  python3 python3-numpy python3-h5py python3-torch
  libcli11-dev fortunes clang clang-format libclang-rt-14-dev dpkg-dev file ccache
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  # ccache makes rebuilds in fresh clones and other build folders cheap; it changes no output.
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
fi
cmake --build "$build_dir" -j "$(nproc)"
