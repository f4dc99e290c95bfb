#!/usr/bin/env bash
# The whole test suite: set-up (packages, configure, build) then ctest.
# usage: scripts/test.sh              (Release build in build/)
#        scripts/test.sh --sanitize   (AddressSanitizer + UBSan build in build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--sanitize" ]; then
  # g++ by default: the fuzz targets come out of the same build with their deterministic mutation
  # driver and run as ctest tests (Fuzz.*). ROUTERSCOPE_SANITIZE_COMPILER=clang builds them with
  # libFuzzer instead (ROUTERSCOPE_FUZZ_SECONDS each; scripts/fuzz.sh for long runs). A folder
  # configured with the other compiler is rebuilt.
  compiler=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++)
  if [ "${ROUTERSCOPE_SANITIZE_COMPILER:-gcc}" = clang ] &&
    command -v clang++ >/dev/null && command -v clang >/dev/null; then
    compiler=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
  fi
  if [ -f build-asan/CMakeCache.txt ] &&
    ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=\(.*/\)\?${compiler[1]#-DCMAKE_CXX_COMPILER=}\$" build-asan/CMakeCache.txt; then
    rm -rf build-asan
  fi
  bash scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1" -DROUTERSCOPE_SANITIZE=ON -DROUTERSCOPE_FUZZ=ON \
    -DROUTERSCOPE_BENCH=OFF -DROUTERSCOPE_CUDA=OFF -DROUTERSCOPE_GUI=ON "${compiler[@]}"
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
