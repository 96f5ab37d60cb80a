#!/bin/bash
# test_cli.sh BUILD_DIR -- the user-facing surface of weftd and weft:
# --help/--version, bad flags (exit 2 with a message naming the problem),
# no daemon (exit 3), and a daemon that survives garbage on its control
# socket (unknown requests, control characters, over-long lines, hang-ups).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; exit 1; }
T=$WEFT_TMP

# expect CODE REGEX-ON-OUTPUT cmd...
expect() {
  local code=$1 re=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; output: $out"
  grep -qE -- "$re" <<<"$out" || fail "'$*' output does not match /$re/: $out"
}

expect 0 '--listen ADDR:PORT' "$WEFTD" --help
expect 0 '^usage: weftd' "$WEFTD" -h
expect 0 '^weftd [0-9]+\.[0-9]+\.[0-9]+$' "$WEFTD" -V
# --help is complete: every flag docs/DAEMON.md lists for weftd is in it
DOC=$HERE/../../docs/DAEMON.md
flags=$(sed -n '/^## weftd flags/,/^## /p' "$DOC" | grep -oE -- '--[a-z][a-z-]+' | sort -u)
[ -n "$flags" ] || fail "no flags found in docs/DAEMON.md"
help=$("$WEFTD" --help)
for f in $flags; do grep -q -- "$f" <<<"$help" || fail "weftd --help does not mention $f (docs/DAEMON.md does)"; done
expect 0 '--network-passphrase' "$WEFTD" --help
expect 0 'Exit codes' "$WEFTD" --help
expect 0 '^weftd [0-9]+\.[0-9]+\.[0-9]+$' "$WEFTD" --version
expect 2 'unknown or incomplete option' "$WEFTD" --bogus
expect 2 'data-dir DIR is required' "$WEFTD" --network-passphrase x
expect 2 'exactly one of --network-key' "$WEFTD" --data-dir "$T/x"
expect 2 'exactly one of --network-key' "$WEFTD" --data-dir "$T/x" --network-key "$T/k" --network-passphrase p
expect 2 "listen wants a numeric ADDR:PORT" "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen nonsense
expect 2 'unreachable-ms wants' "$WEFTD" --data-dir "$T/x" --network-passphrase p --unreachable-ms abc
expect 2 'log-level wants' "$WEFTD" --data-dir "$T/x" --network-passphrase p --log-level loud
expect 2 'unexpected argument' "$WEFTD" --data-dir "$T/x" --network-passphrase p stray
expect 2 'beacon nosuchif0: no such network interface' timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen 127.0.0.1:0 --beacon nosuchif0
expect 2 'incomplete option' "$WEFTD" --data-dir
expect 2 'network-passphrase must not be empty' timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase ''
echo "ok: weftd flags"

expect 0 'keygen' "$WEFT" --help
# every command has its own help, exit 0, naming its options
cmds=$("$WEFT" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}')
[ "$(wc -w <<<"$cmds")" -ge 9 ] || fail "weft --help lists too few commands: $cmds"
for c in $cmds; do
  expect 0 "^usage: weft $c" "$WEFT" "$c" --help
  expect 0 "^usage: weft $c" "$WEFT" help "$c"
done
expect 0 'priority' "$WEFT" send --help
for c in $(sed -n '/^## weft CLI/,/^## /p' "$DOC" | grep -oE '^    weft [a-z-]+' | awk '{print $2}' | sort -u); do
  grep -qw -- "$c" <<<"$cmds" || fail "docs/DAEMON.md documents 'weft $c', weft --help does not list it"
done
expect 0 'Exit codes' "$WEFT" --help
expect 0 '^weft [0-9]+\.[0-9]+\.[0-9]+$' "$WEFT" --version
expect 2 'unknown command' "$WEFT" frobnicate --data-dir "$T/x"
expect 2 'unknown option' "$WEFT" peers --bogus
expect 2 'which daemon' env -u WEFT_CONTROL "$WEFT" peers
expect 2 'usage: weft send' "$WEFT" send --data-dir "$T/x"
expect 3 'cannot reach weftd' "$WEFT" peers --control "$T/nothing.sock"
expect 0 "network key written" "$WEFT" keygen --network-key "$T/net.key"
mkdir -m 700 "$T/idd"
id1=$("$WEFT" id --data-dir "$T/idd" 2>/dev/null) || fail "weft id"
id2=$("$WEFT" id --data-dir "$T/idd" 2>/dev/null) || fail "weft id (again)"
[[ "$id1" =~ ^[0-9a-f]{64}$ ]] && [ "$id1" = "$id2" ] || fail "weft id not stable: $id1 / $id2"
expect 2 'does not exist.*--create' "$WEFT" id --data-dir "$T/typo-dir"
[ -e "$T/typo-dir" ] && fail "weft id created a missing data directory without --create"
expect 0 '^[0-9a-f]{64}$' "$WEFT" id --data-dir "$T/newdir" --create
expect 0 '"created":false' "$WEFT" id --data-dir "$T/newdir" --json
expect 1 "$T/no/such/dir/k.key: No such file or directory" "$WEFT" keygen --network-key "$T/no/such/dir/k.key"
printf 0123456789 >"$T/short.key"; chmod 600 "$T/short.key"
expect 2 "short.key: 10 bytes, expected 32" timeout 5 "$WEFTD" --data-dir "$T/idd" --network-key "$T/short.key"
expect 2 'is a directory, not weftd.s control socket' "$WEFT" stats --control "$T"
expect 2 'exists and is not a socket \(a directory\)' timeout 5 "$WEFTD" --data-dir "$T/idd" --network-passphrase p --listen 127.0.0.1:0 --control "$T"
expect 2 'the message argument is empty: expected FILE, - \(standard input\) or @TEXT' "$WEFT" send 7e91 "" --control "$T/nothing.sock"
expect 3 'did not answer within' "$WEFT" status --wait 0.3 --control "$T/nothing.sock"
echo "ok: weft flags, keygen, id, clear errors"

# key files the user must fix: exit 2 with a message saying what is wrong
expect 2 'WEFT_ERR_NOT_FOUND' "$WEFTD" --data-dir "$T/idd" --network-key "$T/missing.key"
chmod 644 "$T/net.key"
expect 2 'WEFT_ERR_KEY_PERMS' "$WEFTD" --data-dir "$T/idd" --network-key "$T/net.key"
chmod 600 "$T/net.key"
chmod 644 "$T/idd/identity.key"
expect 2 'chmod 600|WEFT_ERR_KEY_PERMS' "$WEFTD" --data-dir "$T/idd" --network-key "$T/net.key"
chmod 600 "$T/idd/identity.key"
echo "ok: unsafe or missing key files refused"

# --- a daemon under control-socket garbage --------------------------------
start_node d --network-key "$T/net.key" || fail "start d"
[ "$("$WEFT" id --data-dir "${DIR[d]}" 2>/dev/null)" = "${ID[d]}" ] || fail "weft id differs from the daemon's id"
[ "$(stat -c %a "${DIR[d]}/weftd.sock")" = 600 ] || fail "control socket mode $(stat -c %a "${DIR[d]}/weftd.sock"), documented 0600"
expect 0 "^id=${ID[d]}" "$WEFT" daemon-id --data-dir "${DIR[d]}"
expect 0 '^pkts_in=[0-9]+' "$WEFT" stats --data-dir "${DIR[d]}"
expect 0 '^state=running' "$WEFT" status --wait 5 --data-dir "${DIR[d]}"
# --json: one document that python's json module takes, for every command
# that prints data
if command -v python3 >/dev/null; then
  for c in status daemon-id peers stats members membership; do
    "$WEFT" "$c" --json --data-dir "${DIR[d]}" | python3 -m json.tool >/dev/null || fail "weft $c --json is not JSON"
  done
  "$WEFT" id --json --data-dir "${DIR[d]}" | python3 -m json.tool >/dev/null || fail "weft id --json is not JSON"
  "$WEFT" members --json --data-dir "${DIR[d]}" | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert isinstance(m, list) and len(m) == 1 and m[0]["self"] is True and m[0]["name"] == "d", m
assert isinstance(m[0]["inc"], int) and isinstance(m[0]["tags"], dict), m' || fail "members --json content"
  "$WEFT" stats --json --data-dir "${DIR[d]}" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert isinstance(s["pkts_in"], int) and "uv_recv_calls" in s, s' || fail "stats --json content"
  echo "ok: --json output parses"
fi
expect 1 'WEFT_ERR_NO_PEER' "$WEFT" send abcdef0123 @hi --data-dir "${DIR[d]}"
expect 1 'WEFT_ERR_INVAL' "$WEFT" send XYZ @hi --data-dir "${DIR[d]}"
expect 2 'not HOST:PORT' "$WEFT" connect not-an-address --data-dir "${DIR[d]}"

if command -v python3 >/dev/null; then
  python3 - "${DIR[d]}/weftd.sock" <<'PY' || fail "control garbage client failed"
import socket, sys
path = sys.argv[1]
def req(data, expect_error=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
    except ConnectionResetError:
        pass
    s.close()
    if expect_error and not out.startswith(b"error"):
        sys.exit("expected an error line for %r, got %r" % (data[:40], out[:200]))
    return out
req(b"hello world\n")
req(b"\x00\x01\x02\xff\xfe garbage\n")
req(b"peers extra args\n")
req(b"send\n")
req(b"send a b c\n")
req(b"A" * 100000)                # over-long line, no newline
req(b"send " + b"f" * 5000 + b"\n")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); s.close()  # hang up at once
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); s.sendall(b"sta"); s.close()  # partial line
out = req(b"stats\n", expect_error=False)
assert b"pkts_in=" in out and out.endswith(b"\n\n"), out
PY
  echo "ok: control socket garbage answered with error lines"
else
  echo "note: python3 missing, control-socket garbage part skipped"
fi
kill -0 "${PID[d]}" 2>/dev/null || fail "daemon died"
expect 0 '^pkts_in=' "$WEFT" stats --data-dir "${DIR[d]}"

# connect by name (resolved with uv_getaddrinfo; localhost may give ::1
# first, which d has no socket for: the IPv4 answer must be used)
start_node e --network-key "$T/net.key" || fail "start e"
expect 0 "^ok peer-up id=${ID[e]} addr=127.0.0.1:${PORT[e]} already=0" "$WEFT" connect "localhost:${PORT[e]}" --data-dir "${DIR[d]}"
wait_for "${LOG[d]}" "${LP}peer-up id=$(short e) addr=127.0.0.1:${PORT[e]} " 15 || fail "connect by name: no session"
expect 0 "^peer id=${ID[e]} addr=127.0.0.1:${PORT[e]} established=1" "$WEFT" peers --data-dir "${DIR[d]}"
expect 1 'WEFT_ERR_NOT_FOUND no-such-host.invalid:1 does not resolve' "$WEFT" connect "no-such-host.invalid:1" --data-dir "${DIR[d]}"
expect 0 '^ok connecting no-such-host.invalid:1' "$WEFT" connect "no-such-host.invalid:1" --timeout 0 --data-dir "${DIR[d]}"
wait_for "${LOG[d]}" "${LP}handshake-failed addr=- reason=WEFT_ERR_NOT_FOUND" 30 || fail "unresolvable name not reported"
stop_node e || fail "e exit status"
wait_for "${LOG[d]}" "${LP}peer-down id=$(short e) .*reason=WEFT_ERR_PEER_CLOSED" 15 || fail "graceful close not seen as PEER_CLOSED"
echo "ok: connect by name, unresolvable name, graceful close"

# a second daemon on another data dir but the same control socket must
# refuse to start (the same data dir: test_datadir.sh)
mkdir -m 700 "$T/other"
timeout 10 "$WEFTD" --data-dir "$T/other" --control "${DIR[d]}/weftd.sock" --network-key "$T/net.key" --listen 127.0.0.1:0 >/dev/null 2>"$T/dup.err"
rc=$?
[ $rc -eq 1 ] && grep -q 'another weftd answers' "$T/dup.err" || fail "second daemon on the same control socket: rc=$rc $(cat "$T/dup.err")"

stop_node d; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM exit status $rc"
grep -q "${LP}shutdown reason=SIGTERM" "${LOG[d]}" && grep -q "${LP}stopped" "${LOG[d]}" || fail "no shutdown/stopped lines"
[ -e "${DIR[d]}/weftd.sock" ] && fail "control socket left behind"
echo "PASS"
