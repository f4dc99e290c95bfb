#!/usr/bin/env bash
# The rooms keep their shape: fails when an #include crosses a room the wrong way.
#   core/    includes nothing of io/, gpu/, app/
#   io/      includes nothing of gpu/, app/
#   gpu/     includes nothing of io/, app/ (it links only core and CUDA)
#   app/cli  includes nothing of app/gui, and app/gui nothing of app/cli (they share app/common;
#            app/cmd_gui.cpp, the `gui` command, is the one file that joins them)
#   app/common includes nothing of app/cli, app/gui
# Crossings still being removed are listed in `allowed` (FILE -> HEADER); the list is meant to be
# empty, and an entry that no longer occurs fails the check so that it is removed.
# usage: scripts/check_layers.sh   (one grep per room: well under a second)
set -euo pipefail
cd "$(dirname "$0")/.."

# room : forbidden include prefixes (an extended regular expression)
rules=(
  "core:io/|gpu/|app/"
  "io:gpu/|app/"
  "gpu:io/|app/"
  "app/cli:app/gui/"
  "app/gui:app/cli/"
  "app/common:app/cli/|app/gui/"
)

# Crossings being removed (FILE -> HEADER); none are left, and new ones are not to be added.
allowed=()

status=0
seen=()
for rule in "${rules[@]}"; do
  room=${rule%%:*}
  forbidden=${rule#*:}
  [ -d "$room" ] || continue
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    file=${hit%%:*}
    header=$(sed -E 's/^[^:]*:[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/' \
      <<<"$hit")
    entry="$file -> $header"
    known=0
    for a in "${allowed[@]}"; do [ "$a" = "$entry" ] && known=1; done
    if [ $known = 1 ]; then
      echo "check_layers: known exception: $entry"
      seen+=("$entry")
    else
      echo "check_layers: $entry: $room must not include $header" >&2
      status=1
    fi
  done < <(grep -rE --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' \
             --include='*.in' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($forbidden)" \
             "$room" || true)
done
for a in "${allowed[@]}"; do
  used=0
  for s in "${seen[@]}"; do [ "$s" = "$a" ] && used=1; done
  if [ $used = 0 ]; then
    echo "check_layers: stale exception, remove it from scripts/check_layers.sh: $a" >&2
    status=1
  fi
done
if [ $status = 0 ]; then echo "check_layers: ok"; fi
exit $status
