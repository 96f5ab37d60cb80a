#!/bin/bash
# fuzz.sh BUILD_DIR SECONDS -- `make fuzz`: runs every libFuzzer target built
# in BUILD_DIR (clang, -fsanitize=fuzzer,address,undefined) for SECONDS each,
# starting from its seed corpus in fuzz/corpus/<target>.  New inputs go to a
# scratch directory (the committed corpus stays as it is); crashes are kept
# in fuzz/crashes/.  Exit status non-zero when any target found a crash.
set -u
B=${1:-build-fuzz}; SECS=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$ROOT/fuzz/crashes"
status=0
for t in "$B"/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=$(mktemp -d)
  echo "== $name: ${SECS}s"
  if ! "$t" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$ROOT/fuzz/crashes/$name-" \
       "$work" "$ROOT/fuzz/corpus/$name" 2>"$work.log"; then
    echo "$name: CRASH (see fuzz/crashes/ and $work.log)"; tail -n 30 "$work.log"; status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work.log" | sed "s/^/  /"
  fi
  rm -rf "$work"
done
exit $status
