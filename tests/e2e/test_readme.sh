#!/bin/bash
# test_readme.sh BUILD_DIR -- the README's "way in, in a minute" runs as
# written when pasted into a shell, twice in a row (issue 9: it had no wait
# for the daemons, and its fixed key and data paths collided on a second
# run).  The block is taken from README.md as it is; only `make build` is
# dropped and build/ pointed at BUILD_DIR.  Each run must print the
# session, the delivery and the received message, and leave no daemon
# behind (the second run binds the same ports).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
lib_init "${1:-build}"
B=$(cd "${1:-build}" && pwd)
README=$HERE/../../README.md
RUNS=()
cleanup() {
  local p
  for p in "${RUNS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  stop_all
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

awk '/^## The way in, in a minute/ {on = 1} on && /^```sh/ {code = 1; next} code && /^```/ {exit} code {print}' "$README" >"$WEFT_TMP/walk.sh"
grep -q 'weftd' "$WEFT_TMP/walk.sh" || fail "no walkthrough block found in README.md"
sed -i -e '/^make build/d' -e "s#build/#$B/#g" "$WEFT_TMP/walk.sh"
for run in 1 2; do
  # its own session (process group), so a failure cannot leave daemons
  setsid bash "$WEFT_TMP/walk.sh" >"$WEFT_TMP/run$run.out" 2>&1 &
  RUNS+=($!)
  pid=$!
  for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done  # cap 30 s
  kill -0 "$pid" 2>/dev/null && { cat "$WEFT_TMP/run$run.out"; fail "run $run did not finish within 30 s"; }
  wait "$pid"; rc=$?
  out=$(cat "$WEFT_TMP/run$run.out")
  [ $rc -eq 0 ] || { echo "$out"; fail "run $run exited $rc"; }
  for re in '^network key written to ' '^ok peer-up id=[0-9a-f]{64} addr=127\.0\.0\.1:7001 ' \
            '^peer id=[0-9a-f]{64} addr=127\.0\.0\.1:7001 established=1' ' members, [12] alive' \
            '^ok delivered to=[0-9a-f]{16} msg=[0-9]+ len=5 ' ' info message from=[0-9a-f]{16} len=5 .*text="hello"$'; do
    grep -qE -- "$re" <<<"$out" || { echo "$out"; fail "run $run: no line matching /$re/"; }
  done
  grep -qiE 'error|cannot|usage' <<<"$out" && { echo "$out"; fail "run $run printed an error"; }
  echo "ok: run $run of the README walkthrough"
done
echo "PASS"
