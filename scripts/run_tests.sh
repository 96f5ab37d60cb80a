#!/bin/bash
# Runs the whole test suite through ctest and ends with the one line CI
# reads: "N passed, N failed".  A test that skips (exit 77) is reported as
# skipped, never counted as passed.
set -u
BUILD=${1:-build}
cd "$BUILD" || exit 2
out=$(mktemp)
ctest --output-on-failure -j "${TEST_JOBS:-2}" --timeout 900 ${CTEST_ARGS:-} 2>&1 | tee "$out"
passed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed' "$out")
failed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception|Not Run)' "$out")
skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$out")
rm -f "$out"
echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
