#!/usr/bin/env bash
# Runs one fuzz target for longer than CI does, in the sanitizer build (build-asan, made by
# `scripts/test.sh --sanitize`): libFuzzer with AddressSanitizer + UBSan where Clang built it.
# New inputs are kept in build-asan/fuzz/corpus/TARGET; a crash leaves crash-* in the current
# folder: copy it to tests/data/fuzz/TARGET/ with a regression test.
# usage: scripts/fuzz.sh TARGET SECONDS     (TARGET: safetensors shard_index config record
#                                            hidden_states)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
exe=build-asan/fuzz/fuzz_$target
if [ ! -x "$exe" ]; then
  echo "fuzz: $exe not built; run: bash scripts/test.sh --sanitize (or cmake --build build-asan)" >&2
  exit 2
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp
if grep -q "CMAKE_CXX_COMPILER:.*clang" build-asan/CMakeCache.txt; then
  exec "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "build-asan/fuzz/corpus/$target" "build-asan/fuzz/seeds/$target"
fi
# The deterministic driver counts inputs, not seconds: about 200 inputs per second.
exec "$exe" -runs=$((seconds * 200)) "build-asan/fuzz/corpus/$target" "build-asan/fuzz/seeds/$target"
