#!/bin/bash
# test_ipv6.sh BUILD_DIR -- a node bound to both 127.0.0.1 and [::1] (two
# sockets in one weft_uv_node) and a node bound to [::1] only: the session
# is made over IPv6 and messages flow both ways.  Skipped (77) when the
# host has no IPv6 loopback.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in x y; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; cat "${LOG[$n]}" "$WEFT_TMP/$n.out"; }; done; exit 1; }
[ -e /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6 || { echo "no ::1 here: skipping"; exit 77; }

start_node x --network-passphrase ipv6-test --listen 127.0.0.1:0 --listen '[::1]:0' || fail "start x"
line=$(grep -m1 "${LP}node id=" "${LOG[x]}")
P6=$(sed -E 's/.*listening=[^ ]*\[::1\]:([0-9]+).*/\1/' <<<"$line")
[[ "$P6" =~ ^[0-9]+$ ]] || fail "x does not list a [::1] socket: $line"
start_node y --network-passphrase ipv6-test --listen '[::1]:0' --peer "[::1]:$P6" || fail "start y"
wait_for "${LOG[x]}" "${LP}peer-up id=$(short y) addr=\[::1\]:" 15 || fail "x: no IPv6 peer-up for y"
wait_for "${LOG[y]}" "${LP}peer-up id=$(short x) addr=\[::1\]:$P6 " 15 || fail "y: no peer-up for x"
ctl x send "$(short y)" "@over ipv6" >/dev/null || fail "send x->y"
ctl y send "$(short x)" "@and back" >/dev/null || fail "send y->x"
wait_for "${LOG[y]}" "${LP}message from=$(short x) len=9 .*text=\"over ipv6\"" 15 || fail "x->y not delivered"
wait_for "${LOG[x]}" "${LP}message from=$(short y) len=8 .*text=\"and back\"" 15 || fail "y->x not delivered"
stop_node y || fail "y exit status"
stop_node x || fail "x exit status"
echo "PASS"
