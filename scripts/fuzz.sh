#!/usr/bin/env bash
# Runs fuzz targets for longer than CI does: libFuzzer (Clang) with AddressSanitizer + UBSan, in
# their own build folder, build-fuzz/ (configured and built here the first time, only the fuzz
# targets). Without clang++ it falls back to the sanitizer suite's build (build-asan, made by
# `scripts/test.sh --sanitize`) and its deterministic mutation driver.
# New inputs are kept in BUILD/fuzz/corpus/TARGET; a crash leaves crash-* in the current folder:
# copy it to tests/data/fuzz/TARGET/ with a regression test. The last lines of each run (libFuzzer's
# -print_final_stats) give the numbers docs/RELIABILITY.md records.
# usage: scripts/fuzz.sh TARGET SECONDS     (TARGET: safetensors shard_index config record
#                                            hidden_states)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
case "$target" in
  safetensors | shard_index | config | record | hidden_states) ;;
  *)
    echo "fuzz: unknown target '$target' (expected safetensors, shard_index, config, record or hidden_states)" >&2
    exit 2
    ;;
esac
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp

if command -v clang++ >/dev/null && command -v clang >/dev/null; then
  build=build-fuzz
  if [ ! -f $build/build.ninja ]; then
    launcher=()
    if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
    cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
      -DROUTERSCOPE_SANITIZE=ON -DROUTERSCOPE_FUZZ=ON -DROUTERSCOPE_BENCH=OFF \
      -DROUTERSCOPE_CUDA=OFF -DROUTERSCOPE_GUI=OFF
  fi
  cmake --build $build -j "$(nproc)" --target "fuzz_$target"
  exec "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$build/fuzz/corpus/$target" "$build/fuzz/seeds/$target"
fi
exe=build-asan/fuzz/fuzz_$target
if [ ! -x "$exe" ]; then
  echo "fuzz: no clang++ and $exe not built; run: bash scripts/test.sh --sanitize" >&2
  exit 2
fi
# The deterministic driver counts inputs, not seconds: about 200 inputs per second.
exec "$exe" -runs=$((seconds * 200)) "build-asan/fuzz/corpus/$target" "build-asan/fuzz/seeds/$target"
