#!/usr/bin/env bash
# Peak resident memory of `routerscope align` on a generated checkpoint much larger than the
# memory it should need (default 8 layers x 64 experts x 3 x [1024, 2048] BF16 = 3.2 GB).
# usage: bench/memory_bench.sh [BUILD_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=${2:-/tmp/routerscope-large}
if [ ! -f "$work/model.safetensors" ]; then
  /usr/bin/python3 bench/peer/make_large_checkpoint.py "$work"
fi
size=$(stat -c %s "$work/model.safetensors")
for threads in 1 2; do
  /usr/bin/time -v "$build/routerscope" align "$work" --threads "$threads" --csv /tmp/routerscope-large.csv \
    >/dev/null 2>/tmp/routerscope-time.txt
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' /tmp/routerscope-time.txt)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' /tmp/routerscope-time.txt)
  awk -v t="$threads" -v s="$size" -v r="$rss_kb" -v w="$wall" \
    'BEGIN { printf "threads %d: checkpoint %.2f GB, peak RSS %.1f MB, wall %s\n", t, s / 1e9, r / 1024, w }'
done
