#!/bin/bash
# demo.sh BUILD_DIR -- `make demo`: three weftd nodes on 127.0.0.1 form an
# encrypted mesh, exchange messages and a 4 MiB file, and the receivers'
# logs prove delivery by SHA-256.  Ports are chosen by the OS (127.0.0.1:0)
# and read back from each node's `node ... listening=` line.  Every wait is
# bounded and polls the logs; the nodes are stopped with SIGTERM and the
# temporary directory removed even on failure.  Exit 0 only if every check
# passed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/e2e/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
fail() { echo "demo: FAILED: $*"; for n in alpha beta gamma delta; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n log"; tail -n 20 "${LOG[$n]}"; }; done; exit 1; }

echo "== weft demo: 3 nodes on 127.0.0.1 (temp dir $WEFT_TMP)"
"$WEFT" keygen --network-key "$WEFT_TMP/network.key" >/dev/null || fail "keygen"
K=(--network-key "$WEFT_TMP/network.key")

start_node alpha "${K[@]}" --tag role=server --tag models=yolov8 || fail "start alpha"
start_node beta "${K[@]}" --peer "127.0.0.1:${PORT[alpha]}" --status processing --tag role=camera --tag fps=30 || fail "start beta"
start_node gamma "${K[@]}" --peer "127.0.0.1:${PORT[alpha]}" --peer "127.0.0.1:${PORT[beta]}" --status idle --tag role=camera --tag battery=87 || fail "start gamma"
for n in alpha beta gamma; do echo "   $n  id=${ID[$n]}  udp=127.0.0.1:${PORT[$n]}"; done

echo "== waiting for sessions (each node must see the other two)"
for n in alpha beta gamma; do
  for m in alpha beta gamma; do
    [ "$n" = "$m" ] && continue
    wait_for "${LOG[$n]}" "${LP}peer-up id=$(short "$m") " 15 || fail "$n has no session with $m"
  done
done
echo "   all 3 sessions up"

echo "== sending messages"
declare -a CHECKS=()
send_text() { # from to text
  local out
  out=$(ctl "$1" send "$(short "$2")" "@$3") || fail "send $1 -> $2: $out"
  CHECKS+=("$1 $2 $(printf %s "$3" | sha256sum | cut -d' ' -f1) ${#3} text")
}
send_text beta alpha "hello alpha, this is beta"
send_text gamma beta "gamma to beta: detection camera_7 person conf=0.93"
send_text alpha gamma "alpha to gamma: config v2 applied"
head -c $((4 << 20)) /dev/urandom >"$WEFT_TMP/blob.bin"
BLOB_SHA=$(sha "$WEFT_TMP/blob.bin")
ctl alpha send "$(short gamma)" "$WEFT_TMP/blob.bin" --priority low >/dev/null || fail "send 4 MiB file"
CHECKS+=("alpha gamma $BLOB_SHA $((4 << 20)) file")
ctl gamma send "$(short alpha)" "@urgent: battery low" --priority critical --kind unordered >/dev/null || fail "send critical"
CHECKS+=("gamma alpha $(printf %s "urgent: battery low" | sha256sum | cut -d' ' -f1) 19 text")

echo "== verifying delivery by sha256 in the receivers' logs"
for c in "${CHECKS[@]}"; do
  read -r from to h len what <<<"$c"
  wait_for "${LOG[$to]}" "${LP}message from=$(short "$from") len=$len .*sha256=$h" 30 \
    || fail "$what of $len bytes $from -> $to not delivered (sha256 $h)"
  printf '   %-6s -> %-6s %8d bytes  sha256=%s..  OK\n' "$from" "$to" "$len" "${h:0:16}"
done

echo "== weft peers (as seen by alpha)"
ctl alpha peers | tee "$WEFT_TMP/alpha.peers"; [ "${PIPESTATUS[0]}" -eq 0 ] || fail "weft peers"
echo "== weft stats (alpha, excerpt)"
ctl alpha stats | grep -E '^(pkts_in|pkts_out|msgs_delivered|retransmits|handshakes_ok|sessions)=' | tr '\n' ' '; echo

echo "== membership: weft members (as seen by alpha; SWIM + Lifeguard, no session needed)"
for m in beta gamma; do
  wait_for "${LOG[alpha]}" "${LP}member-joined id=$(short "$m") name=$m " 15 || fail "alpha never saw $m join the membership"
done
ctl alpha members || fail "weft members"
echo "== a node joining: delta (--peers-file with alpha's address, no session)"
echo "127.0.0.1:${PORT[alpha]}  # bootstrap" >"$WEFT_TMP/peers.txt"
start_node delta "${K[@]}" --peers-file "$WEFT_TMP/peers.txt" --status active --tag role=sensor --tag battery=42 || fail "start delta"
for n in alpha beta gamma; do
  wait_for "${LOG[$n]}" "${LP}member-joined id=$(short delta) name=delta " 15 || fail "$n did not see delta join"
  echo "   $n: $(grep -m1 "${LP}member-joined id=$(short delta) " "${LOG[$n]}")"
done
ctl beta members || fail "weft members"
echo "== a node leaving: delta gets SIGTERM (graceful leave)"
stop_node delta || fail "delta did not exit 0"
for n in alpha beta gamma; do
  wait_for "${LOG[$n]}" "${LP}member-left id=$(short delta) " 15 || fail "$n did not see delta leave"
  echo "   $n: $(grep -m1 "${LP}member-left id=$(short delta) " "${LOG[$n]}")"
done
ctl gamma members || fail "weft members"
echo "== weft membership (gamma, excerpt)"
ctl gamma membership | grep -E '^(members|alive|left|failed|probes|pushpulls|bytes_out)=' | tr '\n' ' '; echo

echo "== stopping nodes (SIGTERM)"
for n in gamma beta alpha; do
  stop_node "$n"; rc=$?
  [ $rc -eq 0 ] || fail "$n exited with $rc after SIGTERM"
  grep -q "${LP}stopped" "${LOG[$n]}" || fail "$n did not log 'stopped'"
done

echo
echo "== summary"
for n in alpha beta gamma; do
  echo "   $n ${ID[$n]:0:16}.. sessions=$(count_lines "${LOG[$n]}" "${LP}peer-up ") messages-in=$(count_lines "${LOG[$n]}" "${LP}message ")"
done
for m in beta gamma; do
  rtt=$(grep -E "^peer id=${ID[$m]} " "$WEFT_TMP/alpha.peers" | grep -oE 'srtt_us=[0-9]+' | cut -d= -f2)
  mtu=$(grep -E "^peer id=${ID[$m]} " "$WEFT_TMP/alpha.peers" | grep -oE 'mtu=[0-9]+' | cut -d= -f2)
  echo "   alpha -> $m: smoothed RTT ${rtt:-?} us, path MTU ${mtu:-?} bytes"
done
echo "   ${#CHECKS[@]} messages delivered and verified by sha256, including a 4 MiB file"
echo "   every session: Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b with the mesh network key;"
echo "   nodes are identified by their Ed25519 public keys"
echo "demo: OK"
