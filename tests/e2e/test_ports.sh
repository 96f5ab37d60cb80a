#!/bin/bash
# test_ports.sh BUILD_DIR -- ports outside 1-65535 are errors everywhere
# (issue 12 item 6): they used to wrap silently (70000 dialled 4464) or, for
# 0, be dialled as is.
#  1. weftd flags: --peer with port 0, 65536, 70000, 99999 (numeric and by
#     name) exits 2 naming the port; --listen/--advertise over 65535 exit 2;
#     --listen 127.0.0.1:0 still lets the OS choose;
#  2. peers file: such lines are logged as bad-address and skipped;
#  3. control socket: `connect` with such ports answers an error (the CLI
#     exits 2 before asking), and nothing is dialled.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 20 "${LOG[$n]}"; }; done; exit 1; }
T=$WEFT_TMP
mkdir -m 700 "$T/x"

# expect CODE REGEX cmd...
expect() {
  local code=$1 re=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; output: $out"
  grep -qE -- "$re" <<<"$out" || fail "'$*' output does not match /$re/: $out"
}

for p in 0 65536 70000 99999 4294967297; do
  expect 2 "port" timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen 127.0.0.1:0 --peer "127.0.0.1:$p"
  expect 2 "port" timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen 127.0.0.1:0 --peer "localhost:$p"
done
expect 2 "listen wants" timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen 127.0.0.1:70000
expect 2 "advertise wants" timeout 5 "$WEFTD" --data-dir "$T/x" --network-passphrase p --listen 127.0.0.1:0 --advertise 127.0.0.1:70000
echo "ok: weftd refuses --peer/--listen/--advertise ports outside 1-65535"

PF=$T/peers.txt
printf '127.0.0.1:70000\n127.0.0.1:0\nlocalhost:99999\n127.0.0.1:65536\n' >"$PF"
start_node a --network-passphrase p --peers-file "$PF" --log-level debug || fail "start a"
wait_for "${LOG[a]}" 'peers-file path=.* lines=4 new=0 bad=4' 10 || fail "bad ports in the peers file not all refused"
for l in 1 2 3 4; do grep -q "peers-file-error .*line=$l reason=bad-address" "${LOG[a]}" || fail "peers-file line $l not reported"; done
echo "ok: peers-file lines with bad ports reported and skipped"

for hp in 127.0.0.1:99999 127.0.0.1:70000 127.0.0.1:0 localhost:99999 localhost:0 '[::1]:70000'; do
  expect 2 "port" "$WEFT" connect "$hp" --data-dir "${DIR[a]}"
done
if command -v python3 >/dev/null; then
  python3 - "${DIR[a]}/weftd.sock" <<'PY' || fail "control connect with a bad port was accepted"
import socket, sys
for hp in ["127.0.0.1:99999", "127.0.0.1:70000", "127.0.0.1:0", "localhost:99999", "localhost:0", "localhost:65536"]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(("connect %s\n" % hp).encode())
    out = b""
    while not out.endswith(b"\n\n"):
        c = s.recv(4096)
        if not c:
            break
        out += c
    s.close()
    if not out.startswith(b"error "):
        sys.exit("connect %s answered %r" % (hp, out))
PY
fi
grep -E 'connect addr=.*:(4464|34463) ' "${LOG[a]}" && fail "a wrapped port was dialled"
kill -0 "${PID[a]}" || fail "daemon died"
echo "ok: connect with a bad port refused (CLI exit 2, daemon error line)"
echo "PASS"
