#!/bin/bash
# store_seeds.sh WEFT_SIM FIRST LAST [options...] -- runs the replicated
# store scenario (weft-sim store) for every seed FIRST..LAST; fails on the
# first seed whose invariants fail, printing the line to replay it.
set -u
sim=$1 first=$2 last=$3
shift 3
fails=0
for s in $(seq "$first" "$last"); do
  out=$("$sim" store --seed "$s" "$@" 2>&1)
  if [ $? -ne 0 ]; then
    echo "$out"
    echo "replay: weft-sim store --seed $s $*"
    fails=$((fails + 1))
  fi
done
echo "store seeds $first..$last: $fails failed"
[ "$fails" -eq 0 ]
