#!/usr/bin/env bash
# Benchmarks and their peers (docs/PERFORMANCE.md): installs the peers' optimised BLAS and PyTorch,
# builds, then runs the decode and spectral benchmarks, the NumPy/PyTorch peer and the peak-memory
# benchmark.
# --build-only: build the benchmarks (gpu_bench too when nvcc exists) and stop.
set -euo pipefail
cd "$(dirname "$0")/.."
peer_packages=(libopenblas0-pthread python3-torch python3-numpy time)
missing=()
for p in "${peer_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
bash scripts/setup.sh build
cmake -S . -B build -DROUTERSCOPE_BENCH=ON >/dev/null
cmake --build build -j "$(nproc)"
if [ "${1:-}" = "--build-only" ]; then
  exit 0
fi
cd build
./bench/decode_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
./bench/spectral_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
/usr/bin/python3 ../bench/peer/spectral_peer.py --runs 3
cd ..
bash bench/memory_bench.sh build
