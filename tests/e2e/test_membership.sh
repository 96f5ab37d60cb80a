#!/bin/bash
# test_membership.sh BUILD_DIR -- membership with 50 real weftd on 127.0.0.1:
#  1. 50 nodes join through one bootstrap node (half by --peer, half by a
#     --peers-file that also holds a comment and a bad line) and converge:
#     every node's `weft members --raw` lists 50 members, all alive;
#  2. the bootstrap node's metadata (--name, --status, --tag) is visible on
#     every other node;
#  3. a node with a WRONG network key that tries to join never appears in
#     anyone's view, and the bootstrap node counts its packets as bad MACs;
#  4. `kill -9` of one node: all 49 others log member-failed for it;
#  5. SIGTERM of another: all 48 others log member-left for it, and it
#     exits 0;
#  6. no member-failed is ever logged for a node that was alive.
# Measured times (full view after the last start, failure detection,
# leave) are printed as figures, not asserted.  Every wait polls logs or
# the control socket with a cap; the EXIT trap stops every process.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
trap stop_all EXIT
N=${N:-50}
fail() {
  echo "FAIL: $*"
  for n in n0 n1 "${@:2}"; do [ -f "${LOG[$n]:-/nonexistent}" ] && { echo "--- $n"; tail -n 15 "${LOG[$n]}"; }; done
  exit 1
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

"$WEFT" keygen --network-key "$WEFT_TMP/good.key" >/dev/null || fail "keygen"
"$WEFT" keygen --network-key "$WEFT_TMP/bad.key" >/dev/null || fail "keygen"
K=(--network-key "$WEFT_TMP/good.key" --unreachable-ms 3000)

start_node n0 "${K[@]}" --status processing --tag role=bootstrap --tag fps=30 || fail "start n0"
BOOT=127.0.0.1:${PORT[n0]}
PF=$WEFT_TMP/peers.txt
printf '# the mesh bootstrap list\n\nnot-an-address\n%s   # the bootstrap node\n' "$BOOT" >"$PF"
for ((i = 1; i < N; i++)); do
  if ((i % 2)); then
    start_node "n$i" "${K[@]}" --peer "$BOOT" || fail "start n$i"
  else
    start_node "n$i" "${K[@]}" --peers-file "$PF" || fail "start n$i"
  fi
done
T_LAST=$(ms)
echo "ok: $N nodes started"
grep -q 'peers-file-error .*line=3 reason=bad-address' "${LOG[n2]}" || fail "bad peers-file line not reported" n2

# the wrong-key node tries to join through the bootstrap node
start_node evil --network-key "$WEFT_TMP/bad.key" --peer "$BOOT" || fail "start evil"

# --- 1. full view: every node logged N-1 member-joined ---------------------
converged=0
for ((r = 0; r < 1200; r++)); do   # cap 60 s
  all=1
  for ((i = 0; i < N; i++)); do
    [ "$(count_lines "${LOG[n$i]}" "${LP}member-joined ")" -ge $((N - 1)) ] || { all=0; break; }
  done
  [ $all = 1 ] && { converged=1; break; }
  sleep 0.05
done
T_VIEW=$(ms)
[ $converged = 1 ] || fail "no full view within 60 s (n$i has $(count_lines "${LOG[n$i]}" "${LP}member-joined ") joins)" "n$i"
for ((i = 0; i < N; i++)); do
  v=$(ctl "n$i" members --raw) || fail "members on n$i"
  [ "$(grep -c '^member ' <<<"$v")" -eq "$N" ] || fail "n$i lists $(grep -c '^member ' <<<"$v") members, want $N" "n$i"
  [ "$(grep -c ' state=alive ' <<<"$v")" -eq "$N" ] || fail "n$i: not all $N alive" "n$i"
  grep -q "${ID[evil]}" <<<"$v" && fail "n$i lists the wrong-key node"
  # --- 2. metadata of n0 everywhere
  grep -qE "^member id=${ID[n0]} name=n0 state=alive .* status=processing tags=role=bootstrap,fps=30$" <<<"$v" ||
    fail "n$i does not show n0's name/status/tags" "n$i"
done
echo "ok: full view ($N alive on every node), n0's metadata everywhere"
echo "figure: full_view_after_last_start_ms=$((T_VIEW - T_LAST)) (log polling granularity ~50 ms x $N files)"

# --- 3. wrong key: counted, never a member ---------------------------------
bad_mac=$(ctl n0 membership | sed -n 's/^drop_bad_mac=//p')
[ "${bad_mac:-0}" -gt 0 ] || fail "n0 counted no bad-MAC membership packets from the wrong-key node"
grep -q "${LP}member-joined" "${LOG[evil]}" && fail "the wrong-key node saw a member"
stop_node evil || true
echo "ok: wrong-key node kept out (n0 drop_bad_mac=$bad_mac)"

# --- 4. kill -9 one node -----------------------------------------------------
V=n7
kill -KILL "${PID[$V]}"; wait "${PID[$V]}" 2>/dev/null; unset "PID[$V]"
T_KILL=$(ms)
for ((r = 0; r < 600; r++)); do   # cap 30 s
  missing=0
  for ((i = 0; i < N; i++)); do
    [ "n$i" = "$V" ] && continue
    grep -q "${LP}member-failed id=$(short "$V") " "${LOG[n$i]}" || { missing=$((missing + 1)); m=n$i; }
  done
  [ $missing = 0 ] && break
  sleep 0.05
done
T_FAIL=$(ms)
[ $missing = 0 ] || fail "$missing nodes did not see $V fail within 30 s (e.g. $m)" "$m"
echo "ok: kill -9 $V seen as failed by all $((N - 1)) others"
echo "figure: failure_seen_by_all_ms=$((T_FAIL - T_KILL))"

# --- 5. graceful stop ---------------------------------------------------------
L=n8
T_TERM=$(ms)
stop_node "$L" || fail "$L did not exit 0 on SIGTERM"
for ((r = 0; r < 600; r++)); do
  missing=0
  for ((i = 0; i < N; i++)); do
    [ "n$i" = "$V" ] || [ "n$i" = "$L" ] && continue
    grep -q "${LP}member-left id=$(short "$L") " "${LOG[n$i]}" || { missing=$((missing + 1)); m=n$i; }
  done
  [ $missing = 0 ] && break
  sleep 0.05
done
T_LEFT=$(ms)
[ $missing = 0 ] || fail "$missing nodes did not see $L leave within 30 s (e.g. $m)" "$m"
grep -q "${LP}member-failed id=$(short "$L") " "${LOG[@]}" 2>/dev/null && fail "someone declared the leaving node failed"
echo "ok: SIGTERM $L seen as left by all $((N - 2)) others"
echo "figure: leave_seen_by_all_ms=$((T_LEFT - T_TERM)) (includes the process exit)"

# --- 6. no false failures -----------------------------------------------------
false_pos=0
for ((i = 0; i < N; i++)); do
  [ "n$i" = "$V" ] || [ "n$i" = "$L" ] && continue
  c=$(grep "${LP}member-failed " "${LOG[n$i]}" | grep -vc "id=$(short "$V") ")
  false_pos=$((false_pos + c))
done
echo "figure: false_member_failed=$false_pos"
[ $false_pos = 0 ] || fail "$false_pos member-failed events for live nodes"
echo "PASS"
