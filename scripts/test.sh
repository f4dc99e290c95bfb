#!/usr/bin/env bash
# The whole test suite: set-up (packages, configure, build) then ctest.
# usage: scripts/test.sh              (Release build in build/)
#        scripts/test.sh --sanitize   (AddressSanitizer + UBSan build in build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1" -DROUTERSCOPE_SANITIZE=ON \
    -DROUTERSCOPE_BENCH=OFF -DROUTERSCOPE_CUDA=OFF -DROUTERSCOPE_GUI=OFF
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp
  cd build-asan
else
  # Benchmarks are built by scripts/bench.sh; the suite does not need them.
  bash scripts/setup.sh build -DROUTERSCOPE_BENCH=OFF
  cd build
fi
ctest --output-on-failure -j "$(nproc)" --timeout 600
# ctest hides a skipped test's output: say once why the GPU tests skipped (or which card ran them).
if [ -x tests/test_gpu ]; then
  tests/test_gpu --gtest_filter='Gpu.BatchedDirections*' 2>&1 | grep -m1 -E "no usable GPU|\[ device" || true
fi
