#!/usr/bin/env bash
# Checks that our sources follow the root .clang-format; prints each file that does not and fails.
# usage: scripts/check_format.sh            (every .h/.cpp/.cu/.cuh under our source folders)
#        scripts/check_format.sh FILE...    (just those files)
# Fix a file with `clang-format -i FILE`. Runs clang-format in parallel: a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check_format: clang-format not found" >&2; exit 2; }

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find core io gpu app tests bench assets -type f \
    \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -not -path 'tests/data/*' |
    sort)
fi

bad=$(printf '%s\0' "${files[@]}" |
  xargs -0 -n 16 -P "$(nproc)" sh -c \
    'for f; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done' sh |
  sort)
if [ -n "$bad" ]; then
  echo "check_format: not formatted with .clang-format (clang-format -i FILE):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  echo "check_format: $(echo "$bad" | wc -l) of ${#files[@]} files" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files ok"
