#!/usr/bin/env bash
# GPU checks for a lent GPU machine (CUDA, cmake and PyTorch, nothing else): run from the repository
# root with the programs packed by scripts/gpu_pack.sh carried along (.gpu/), or a build folder.
#   bash scripts/gpu_check.sh [DIR]   (default .gpu; DIR holds test_gpu [and gpu_bench], or is a
#                                      build folder with tests/test_gpu [and bench/gpu_bench])
# Prints the GPU tests' results, the benchmark table and the PyTorch peer's times; with $OUT set,
# also writes them there.
set -uo pipefail
dir=${1:-.gpu}
test_gpu=$dir/test_gpu
bench=$dir/gpu_bench
[ -x "$test_gpu" ] || test_gpu=$dir/tests/test_gpu
[ -x "$bench" ] || bench=$dir/bench/gpu_bench
out=${OUT:-/tmp/routerscope-gpu}
# cuBLAS is loaded at run time (gpu/cublas_loader.h): from the build's CUDA folder, else here.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
"$test_gpu" 2>&1 | tee "$out/test_gpu.txt" | tail -25
if [ -x "$bench" ]; then
  "$bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/gpu_bench.json" --benchmark_out_format=json 2>&1 | tee "$out/gpu_bench.txt"
  products=$(python3 -c "import json,sys; d=json.load(open('$out/gpu_bench.json')); print(int(next(b['products'] for b in d['benchmarks'] if 'Directions' in b['name'] and 'products' in b)))" 2>/dev/null || echo 0)
  python3 bench/peer/gpu_peer.py --products "$products" 2>&1 | tee "$out/gpu_peer.txt"
fi
