#!/bin/bash
# test_two_nodes.sh BUILD_DIR -- two real weftd processes on 127.0.0.1:
#  1. they establish a session (one --peer the other) and exchange a small
#     message and a 2 MiB file in both directions, verified by SHA-256 in
#     the receiver's log;
#  2. after `kill -9` of one, the other reports
#     `peer-down ... reason=WEFT_ERR_UNREACHABLE` (--unreachable-ms 2000;
#     the wait is capped at 10x that);
#  3. a third node with a WRONG network key gets no session: no peer-up on
#     either side, the target counts the rejected packets in its stats and
#     logs `wrong-network-key addr=<c's address> count=N` (once, not
#     again within 10 s although c keeps trying).
# Waits poll the logs with caps; nothing sleeps to synchronise.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a b c; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 30 "${LOG[$n]}"; cat "$WEFT_TMP/$n.out"; }; done; exit 1; }

"$WEFT" keygen --network-key "$WEFT_TMP/good.key" >/dev/null || fail "keygen good"
"$WEFT" keygen --network-key "$WEFT_TMP/bad.key" >/dev/null || fail "keygen bad"
cmp -s "$WEFT_TMP/good.key" "$WEFT_TMP/bad.key" && fail "two keygens gave the same key"

start_node a --network-key "$WEFT_TMP/good.key" --unreachable-ms 2000 || fail "start a"
start_node b --network-key "$WEFT_TMP/good.key" --unreachable-ms 2000 --peer "127.0.0.1:${PORT[a]}" || fail "start b"
wait_for "${LOG[a]}" "${LP}peer-up id=$(short b) addr=127.0.0.1:${PORT[b]}" 15 || fail "a: no peer-up for b"
wait_for "${LOG[b]}" "${LP}peer-up id=$(short a) addr=127.0.0.1:${PORT[a]}" 15 || fail "b: no peer-up for a"
echo "ok: session a <-> b"

# --- 1. messages both ways ------------------------------------------------
head -c $((2 << 20)) /dev/urandom >"$WEFT_TMP/ab.bin"
head -c $((2 << 20)) /dev/urandom >"$WEFT_TMP/ba.bin"
T1="small hello from a"; T2="small reply from b"
H1=$(printf %s "$T1" | sha256sum | cut -d' ' -f1)
H2=$(printf %s "$T2" | sha256sum | cut -d' ' -f1)
ctl a send "$(short b)" "@$T1" >/dev/null || fail "send a->b small"
ctl b send "$(short a)" "@$T2" >/dev/null || fail "send b->a small"
ctl a send "${ID[b]}" "$WEFT_TMP/ab.bin" >/dev/null || fail "send a->b 2 MiB"
ctl b send "$(short a)" "$WEFT_TMP/ba.bin" --kind unordered --priority high >/dev/null || fail "send b->a 2 MiB"
wait_for "${LOG[b]}" "${LP}message from=$(short a) len=${#T1} .*sha256=$H1" 30 || fail "a->b small not delivered"
wait_for "${LOG[a]}" "${LP}message from=$(short b) len=${#T2} .*sha256=$H2" 30 || fail "b->a small not delivered"
wait_for "${LOG[b]}" "${LP}message from=$(short a) len=$((2 << 20)) .*sha256=$(sha "$WEFT_TMP/ab.bin")" 60 || fail "a->b 2 MiB not delivered intact"
wait_for "${LOG[a]}" "${LP}message from=$(short b) len=$((2 << 20)) prio=1 kind=unordered sha256=$(sha "$WEFT_TMP/ba.bin")" 60 || fail "b->a 2 MiB not delivered intact"
[ "$(count_lines "${LOG[b]}" "${LP}message ")" -eq 2 ] || fail "b got duplicate or extra messages"
[ "$(count_lines "${LOG[a]}" "${LP}message ")" -eq 2 ] || fail "a got duplicate or extra messages"
echo "ok: small + 2 MiB both ways, sha256 verified"

ctl a peers | grep -qE "^peer id=${ID[b]} addr=127.0.0.1:${PORT[b]} established=1 srtt_us=[0-9]+" || fail "weft peers does not list b"
# an unreliable message over one packet: the error names that limit
head -c 70000 /dev/urandom >"$WEFT_TMP/70k.bin"   # over any path MTU (65000 at most)
out=$(ctl a send "$(short b)" "$WEFT_TMP/70k.bin" --kind unreliable 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q 'WEFT_ERR_TOO_BIG_DATAGRAM an unreliable message must fit in one packet: the path MTU' <<<"$out" || fail "too-big unreliable: rc=$rc $out"
ctl a stats | grep -qE '^msgs_delivered=2$' || fail "a stats: msgs_delivered != 2"

# --- 2. kill -9 b: a must declare it unreachable -------------------------
kill -KILL "${PID[b]}"; wait "${PID[b]}" 2>/dev/null; unset "PID[b]"
wait_for "${LOG[a]}" "${LP}peer-down id=$(short b) .*reason=WEFT_ERR_UNREACHABLE" 20 || fail "a did not report b unreachable"
ctl a peers | grep -q "${ID[b]}" && fail "b still listed after peer-down"
echo "ok: kill -9 -> peer-down reason=WEFT_ERR_UNREACHABLE"

# --- 3. wrong network key: no session --------------------------------------
before=$(ctl a stats) || fail "stats"
drops_before=$(awk -F= '/^(drop_wrong_mesh|drop_decrypt|handshakes_failed)=/ {s += $2} END {print s + 0}' <<<"$before")
start_node c --network-key "$WEFT_TMP/bad.key" --unreachable-ms 2000 --peer "127.0.0.1:${PORT[a]}" || fail "start c"
counted=0
for ((i = 0; i < 200; i++)); do  # up to ~10 s
  d=$(ctl a stats | awk -F= '/^(drop_wrong_mesh|drop_decrypt|handshakes_failed)=/ {s += $2} END {print s + 0}')
  [ "$d" -gt "$drops_before" ] && { counted=1; break; }
  sleep 0.05
done
[ $counted = 1 ] || fail "a did not count the wrong-key handshake as a drop"
# the target says so in its log: once, then at most once per 10 s
wait_for "${LOG[a]}" "wrong-network-key addr=127.0.0.1:[0-9]+ count=[0-9]+" 10 || fail "a did not log wrong-network-key with c's address"
first=$(grep -m1 -oE 'wrong-network-key addr=[^ ]+ count=[0-9]+' "${LOG[a]}" | sed 's/.*count=//')
for ((i = 0; i < 200; i++)); do  # up to ~10 s: c retries its handshake
  [ "$(ctl a stats | sed -n 's/^drop_wrong_mesh=//p')" -gt "$first" ] && break
  sleep 0.05
done
[ "$(count_lines "${LOG[a]}" 'wrong-network-key ')" -eq 1 ] || fail "wrong-network-key logged more than once within 10 s"
grep -q "${LP}peer-up" "${LOG[c]}" && fail "c (wrong key) got a session"
[ "$(count_lines "${LOG[a]}" "${LP}peer-up ")" -eq 1 ] || fail "a accepted a session from c (wrong key)"
echo "ok: wrong network key rejected and counted ($(ctl a stats | grep -E '^(drop_wrong_mesh|drop_decrypt|handshakes_failed)=' | tr '\n' ' '))"

stop_node c || fail "c did not exit 0 on SIGTERM"
stop_node a || fail "a did not exit 0 on SIGTERM"
echo "PASS"
