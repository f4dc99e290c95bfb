#!/usr/bin/env bash
# The main job on the bundled demo checkpoint: set-up, then the GUI when a display is present,
# otherwise the full report (figures, CSVs, HDF5 records, index.html) in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
if [ -n "${DISPLAY:-}" ] && ./build/routerscope help gui >/dev/null 2>&1; then
  exec ./build/routerscope gui
fi
./build/routerscope report --out out/demo
echo "demo: open out/demo/index.html"
