#!/bin/bash
# run.sh BUILD_DIR -- `make bench`: runs every benchmark of bench/ built in
# BUILD_DIR and prints their JSON lines, then a table against the targets.
# Benchmarks are not tests: nothing fails on a missed target; the exit
# status is non-zero only when a benchmark could not run.
# Environment: SECS (seconds per throughput size, default 4),
#              RTT_COUNT (round trips after warm-up, default 20000),
#              MEMBERSHIP_RUNS (default 2),
#              REGISTRY_ARGS (bench_registry options, e.g. "--quick").
set -u
B=$(cd "${1:-build}" && pwd) || exit 2
BIN=$B/bench_transport
[ -x "$BIN" ] || { echo "bench: $BIN not built (make build)"; exit 2; }
OUT=$B/bench-results.jsonl
echo "# weft transport benchmark: $(date -u +%FT%TZ), kernel $(uname -r), $(nproc) cores, 127.0.0.1" >&2
echo "# rmem_max=$(cat /proc/sys/net/core/rmem_max 2>/dev/null) wmem_max=$(cat /proc/sys/net/core/wmem_max 2>/dev/null)" >&2
timeout 300 "$BIN" --secs "${SECS:-4}" --rtt-count "${RTT_COUNT:-20000}" | tee "$OUT"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || { echo "bench: bench_transport exited $rc" >&2; exit 1; }

# Targets (from the transport issue): RTT median <= 1.3x raw, p99 <= 1.5x
# raw; 64 B msgs/s >= raw datagram rate; 1 KiB >= 0.8x raw; 64 KiB >= 1 GB/s.
echo
awk '
function num(key,   m) { if (match($0, "\"" key "\":[-0-9.e+]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0 } return -1 }
function met(ok) { return ok ? "met" : "NOT met" }
# a throughput target counts only when every message sent was delivered
/"bench":"transport"/ {
  metric = $0; sub(/.*"metric":"/, "", metric); sub(/".*/, "", metric)
  v[metric] = num("value"); r[metric] = num("ratio")
}
END {
  printf "%-18s %12s %12s %8s  %-22s %s\n", "metric", "weft", "raw UDP", "ratio", "target", ""
  row("rtt_median_us", "<= 1.3x raw", r["rtt_median_us"] >= 0 && r["rtt_median_us"] <= 1.3)
  row("rtt_p99_us", "<= 1.5x raw", r["rtt_p99_us"] >= 0 && r["rtt_p99_us"] <= 1.5)
  row("msgs_per_s_64B", ">= 1.0x raw dgrams/s", r["msgs_per_s_64B"] >= 1.0 && v["undelivered_msgs_64B"] == 0)
  row("msgs_per_s_1KiB", ">= 0.8x raw dgrams/s", r["msgs_per_s_1KiB"] >= 0.8 && v["undelivered_msgs_1KiB"] == 0)
  row("MBps_64KiB", ">= 1000 MB/s", v["MBps_64KiB"] >= 1000 && v["undelivered_msgs_64KiB"] == 0)
  for (m in v) if (m ~ /^undelivered_/ && v[m] > 0)
    printf "WARNING: %s = %d: messages accepted by weft_engine_send were never delivered\n", m, v[m]
}
function row(m, t, ok,   base) {
  if (!(m in v)) { printf "%-18s %12s %12s %8s  %-22s %s\n", m, "-", "-", "-", t, "not measured"; return }
  base = (r[m] > 0) ? v[m] / r[m] : 0
  printf "%-18s %12.1f %12.1f %8.2f  %-22s %s\n", m, v[m], base, r[m], t, met(ok)
}' "$OUT"
echo "(raw JSON lines: $OUT)"

# Membership against HashiCorp Serf (bench/bench_membership.py; installs the
# Debian package serf when missing).  Targets at N=50: full view <= 500 ms
# after the last start, failure seen by all <= 3000 ms, RSS <= 4 MiB.
echo
echo "# weft membership vs Serf, N=10 and 50, 127.0.0.1" >&2
MOUT=$B/bench-membership.jsonl
timeout 1800 python3 "$(dirname "$0")/bench_membership.py" "$B" --runs "${MEMBERSHIP_RUNS:-2}" | tee "$MOUT"
awk -F'[:,]' '
/"metric": "(full_view_ms|failure_seen_by_all_ms|rss_kib_median)_N50"/ {
  m = $0; sub(/.*"metric": "/, "", m); sub(/".*/, "", m)
  v = $0; sub(/.*"value": /, "", v); sub(/,.*/, "", v)
  b = $0; sub(/.*"baseline": /, "", b); sub(/,.*/, "", b)
  lim = m ~ /^full_view/ ? 500 : m ~ /^failure/ ? 3000 : 4096
  printf "%-28s %10s %10s (serf)  target <= %d: %s\n", m, v, b, lim, (v + 0 <= lim ? "met" : "NOT met")
}' "$MOUT"
echo "(raw JSON lines: $MOUT)"

# Registry: local k-NN, k = 10 over 100,000 x 512 float32, random and
# clustered data (bench/bench_registry.c).  Baselines in the same run: a
# streaming read of the same vector array and FAISS IndexFlatIP.  FAISS is
# Debian's libfaiss-dev, installed here when missing (not by
# scripts/deps.sh: the tests do not need it); CMake then compiles the
# benchmark's small C++ shim to it.  glibc.malloc.hugetlb=1 lets malloc use
# transparent huge pages (THP is in madvise mode here): fewer TLB misses
# for weft, the streaming baseline and FAISS alike.
# Targets (issue 10): exact within 1.5x of the streaming read and no slower
# than FAISS flat; approximate with recall@10 >= 0.95 at least 10x faster
# than exact.
echo
echo "# weft registry: k=10 over 100,000 x 512 float32" >&2
if ! dpkg-query -W -f='${Status}' libfaiss-dev 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" = 0 ]; then
    echo "bench: installing libfaiss-dev (the FAISS baseline)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y libfaiss-dev >/tmp/weft-apt-faiss.log 2>&1 ||
      echo "bench: could not install libfaiss-dev (see /tmp/weft-apt-faiss.log): FAISS baseline skipped" >&2
  else
    echo "bench: libfaiss-dev missing (sudo apt-get install -y libfaiss-dev): FAISS baseline skipped" >&2
  fi
fi
cmake "$B" >/dev/null 2>&1 && cmake --build "$B" --target bench_registry >/dev/null 2>&1
ROUT=$B/bench-registry.jsonl
if [ -x "$B/bench_registry" ]; then
  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 timeout 1800 "$B/bench_registry" ${REGISTRY_ARGS:-} | tee "$ROUT"
  awk '
  function num(key,   m) { if (match($0, "\"" key "\":[-0-9.e+]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0 } return -1 }
  /"bench":"registry"/ {
    metric = $0; sub(/.*"metric":"/, "", metric); sub(/".*/, "", metric)
    v[metric] = num("value"); r[metric] = num("ratio")
  }
  # row(metric, target text, kind, limit, recall metric): kind "le"
  # compares the ratio with the limit, "ge" the value; an approximate
  # latency counts only with its recall >= 0.95
  function row(m, t, kind, lim, rec,   ok) {
    if (!(m in v)) { printf "%-34s %10s %8s  %-26s %s\n", m, "-", "-", t, "not measured"; return }
    ok = kind == "le" ? (r[m] > 0 && r[m] <= lim) : (v[m] >= lim)
    if (rec != "" && (!(rec in v) || v[rec] < 0.95)) ok = 0
    printf "%-34s %10.3f %8.3f  %-26s %s\n", m, v[m], r[m], t, ok ? "met" : "NOT met"
  }
  END {
    printf "%-34s %10s %8s  %-26s %s\n", "metric", "value", "ratio", "target", ""
    split("random clustered", ds, " ")
    for (i = 1; i <= 2; i++) {
      d = ds[i]
      row("exact_median_us_" d "_1t", "<= 1.5x streaming read", "le", 1.5, "")
      row("exact_median_us_" d "_2t", "<= 1.5x streaming read", "le", 1.5, "")
      row("exact_vs_faiss_flat_" d "_1t", "<= 1.0x FAISS flat", "le", 1.0, "")
      row("approx_recall10_" d, ">= 0.95", "ge", 0.95, "")
      row("approx_median_us_" d "_1t", "<= 0.1x exact (1 thread)", "le", 0.1, "approx_recall10_" d)
    }
  }' "$ROUT"
  echo "(raw JSON lines: $ROUT)"
else
  echo "bench: $B/bench_registry not built" >&2
fi

# Replicated store (bench/bench_store.c): local writes/s per durability
# level against raw SQLite; convergence after the last write for 2, 5 and
# 20 nodes at 0 % and 30 % loss; healing of a 30 s partition (5 nodes, 30 %
# loss); anti-entropy bytes for 10 differences in 1,000,000 keys.  Loss and
# the partition need a network namespace (root): one is created here with
# loopback only, nftables dropping 30 % of UDP at random (numgen random, as
# tests/e2e/test_netns_beacons.sh), and removed on exit.  Targets: 5 nodes
# at 30 % loss converge within 2 s of the last write and of the healing.
echo
echo "# weft replicated store" >&2
SB=$B/bench_store
SOUT=$B/bench-store.jsonl
: >"$SOUT"
if [ -x "$SB" ]; then
  timeout 600 "$SB" writes "${STORE_REPS:-3}" | tee -a "$SOUT"
  for n in 2 5 20; do timeout 600 "$SB" converge "$n" 0 "${STORE_RUNS:-5}" | tee -a "$SOUT"; done
  if [ "$(id -u)" = 0 ] && command -v nft >/dev/null && ip netns add wkvb$$ 2>/dev/null; then
    trap 'ip netns del wkvb$$ 2>/dev/null' EXIT
    ip -n wkvb$$ link set lo up
    ip netns exec wkvb$$ nft add table inet wloss
    ip netns exec wkvb$$ nft add chain inet wloss in '{ type filter hook input priority 0; }'
    ip netns exec wkvb$$ nft add rule inet wloss in meta l4proto udp numgen random mod 100 '<' 30 drop
    for n in 2 5 20; do
      timeout 600 ip netns exec wkvb$$ "$SB" converge "$n" 30 "${STORE_RUNS:-5}" | tee -a "$SOUT"
    done
    for r in 1 2 3; do
      timeout 300 ip netns exec wkvb$$ "$SB" partition 5 "${PARTITION_SECS:-30}" | tee -a "$SOUT"
    done
    ip netns del wkvb$$
  else
    echo "# store: loss and partition runs skipped (need root, nft and ip netns)" >&2
  fi
  timeout 600 "$SB" aebytes 1000000 | tee -a "$SOUT"
  awk '
  function num(key,   m) { if (match($0, "\"" key "\":[-0-9.e+]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0 } return -1 }
  /"metric":"converge_ms_N5_loss30"/ { v = num("value"); printf "%-34s %10.0f ms  target <= 2000: %s\n", "converge after last write, N5 30%", v, v <= 2000 ? "met" : "NOT met" }
  /"metric":"partition_heal_ms_N5_/ { v = num("value"); printf "%-34s %10.0f ms  target <= 2000: %s\n", "converge after partition heals", v, v <= 2000 ? "met" : "NOT met" }
  /"metric":"ae_bytes_10diff_1000000keys"/ { v = num("value"); printf "%-34s %10.0f B   bound < 32768: %s\n", "anti-entropy, 10 diffs in 1M keys", v, v < 32768 ? "met" : "NOT met" }
  ' "$SOUT"
  echo "(raw JSON lines: $SOUT)"
fi
