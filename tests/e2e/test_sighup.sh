#!/bin/bash
# test_sighup.sh BUILD_DIR -- SIGHUP reloads, it does not kill (issue 9):
#  1. SIGHUP makes weftd re-read its --peers-file (logged `reload
#     signal=SIGHUP ...` and a `peers-file` line) and keep running, still
#     answering its control socket; twice in a row too;
#  2. an address added to the file is joined after the SIGHUP;
#  3. a node without a peers file logs `reload ... peers_file=-`;
#  4. only SIGTERM leaves: the others log member-left, exit status 0.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a d; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 20 "${LOG[$n]}"; }; done; exit 1; }
PF=$WEFT_TMP/peers.txt
echo "# nothing yet" >"$PF"

start_node a --network-passphrase hup || fail "start a"
start_node d --network-passphrase hup --peers-file "$PF" || fail "start d"
wait_for "${LOG[d]}" "peers-file path=$PF lines=1 new=0" 5 || fail "d did not read its peers file"

kill -HUP "${PID[d]}"
wait_for "${LOG[d]}" "reload signal=SIGHUP peers_file=$PF " 5 || fail "no reload line after SIGHUP"
for ((i = 0; i < 100; i++)); do [ "$(count_lines "${LOG[d]}" 'peers-file path=')" -ge 2 ] && break; sleep 0.05; done
[ "$(count_lines "${LOG[d]}" 'peers-file path=')" -ge 2 ] || fail "SIGHUP did not re-read the unchanged peers file"
kill -0 "${PID[d]}" 2>/dev/null || fail "SIGHUP killed weftd"
"$WEFT" stats --data-dir "${DIR[d]}" >/dev/null || fail "d does not answer after SIGHUP"
kill -HUP "${PID[d]}"; kill -HUP "${PID[d]}"
for ((i = 0; i < 100; i++)); do [ "$(count_lines "${LOG[d]}" 'reload signal=SIGHUP')" -ge 3 ] && break; sleep 0.05; done
kill -0 "${PID[d]}" 2>/dev/null || fail "two SIGHUPs killed weftd"
grep -q 'leaving\|shutdown' "${LOG[d]}" && fail "SIGHUP started a shutdown"
echo "ok: SIGHUP re-reads the peers file, weftd keeps running"

printf '127.0.0.1:%s\n' "${PORT[a]}" >>"$PF"
kill -HUP "${PID[d]}"
wait_for "${LOG[a]}" "${LP}member-joined id=$(short d) name=d " 15 || fail "the address added before SIGHUP was not joined"
echo "ok: an address added to the peers file is joined after SIGHUP"

kill -HUP "${PID[a]}"
wait_for "${LOG[a]}" 'reload signal=SIGHUP peers_file=- peers_retried=0' 5 || fail "a: no reload line"
kill -0 "${PID[a]}" 2>/dev/null || fail "SIGHUP killed a"
echo "ok: SIGHUP without a peers file says so"

stop_node d; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM exit status $rc"
grep -q 'leaving reason=SIGTERM' "${LOG[d]}" || fail "no graceful leave on SIGTERM"
wait_for "${LOG[a]}" "${LP}member-left id=$(short d) " 10 || fail "a did not see d leave"
echo "ok: SIGTERM leaves gracefully and exits 0"
echo "PASS"
