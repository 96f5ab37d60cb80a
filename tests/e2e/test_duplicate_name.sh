#!/bin/bash
# test_duplicate_name.sh BUILD_DIR -- two nodes started with the same
# --name both warn `duplicate-name name=X ids=<a>,<b>` once the other shows
# up in the membership (issue 9: a duplicate was accepted silently); a
# third node with another name does not warn.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a b c; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 15 "${LOG[$n]}"; }; done; exit 1; }

start_node a --network-passphrase dup --name cam1 || fail "start a"
start_node b --network-passphrase dup --name cam1 --peer "127.0.0.1:${PORT[a]}" || fail "start b"
start_node c --network-passphrase dup --name cam2 --peer "127.0.0.1:${PORT[a]}" || fail "start c"
ids="($(short a),$(short b)|$(short b),$(short a))"
wait_for "${LOG[a]}" "${LP}duplicate-name name=cam1 ids=$ids " 15 || fail "a did not warn about the duplicate name"
wait_for "${LOG[b]}" "${LP}duplicate-name name=cam1 ids=$ids " 15 || fail "b did not warn about the duplicate name"
grep -q "^[^ ]* warn duplicate-name" "${LOG[a]}" || fail "duplicate-name is not at level warn"
wait_for "${LOG[c]}" "${LP}member-joined id=$(short b) name=cam1 " 15 || fail "c did not see b"
grep -q duplicate-name "${LOG[c]}" && fail "c (another name) warned"
[ "$(count_lines "${LOG[a]}" 'duplicate-name')" -eq 1 ] || fail "a warned more than once"
echo "PASS"
