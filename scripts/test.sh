#!/usr/bin/env bash
# The whole test suite: set-up (packages, configure, build) then ctest.
# usage: scripts/test.sh              (Release build in build/)
#        scripts/test.sh --sanitize   (AddressSanitizer + UBSan build in build-asan/, no benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTERSCOPE_SANITIZE=ON \
    -DROUTERSCOPE_BENCH=OFF -DROUTERSCOPE_CUDA=OFF -DROUTERSCOPE_GUI=OFF
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  cd build-asan
else
  bash scripts/setup.sh build
  cd build
fi
ctest --output-on-failure -j "$(nproc)" --timeout 600
