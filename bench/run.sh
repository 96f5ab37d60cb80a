#!/bin/bash
# run.sh BUILD_DIR -- `make bench`: runs every benchmark of bench/ built in
# BUILD_DIR and prints their JSON lines, then a table against the targets.
# Benchmarks are not tests: nothing fails on a missed target; the exit
# status is non-zero only when a benchmark could not run.
# Environment: SECS (seconds per throughput size, default 4),
#              RTT_COUNT (round trips after warm-up, default 20000).
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
