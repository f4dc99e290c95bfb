#!/usr/bin/env bash
# Packs the GPU test and benchmark programs (they link only core, gpu and the CUDA libraries) into
# .gpu/ (git-ignored, a few MB) for a GPU machine that has CUDA but none of our packages:
#   bash scripts/bench.sh --build-only   (or any build with -DROUTERSCOPE_BENCH=ON and CUDA)
#   bash scripts/gpu_pack.sh [BUILD_DIR]  then, there: bash scripts/gpu_check.sh .gpu
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p .gpu
cp "$build/tests/test_gpu" .gpu/
if [ -x "$build/bench/gpu_bench" ]; then
  cp "$build/bench/gpu_bench" "$build"/bench/libbenchmark.so* .gpu/
fi
ls -la .gpu
