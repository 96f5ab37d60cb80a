#!/bin/bash
# test_membership_discovery.sh BUILD_DIR -- discovery sources on 127.0.0.1
# without root:
#  1. three weftd with `--beacon lo` (no --peer) on a free beacon port find
#     each other by loopback beacons: full view of 3 alive everywhere;
#  2. a node with another network key beaconing on the same port is
#     counted as beacons_other_mesh and never becomes a member;
#  3. a copy of a real beacon with one address byte changed is counted as
#     beacons_bad_sig (and a garbage datagram as beacons_malformed);
#  4. --peers-file: a node whose file starts with only a comment joins once
#     the file is rewritten (atomically, by rename) with a member's address;
#  5. metadata over the caps: weftd exits 2 with a clear message; a
#     wildcard --listen without --advertise exits 2 too.
# Waits poll logs and control sockets with caps; the trap stops everything.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "FAIL: $*"; for n in a b c z d; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 15 "${LOG[$n]}"; }; done; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 needed to forge beacons"; exit 77; }

BP=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
"$WEFT" keygen --network-key "$WEFT_TMP/good.key" >/dev/null || fail "keygen"
"$WEFT" keygen --network-key "$WEFT_TMP/other.key" >/dev/null || fail "keygen"
B=(--beacon lo --beacon-port "$BP" --beacon-interval-ms 300)

# --- 1. beacons alone ----------------------------------------------------------
for n in a b c; do start_node "$n" --network-key "$WEFT_TMP/good.key" "${B[@]}" --beacon-family 4 || fail "start $n"; done
start_node z --network-key "$WEFT_TMP/other.key" "${B[@]}" --beacon-family 4 || fail "start z"
for ((r = 0; r < 300; r++)); do   # cap 15 s
  ok=1
  for n in a b c; do [ "$(ctl "$n" members --raw | grep -c ' state=alive ')" -eq 3 ] || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.05
done
[ $ok = 1 ] || fail "loopback beacons: no full view of 3"
grep -q "${LP}beacon-join .* iface=lo rc=0\$" "${LOG[a]}" "${LOG[b]}" "${LOG[c]}" || fail "no beacon-join logged"
echo "ok: 3 nodes found each other by loopback beacons alone"

# --- 2. other mesh ---------------------------------------------------------------
for ((r = 0; r < 200; r++)); do
  [ "$(ctl a membership | sed -n 's/^beacons_other_mesh=//p')" -gt 0 ] && break
  sleep 0.05
done
[ "$(ctl a membership | sed -n 's/^beacons_other_mesh=//p')" -gt 0 ] || fail "other-mesh beacons not counted"
for n in a b c; do ctl "$n" members --raw | grep -q "${ID[z]}" && fail "$n lists the other-mesh node"; done
grep -q "${LP}member-joined" "${LOG[z]}" && fail "the other-mesh node saw a member"
echo "ok: other mesh ignored and counted"

# --- 3. forged and garbage beacons ------------------------------------------------
bad0=$(ctl a membership | sed -n 's/^beacons_bad_sig=//p')
mal0=$(ctl a membership | sed -n 's/^beacons_malformed=//p')
python3 - "$BP" "${ID[b]}" <<'PY' || fail "could not forge a beacon"
import socket, sys
port, want = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
r.bind(("0.0.0.0", port))
r.settimeout(5)
for _ in range(100):                 # a real beacon of node b (same mesh)
    b = bytearray(r.recv(512))
    if b[:4] == b"WFTB" and b[16:48] == want:
        break
else:
    sys.exit(1)
b[58] ^= 0x01                        # port byte of the first address
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for _ in range(3):
    s.sendto(bytes(b), ("127.255.255.255", port))
    s.sendto(b"WFTB garbage", ("127.255.255.255", port))
PY
for ((r = 0; r < 200; r++)); do
  bad=$(ctl a membership | sed -n 's/^beacons_bad_sig=//p')
  oth=$(ctl a membership | sed -n 's/^beacons_other_mesh=//p')
  mal=$(ctl a membership | sed -n 's/^beacons_malformed=//p')
  [ "$mal" -gt "$mal0" ] && [ "$bad" -gt "$bad0" ] && break
  sleep 0.05
done
[ "$mal" -gt "$mal0" ] || fail "garbage beacon not counted as malformed"
[ "$bad" -gt "$bad0" ] || fail "forged beacon not counted as beacons_bad_sig"
echo "ok: forged beacon counted (beacons_bad_sig=$bad), garbage counted (beacons_malformed=$mal)"
[ "$(ctl a members --raw | grep -c '^member ')" -eq 3 ] || fail "a forged beacon changed the member list"

# --- 4. peers file rewritten at run time --------------------------------------------
PF=$WEFT_TMP/peers.txt
echo "# nothing yet" >"$PF"
start_node d --network-key "$WEFT_TMP/good.key" --peers-file "$PF" --name dnode || fail "start d"
printf '# registry output\n127.0.0.1:%s\n' "${PORT[a]}" >"$PF.tmp" && mv "$PF.tmp" "$PF"
wait_for "${LOG[a]}" "${LP}member-joined id=$(short d) name=dnode " 15 || fail "a did not see d join after the peers file changed"
wait_for "${LOG[d]}" "${LP}peers-file path=.* new=1 " 5 || fail "d did not log the re-read"
echo "ok: peers file re-read on change and joined"

# --- 5. configuration errors -----------------------------------------------------------
mkdir -p "$WEFT_TMP/x" && chmod 700 "$WEFT_TMP/x"
long=$(printf 'v%.0s' $(seq 1 300))
"$WEFTD" --data-dir "$WEFT_TMP/x" --network-key "$WEFT_TMP/good.key" --listen 127.0.0.1:0 --tag "k=$long" >/dev/null 2>"$WEFT_TMP/x.err"
rc=$?
[ $rc = 2 ] || fail "oversized tag: exit $rc, want 2"
grep -q 'metadata too big' "$WEFT_TMP/x.err" || fail "oversized tag: no clear message: $(cat "$WEFT_TMP/x.err")"
"$WEFTD" --data-dir "$WEFT_TMP/x" --network-key "$WEFT_TMP/good.key" --listen 0.0.0.0:0 >/dev/null 2>"$WEFT_TMP/x.err"
rc=$?
[ $rc = 2 ] || fail "wildcard without --advertise: exit $rc, want 2"
grep -q -- '--advertise' "$WEFT_TMP/x.err" || fail "wildcard: message does not mention --advertise"
echo "ok: oversized metadata and missing --advertise exit 2 with a message"
echo "PASS"
