#!/bin/bash
# coverage.sh [BUILD_DIR] -- `make coverage`: builds weft with gcc coverage
# (-DWEFT_COVERAGE=ON, in BUILD_DIR, default build-cov), runs the `make test`
# suite there (short forms: ctest -LE long), then prints per-file line and
# branch coverage of src/ with gcovr, a figure per folder, the summary line
# and whether the targets of docs/ARCHITECTURE.md §Tests are met.
#
# Exit status: non-zero when a test failed, or when a target is missed and
# COVERAGE_STRICT=1.  gcovr (Debian package `gcovr`) is installed here when
# missing: it is needed by this target only, not by the build.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build-cov}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
if ! command -v gcovr >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "coverage: installing gcovr"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y gcovr >/tmp/weft-apt.log 2>&1 || {
      apt-get update >>/tmp/weft-apt.log 2>&1 && apt-get install -y gcovr >>/tmp/weft-apt.log 2>&1
    } || { echo "coverage: apt-get install gcovr failed, see /tmp/weft-apt.log"; exit 1; }
  else
    echo "coverage: gcovr missing; run: sudo apt-get install -y gcovr"; exit 1
  fi
fi
cmake -S "$ROOT" -B "$B" -G Ninja -DWEFT_COVERAGE=ON >/dev/null || exit 1
cmake --build "$B" -j "$JOBS" || exit 1
# counters from an earlier run would add up: start from zero
find "$B" -name '*.gcda' -delete
CTEST_ARGS="-LE long ${CTEST_ARGS:-}" bash "$ROOT/scripts/run_tests.sh" "$B"
tests_rc=$?
json="$B/coverage.json"
gcovr -r "$ROOT" --object-directory "$B" --filter "$ROOT/src/" -j "$JOBS" \
      --json-summary-pretty -o "$json" >/dev/null || exit 1
python3 "$ROOT/scripts/coverage_report.py" "$json"
report_rc=$?
[ "$tests_rc" -ne 0 ] && { echo "coverage: some tests failed (figures above are from that run)"; exit 1; }
[ "${COVERAGE_STRICT:-0}" = 1 ] && exit $report_rc
exit 0
