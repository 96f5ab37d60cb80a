#!/bin/bash
# fuzz.sh BUILD_DIR SECONDS -- `make fuzz`: runs every libFuzzer target built
# in BUILD_DIR (clang, -fsanitize=fuzzer,address,undefined) for SECONDS each,
# starting from its seed corpus in fuzz/corpus/<target>.  New inputs go to a
# scratch directory (the committed corpus stays as it is); crashes are kept
# in fuzz/crashes/.  Exit status non-zero when any target found a crash.
#
# Per target it prints execs/s and coverage (libFuzzer's "cov" = edges
# reached, "ft" = features), and the CPU time it got: on a shared machine
# execs per CPU second is the comparable figure (fuzz/README.md).
set -u
B=${1:-build-fuzz}; SECS=${2:-60}
# A smaller quarantine than ASan's 256 MB keeps the engine's large buffers
# in cache between inputs; use-after-free within an input is still caught.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$ROOT/fuzz/crashes"
status=0
for t in "$B"/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=$(mktemp -d)
  echo "== $name: ${SECS}s"
  timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$work.cpu")
  if ! "${timer[@]}" "$t" -max_total_time="$SECS" -print_final_stats=1 \
       -artifact_prefix="$ROOT/fuzz/crashes/$name-" "$work" "$ROOT/fuzz/corpus/$name" 2>"$work.log"; then
    echo "$name: CRASH (see fuzz/crashes/ and $work.log)"; tail -n 30 "$work.log"; status=1
  else
    units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work.log")
    cov=$(grep -E "^#[0-9]+" "$work.log" | tail -n 1 | grep -oE "cov: [0-9]+ ft: [0-9]+")
    cpu=$(awk '{printf "%.1f", $1 + $2}' "$work.cpu" 2>/dev/null)
    per_cpu=$(awk -v u="$units" '{ if ($1 + $2 > 0) printf "%d", u / ($1 + $2) }' "$work.cpu" 2>/dev/null)
    echo "  $units execs, $rate execs/s ($per_cpu per CPU second, ${cpu} s CPU), $cov"
  fi
  rm -f "$work.cpu"
  rm -rf "$work"
done
exit $status
