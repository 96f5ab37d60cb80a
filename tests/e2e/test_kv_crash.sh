#!/bin/bash
# test_kv_crash.sh BUILD_DIR -- the replicated store across real processes
# on 127.0.0.1 (kvnode, tests/e2e/kvnode.c, on the libuv driver and SQLite).
#
#  1. five nodes join; every one sees five alive members;
#  2. every node runs a write storm (STORM keys each, unique per node);
#     in the middle of it node 3 is killed with SIGKILL, then restarted on
#     the same data directory: it resumes from its database;
#  3. all five converge: the same digest everywhere, and every key any node
#     acknowledged ("ok" printed after weft_kv_put returned) -- node 3's
#     acknowledgements before the kill included -- is on every node with
#     its value;
#  4. bad input: the database of another mesh and a corrupt file are
#     refused with a clear error and left unchanged.
# Waits poll the logs with caps (lib.sh wait_for).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
B=$(cd "${1:-build}" && pwd)
KV=$B/kvnode
[ -x "$KV" ] || { echo "SKIP: kvnode not built"; exit 77; }
T=$(mktemp -d /tmp/weft-kv-e2e.XXXXXX)
STORM=${STORM:-1500}
declare -A KPID FD PORTOF
cleanup() {
  local n
  for n in "${!KPID[@]}"; do kill -KILL "${KPID[$n]}" 2>/dev/null; wait "${KPID[$n]}" 2>/dev/null; done
  for n in "${!FD[@]}"; do eval "exec ${FD[$n]}>&-" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/*.log; do echo "--- $f"; grep -v '^ok \|^item ' "$f" | tail -n 8; done
  exit 1
}

# start N [peer]: kvnode N reading commands from a FIFO held open on FD[N]
start() {
  local n=$1 peer=${2:-} args=() before
  before=$(count_lines "$T/n$n.log" '^ready ')
  before=${before:-0}
  mkdir -p "$T/d$n"
  [ -p "$T/in$n" ] || mkfifo "$T/in$n"
  [ -n "$peer" ] && args=(--peer "127.0.0.1:$peer")
  "$KV" --listen 127.0.0.1:0 --data "$T/d$n" --id "$n" "${args[@]}" <"$T/in$n" >>"$T/n$n.log" 2>&1 &
  KPID[$n]=$!
  local fd i
  exec {fd}>"$T/in$n"
  FD[$n]=$fd
  # the log is appended to across restarts: wait for one more ready line
  for ((i = 0; i < 400; i++)); do
    [ "$(count_lines "$T/n$n.log" '^ready ')" -gt "$before" ] && break
    kill -0 "${KPID[$n]}" 2>/dev/null || fail "node $n exited: $(tail -n 3 "$T/n$n.log")"
    sleep 0.05
  done
  [ "$(count_lines "$T/n$n.log" '^ready ')" -gt "$before" ] || fail "node $n did not start"
  PORTOF[$n]=$(grep '^ready ' "$T/n$n.log" | tail -n1 | sed -E 's/.*port=([0-9]+).*/\1/')
}
cmd() { echo "$2" >&"${FD[$1]}"; }

# digest_of N TAG: asks and waits for the answer
digest_of() {
  cmd "$1" "digest $2"
  wait_for "$T/n$1.log" "^digest $2 " 10 || return 1
  grep "^digest $2 " "$T/n$1.log" | tail -n1 | cut -d' ' -f3,4
}

# --- 1. five nodes ---------------------------------------------------------------
start 0
for n in 1 2 3 4; do start "$n" "${PORTOF[0]}"; done
for n in 0 1 2 3 4; do wait_for "$T/n$n.log" '^alive 5$' 20 || fail "node $n never saw 5 alive"; done
echo "five nodes up"

# --- 2. storms, kill -9 in the middle, restart -----------------------------------
for n in 0 1 2 3 4; do cmd "$n" "storm data n${n}- $STORM 2"; done
half=$((STORM / 3))
for ((i = 0; i < 400; i++)); do
  [ "$(count_lines "$T/n3.log" '^ok data n3-')" -ge "$half" ] && break
  sleep 0.05
done
kill -KILL "${KPID[3]}"
wait "${KPID[3]}" 2>/dev/null
unset "KPID[3]"
eval "exec ${FD[3]}>&-"
unset "FD[3]"
acked3=$(count_lines "$T/n3.log" '^ok data n3-')
[ "$acked3" -gt 0 ] && [ "$acked3" -lt "$STORM" ] || fail "node 3 was not killed mid-storm ($acked3 acked)"
echo "node 3 killed after $acked3 acknowledged writes"
cp "$T/n3.log" "$T/n3-before-kill.txt"
start 3 "${PORTOF[0]}"
loaded=$(grep '^ready ' "$T/n3.log" | tail -n1 | sed -E 's/.*loaded=([0-9]+).*/\1/')
[ "$loaded" -ge "$acked3" ] || fail "node 3 reloaded $loaded versions, fewer than its $acked3 acknowledged"
echo "node 3 restarted with $loaded versions from its database"
for n in 0 1 2 4; do wait_for "$T/n$n.log" "^storm-done n${n}-" 60 || fail "storm on node $n did not end"; done

# --- 3. convergence and no acknowledged write lost --------------------------------
ok=0
for ((r = 0; r < 300; r++)); do
  d0=$(digest_of 0 "r$r") || fail "no digest from node 0"
  same=1
  for n in 1 2 3 4; do
    [ "$(digest_of "$n" "r$r")" = "$d0" ] || { same=0; break; }
  done
  if [ "$same" = 1 ]; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "the five nodes did not converge"
echo "converged: digest ${d0}"
cat "$T"/n[0124].log "$T/n3-before-kill.txt" | grep '^ok data ' | cut -d' ' -f3 | sort -u >"$T/acked"
nacked=$(wc -l <"$T/acked")
for n in 0 1 2 3 4; do
  cmd "$n" "dump final data"
  wait_for "$T/n$n.log" '^dumped final ' 20 || fail "node $n did not dump"
  grep '^item final ' "$T/n$n.log" | awk '{ if ($4 != "v-" $3) print "BAD " $3; else print $3 }' | sort -u >"$T/have$n"
  grep -q '^BAD' "$T/have$n" && fail "node $n holds a wrong value"
  missing=$(comm -23 "$T/acked" "$T/have$n" | wc -l)
  [ "$missing" = 0 ] || fail "node $n lacks $missing of $nacked acknowledged writes"
done
echo "all $nacked acknowledged writes on all five nodes"

# --- 4. a database of another mesh, a corrupt file ---------------------------------
for n in 0 1 2 3 4; do cmd "$n" "quit"; done
for n in 0 1 2 3 4; do wait "${KPID[$n]}" 2>/dev/null; unset "KPID[$n]"; done
before=$(sha "$T/d1/store.db")
mkfifo "$T/inx"
"$KV" --listen 127.0.0.1:0 --data "$T/d1" --id 1 --netkey another-mesh <"$T/inx" >"$T/x.log" 2>&1 &
exec {fx}>"$T/inx"
wait $! ; rc=$?
exec {fx}>&-
[ "$rc" = 3 ] && grep -q 'another mesh' "$T/x.log" || fail "another mesh's database was not refused: $(cat "$T/x.log")"
[ "$(sha "$T/d1/store.db")" = "$before" ] || fail "the refused database was modified"
mkdir -p "$T/dc"
head -c 10000 /dev/urandom >"$T/dc/store.db"
before=$(sha "$T/dc/store.db")
"$KV" --listen 127.0.0.1:0 --data "$T/dc" --id 9 <"$T/inx" >"$T/c.log" 2>&1 &
exec {fx}>"$T/inx"
wait $! ; rc=$?
exec {fx}>&-
[ "$rc" = 3 ] && grep -q 'not a SQLite database' "$T/c.log" || fail "a corrupt file was not refused: $(cat "$T/c.log")"
[ "$(sha "$T/dc/store.db")" = "$before" ] || fail "the corrupt file was modified"
echo "foreign and corrupt databases refused, untouched"
echo "PASS"
