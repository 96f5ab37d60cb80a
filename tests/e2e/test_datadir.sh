#!/bin/bash
# test_datadir.sh BUILD_DIR -- the data directory holds one daemon's
# identity and nobody else may write it (issue 12 items 7 and 8).
#  1. a second weftd on the same data directory (another --control, another
#     port) is refused with exit 1, naming the pid that holds DIR/lock; the
#     first keeps running; after the first stops (and after a kill -9) the
#     directory can be used again;
#  2. like OpenSSH's StrictModes: a group-writable (0770) or world-writable
#     data directory is refused with exit 2 and the fix (chmod 700 DIR); a
#     group-readable one (0750) is fine; `weft id` refuses it too;
#  3. as root: a data directory, identity key or network key owned by
#     another user is refused with exit 2 and the fix (chown).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 20 "${LOG[$n]}"; }; done; exit 1; }
T=$WEFT_TMP

# expect CODE REGEX cmd...  (a daemon that wrongly starts is stopped by timeout)
expect() {
  local code=$1 re=$2; shift 2
  local out rc
  out=$(timeout 10 "$@" 2>&1); rc=$?
  [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; output: $out"
  grep -qE -- "$re" <<<"$out" || fail "'$*' output does not match /$re/: $out"
}
"$WEFT" keygen --network-key "$T/net.key" >/dev/null || fail "keygen"

# --- 1. one daemon per data directory ------------------------------------------
start_node a --network-key "$T/net.key" || fail "start a"
expect 1 "in use by another weftd \\(pid ${PID[a]} holds .*/lock\\)" \
  "$WEFTD" --data-dir "${DIR[a]}" --control "$T/second.sock" --network-key "$T/net.key" --listen 127.0.0.1:0
[ -e "$T/second.sock" ] && fail "the refused daemon left a control socket"
kill -0 "${PID[a]}" || fail "the first daemon died"
"$WEFT" stats --data-dir "${DIR[a]}" >/dev/null || fail "the first daemon stopped answering"
stop_node a || fail "a exit status"
start_node a --network-key "$T/net.key" || fail "restart on the same data dir after a clean stop"
kill -KILL "${PID[a]}"; wait "${PID[a]}" 2>/dev/null; unset "PID[a]"
start_node a --network-key "$T/net.key" || fail "restart on the same data dir after kill -9"
stop_node a || fail "a exit status"
echo "ok: a second daemon on one data directory is refused with the holder's pid"

# --- 2. group/other-writable data directory ------------------------------------------
mkdir -m 700 "$T/gw"
chmod 770 "$T/gw"
expect 2 "mode 0770.*fix: chmod 700 $T/gw" "$WEFTD" --data-dir "$T/gw" --network-key "$T/net.key" --listen 127.0.0.1:0
expect 1 "fix: chmod 700 $T/gw" "$WEFT" id --data-dir "$T/gw"
[ -e "$T/gw/identity.key" ] && fail "an identity was created in a group-writable directory"
chmod 707 "$T/gw"
expect 2 "anyone may write.*fix: chmod 700" "$WEFTD" --data-dir "$T/gw" --network-key "$T/net.key" --listen 127.0.0.1:0
chmod 750 "$T/gw"
start_node gr --network-key "$T/net.key" || fail "start gr"
stop_node gr
chmod 750 "${DIR[gr]}"
start_node gr --network-key "$T/net.key" || fail "a group-readable (0750) data directory was refused"
stop_node gr || fail "gr exit status"
echo "ok: group- or world-writable data directory refused with the fix; 0750 accepted"

# --- 3. another owner -----------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
  mkdir -m 700 "$T/theirs"
  chown 65534:65534 "$T/theirs"
  expect 2 "owned by uid 65534.*fix: chown 0 $T/theirs" "$WEFTD" --data-dir "$T/theirs" --network-key "$T/net.key" --listen 127.0.0.1:0
  mkdir -m 700 "$T/mine"
  "$WEFT" id --data-dir "$T/mine" --create >/dev/null 2>&1 || "$WEFT" id --data-dir "$T/mine" >/dev/null || fail "weft id"
  chown 65534 "$T/mine/identity.key"
  expect 2 "identity.key is owned by uid 65534" "$WEFTD" --data-dir "$T/mine" --network-key "$T/net.key" --listen 127.0.0.1:0
  chown 0 "$T/mine/identity.key"
  cp -p "$T/net.key" "$T/their.key"; chown 65534 "$T/their.key"
  expect 2 "their.key is owned by uid 65534" "$WEFTD" --data-dir "$T/mine" --network-key "$T/their.key" --listen 127.0.0.1:0
  echo "ok: data directory and key files of another owner refused"
else
  echo "note: not root, another-owner checks skipped"
fi
echo "PASS"
