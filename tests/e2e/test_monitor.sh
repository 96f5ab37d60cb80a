#!/bin/bash
# test_monitor.sh BUILD_DIR -- what a node receives can be read, and the
# CLI waits for outcomes (issue 9):
#  1. `weft connect` waits for the session: `ok peer-up id=...` (already=1
#     the second time); a port nobody answers on fails after --timeout; a
#     bad port exits 2;
#  2. `weft monitor` (text and --json) shows member events, peer-up and
#     every message received with length, priority, kind and payload: text
#     when printable, base64 otherwise, truncated beyond --max-bytes; JSON
#     lines parse;
#  3. `weft send --wait` answers `ok delivered` once the peer's application
#     took the message (a receipt), or the message's failure and reason;
#     a peer that stops answering (SIGSTOP) makes it fail with the session
#     down; a timeout too short says what is still queued; unreliable
#     --wait is refused;
#  4. a monitor that does not read is dropped (control-drop
#     reason=slow-reader), the daemon carries on;
#  5. monitors end with the daemon (`end reason=shutdown`, exit 0) or on
#     SIGINT (exit 0).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
MONS=()
cleanup() { local p; for p in "${MONS[@]}"; do kill "$p" 2>/dev/null; done; stop_all; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for n in a b e; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 15 "${LOG[$n]}"; }; done; for f in "$WEFT_TMP"/mon*.txt; do [ -f "$f" ] && { echo "--- $f"; cut -c1-200 "$f" | tail -n 8; }; done; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
T=$WEFT_TMP

start_node a --network-passphrase mon || fail "start a"
"$WEFT" monitor --data-dir "${DIR[a]}" >"$T/mon.txt" 2>"$T/mon.err" & MONS+=($!); MON=$!
"$WEFT" monitor --json --max-bytes 1000 --data-dir "${DIR[a]}" >"$T/monj.txt" 2>&1 & MONS+=($!)
start_node b --network-passphrase mon --peer "127.0.0.1:${PORT[a]}" --unreachable-ms 3000 || fail "start b"
wait_for "$T/mon.txt" "^member-joined id=${ID[b]} name=b addr=127.0.0.1:${PORT[b]} inc=[0-9]+$" 15 || fail "monitor: no member-joined for b"

# --- 1. connect waits for the outcome -------------------------------------------------
out=$("$WEFT" connect "127.0.0.1:${PORT[a]}" --data-dir "${DIR[b]}") || fail "connect: $out"
grep -qE "^ok peer-up id=${ID[a]} addr=127.0.0.1:${PORT[a]} already=[01]$" <<<"$out" || fail "connect answer: $out"
out=$("$WEFT" connect "127.0.0.1:${PORT[a]}" --data-dir "${DIR[b]}" --json) || fail "connect again: $out"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["result"]=="peer-up" and d["already"]==1, d' "$out" || fail "connect --json: $out"
FREE=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(date +%s%N)
out=$("$WEFT" connect "127.0.0.1:$FREE" --timeout 1 --data-dir "${DIR[b]}" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ] && grep -q 'no outcome within 1000 ms' <<<"$out" || fail "connect to a silent port: rc=$rc $out"
[ $ms -lt 4000 ] || fail "connect --timeout 1 took $ms ms"
out=$("$WEFT" connect 127.0.0.1:99999 --data-dir "${DIR[b]}" 2>&1); [ $? -eq 2 ] || fail "connect to port 99999 did not exit 2: $out"
wait_for "$T/mon.txt" "^peer-up id=${ID[b]} addr=127.0.0.1:${PORT[b]}$" 5 || fail "monitor: no peer-up"
echo "ok: weft connect waits (peer-up, already=1, timeout after ${ms} ms, bad port exit 2)"

# --- 2. messages in the monitor --------------------------------------------------------
ctl b send "$(short a)" "@hello monitor" --priority high >/dev/null || fail "send text"
printf 'line one\n"two"\ttab\\' >"$T/ml.txt"
ctl b send "$(short a)" "$T/ml.txt" >/dev/null || fail "send multi-line text"
printf '\x00\x01\xfe\xffbinary' >"$T/bin.bin"
ctl b send "$(short a)" "$T/bin.bin" --kind unordered >/dev/null || fail "send binary"
head -c 5000 /dev/urandom >"$T/5k.bin"
ctl b send "$(short a)" "$T/5k.bin" --priority low >/dev/null || fail "send 5000 bytes"
wait_for "$T/mon.txt" "^message from=${ID[b]} len=5000 prio=3 " 15 || fail "monitor: 5000-byte message missing"
grep -qE "^message from=${ID[b]} len=13 prio=1 kind=ordered sha256=[0-9a-f]{64} truncated=0 text=\"hello monitor\"$" "$T/mon.txt" || fail "monitor: text message"
grep -qF 'text="line one\n\"two\"\ttab\\"' "$T/mon.txt" || fail "monitor: escaped text"
grep -qE "^message from=${ID[b]} len=10 prio=2 kind=unordered .* base64=AAH\+/2JpbmFyeQ==$" "$T/mon.txt" || fail "monitor: binary as base64"
wait_for "$T/monj.txt" '"len":5000' 10 || fail "monitor --json: 5000-byte message missing"
python3 - "$T/monj.txt" "$T/5k.bin" "${ID[b]}" <<'PY' || fail "monitor --json content"
import base64, json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
msgs = [e for e in ev if e["event"] == "message"]
assert [m["len"] for m in msgs] == [13, 19, 10, 5000], msgs
assert msgs[0]["text"] == "hello monitor" and msgs[0]["prio"] == 1 and msgs[0]["from"] == sys.argv[3]
assert msgs[1]["text"] == 'line one\n"two"\ttab\\'
assert base64.b64decode(msgs[2]["base64"]) == b"\x00\x01\xfe\xffbinary"
big = open(sys.argv[2], "rb").read()
assert msgs[3]["truncated"] is True and base64.b64decode(msgs[3]["base64"]) == big[:1000]
assert any(e["event"] == "member-joined" and e["name"] == "b" for e in ev)
assert any(e["event"] == "peer-up" for e in ev)
PY
echo "ok: monitor shows members, sessions and messages (text, escaped text, base64, truncated); --json parses"

# --- 3. send --wait ------------------------------------------------------------------------
out=$(ctl b send "$(short a)" "$T/5k.bin" --wait) || fail "send --wait: $out"
grep -qE "^ok delivered to=$(short a) msg=[0-9]+ len=5000 sha256=$(sha "$T/5k.bin")$" <<<"$out" || fail "send --wait answer: $out"
msg=$(sed -nE 's/.* msg=([0-9]+) .*/\1/p' <<<"$out")
wait_for "${LOG[b]}" "delivered msg=$msg to=$(short a)" 5 || fail "b's log: no delivered line for message $msg"
out=$(ctl b send "$(short a)" @x --wait --kind unreliable 2>&1); [ $? -eq 1 ] && grep -q 'have no receipt' <<<"$out" || fail "unreliable --wait: $out"
head -c $((8 << 20)) /dev/urandom >"$T/8m.bin"
out=$(ctl b send "$(short a)" "$T/8m.bin" --wait --timeout 0.001 2>&1); rc=$?
[ $rc -eq 1 ] && grep -qE 'no outcome for message [0-9]+ to [0-9a-f]{16} within 1 ms' <<<"$out" || fail "send --wait --timeout 0.001: rc=$rc $out"
wait_for "$T/mon.txt" "^message from=${ID[b]} len=$((8 << 20)) " 30 || fail "8 MiB not delivered after all"
kill -STOP "${PID[a]}"
out=$(ctl b send "$(short a)" "$T/8m.bin" --wait --timeout 20 2>&1); rc=$?
kill -CONT "${PID[a]}"
[ $rc -eq 1 ] && grep -qE 'message [0-9]+ to [0-9a-f]{16} failed: peer unreachable' <<<"$out" || fail "send --wait to a stopped peer: rc=$rc $out"
grep -qE "send-failed msg=[0-9]+ to=$(short a) reason=WEFT_ERR_UNREACHABLE" "${LOG[b]}" || fail "b's log: no send-failed line"
wait_for "${LOG[b]}" "peer-up id=$(short a) " 15 || fail "b did not reconnect"
echo "ok: send --wait: delivered (receipt); timeout says so; a failure names the message and its reason"

# --- 4. a monitor that does not read ---------------------------------------------------------
python3 - "${DIR[a]}/weftd.sock" "$T/go" >"$T/slow.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1]); s.sendall(b"monitor max=1048576\n")
print("monitoring", flush=True)
t0 = time.time()
while not os.path.exists(sys.argv[2]) and time.time() - t0 < 40:
    time.sleep(0.05)          # reads nothing until the shell saw the drop
s.settimeout(10)
try:
    while s.recv(1 << 20):    # now drain: the daemon must have closed us
        pass
    print("closed", flush=True)
except (ConnectionResetError, socket.timeout) as e:
    print("closed" if isinstance(e, ConnectionResetError) else "still open", flush=True)
PY
SLOW=$!
wait_for "$T/slow.out" '^monitoring' 5 || fail "slow monitor did not start"
head -c $((1 << 20)) /dev/urandom >"$T/1m.bin"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do ctl b send "$(short a)" "$T/1m.bin" >/dev/null || fail "send 1 MiB #$i"; done
wait_for "${LOG[a]}" 'control-drop reason=slow-reader state=monitor' 20 || { touch "$T/go"; fail "the monitor that does not read was not dropped"; }
touch "$T/go"
wait "$SLOW"; grep -q '^closed' "$T/slow.out" || fail "slow monitor: $(cat "$T/slow.out")"
"$WEFT" stats --data-dir "${DIR[a]}" >/dev/null || fail "a does not answer after the slow monitor"
echo "ok: a monitor that does not read is dropped"

# --- 5. monitors end -------------------------------------------------------------------------
"$WEFT" monitor --data-dir "${DIR[b]}" >/dev/null 2>"$T/monb.err" & MB=$!
for ((i = 0; i < 100; i++)); do "$WEFT" stats --data-dir "${DIR[b]}" >/dev/null 2>&1 && break; sleep 0.05; done
kill -INT "$MB"; wait "$MB"; rc=$?
[ $rc -eq 0 ] || fail "monitor after SIGINT exited $rc"
stop_node a || fail "a exit status"
wait "$MON"; rc=$?
[ $rc -eq 0 ] || fail "monitor exited $rc when the daemon stopped: $(cat "$T/mon.err")"
grep -q 'weftd stopped (reason=shutdown)' "$T/mon.err" || fail "monitor did not say the daemon stopped: $(cat "$T/mon.err")"
echo "ok: monitors end with SIGINT and with the daemon, exit 0"
echo "PASS"
