#!/bin/sh
# Reports Rust functions longer than a limit (default 120 lines), counted from the `fn` line to
# the closing brace at the same indentation. Usage: scripts/long-fns.sh [limit] dir...
limit=${1:-120}
shift
find "${@:-.}" -name '*.rs' | sort | while read -r f; do
  awk -v limit="$limit" -v file="$f" '
    function indent(s) { match(s, /^ */); return RLENGTH }
    !infn && /^ *(pub(\([a-z]+\))? )?(async )?(const )?(unsafe )?fn [A-Za-z0-9_]+/ {
      infn = 1; start = NR; ind = indent($0); name = $0; sub(/^ */, "", name); next
    }
    infn && indent($0) == ind && /^ *}/ {
      n = NR - start + 1
      if (n > limit) printf "%s:%d: %d lines: %s\n", file, start, n, name
      infn = 0
    }
    # A one-line or bodiless declaration ends on its own line.
    infn && NR == start && /;$/ { infn = 0 }
  ' "$f"
done
