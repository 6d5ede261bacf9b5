#!/usr/bin/env bash
# Seeds every fuzz target's corpus from real data: builds a group with the `dualpower` CLI
# (four members admitted through bundles, posts, comments, reactions, a direct message,
# proposals with votes and a close, a key rotation, and events with three or more deps), exports
# it, and turns the bundles into inputs for each target (fuzz/examples/seed.rs).
#
# Usage: fuzz/seed.sh            (from the repository root or from fuzz/)
# Writes fuzz/corpus/<target>/<name>; existing files of the same name are replaced.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q --bin dualpower
# The seed tool builds against the workspace lock, so it reuses the already built dependencies.
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
dp="$root/target/debug/dualpower"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DUALPOWER_PASSPHRASE=fuzz-seed
unset DUALPOWER_HOME DUALPOWER_NETWORK RUST_LOG

run() { local home=$1; shift; "$dp" --home "$work/$home" --json "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

run a init >/dev/null
g=$(run a group create strike-committee | field "['group']")
post1=$(run a post "$g" "first post: meeting at the gate at six" | field "['id']")
run a comment "$g" "$post1" "I will bring the banner" >/dev/null
run a react "$g" "$post1" "+1" >/dev/null

# Three newcomers join through bundles (no network): invite, export, join, export back, admit.
for m in b c d; do
  code=$(run a group invite "$g" | field "['code']")
  run a export "$g" "$work/to-$m.bundle" >/dev/null
  run "$m" init >/dev/null
  run "$m" import "$work/to-$m.bundle" >/dev/null
  run "$m" group join "$code" >/dev/null
  run "$m" export "$g" "$work/from-$m.bundle" >/dev/null
  run a import "$work/from-$m.bundle" >/dev/null
  run a group admit "$g" "$(run "$m" id | field "['id']")" >/dev/null
done
run a post "$g" "welcome, all of you" >/dev/null
prop=$(run a propose "$g" "Strike on Monday?" --method majority --body "If the offer is not improved by Friday." | field "['id']")
consent=$(run a propose "$g" "Picket rota" --method consent --discuss --body "Two shifts a day." | field "['id']")
run a open "$g" "$consent" >/dev/null
run a export "$g" "$work/round.bundle" >/dev/null

# Every newcomer writes concurrently (posts, votes with reasons), then the founder reads all of
# it: its next events cite the three concurrent heads (three or more deps), and the close cites
# every vote.
for m in b c d; do
  run "$m" import "$work/round.bundle" >/dev/null
  run "$m" post "$g" "$m here: count me in" >/dev/null
  run "$m" vote "$g" "$prop" yes --reason "$m: the offer is an insult" >/dev/null
  run "$m" vote "$g" "$consent" agree >/dev/null
  run "$m" export "$g" "$work/back-$m.bundle" >/dev/null
  run a import "$work/back-$m.bundle" >/dev/null
done
run a vote "$g" "$prop" yes --reason "agreed" >/dev/null
run a close "$g" "$prop" >/dev/null
run a post "$g" "the vote is closed: we strike" >/dev/null
run a group rekey "$g" >/dev/null
run a post "$g" "under the new key" >/dev/null
run a dm send "$(run b id | field "['id']")" "can you cover my shift?" >/dev/null
run a export "$g" "$work/full.bundle" >/dev/null

mkdir -p "$work/bundles"
cp "$work"/to-b.bundle "$work"/from-b.bundle "$work"/round.bundle "$work"/back-d.bundle \
  "$work"/full.bundle "$work/bundles/"
# The workspace target directory: its dependencies are already built (same Cargo.lock).
CARGO_TARGET_DIR="$root/target" cargo run -q --manifest-path fuzz/Cargo.toml --example seed -- "$work/bundles" fuzz/corpus
