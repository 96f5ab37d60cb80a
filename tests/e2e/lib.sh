# lib.sh -- helpers shared by the end-to-end tests and scripts/demo.sh:
# start weftd processes on 127.0.0.1 with OS-chosen ports, wait (bounded,
# by polling their logs) for log lines, stop them.  Sourced, not run.
# weftd logs to stderr; start_node keeps it in LOG[NAME].
# Every wait has a cap; every process started is recorded and stopped by
# stop_all (call it from an EXIT trap).

declare -A PID PORT ID LOG DIR
WEFT_TMP=${WEFT_TMP:-}
# The start of a weftd log line -- an ISO-8601 UTC timestamp and a level
# word ("2025-06-01T12:00:00.123Z info ") -- for patterns anchored on the
# event word: "${LP}peer-up id=...".  Valid in basic and extended regexps.
LP='^[-0-9T:.]*Z [a-z]* '

# lib_init BUILD_DIR: sets WEFTD, WEFT, WEFT_TMP.  Exits 77 (skip) when the
# programs were not built.
lib_init() {
  local b
  b=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "no build dir ${1:-}"; exit 77; }
  WEFTD=$b/weftd
  WEFT=$b/weft
  [ -x "$WEFTD" ] && [ -x "$WEFT" ] || { echo "weftd/weft not built in $b: skipping"; exit 77; }
  WEFT_TMP=$(mktemp -d /tmp/weft-e2e.XXXXXX)
}

# wait_for FILE ERE SECONDS: polls FILE until a line matches; 0 or 1.
wait_for() {
  local f=$1 re=$2 secs=$3 i n
  n=$((secs * 20))
  for ((i = 0; i < n; i++)); do
    grep -qE -- "$re" "$f" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# count_lines FILE ERE
count_lines() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# start_node NAME [weftd args...]: listens on 127.0.0.1:0 unless args give
# --listen; waits for the `node` line and fills PORT[NAME] ID[NAME].
start_node() {
  local name=$1; shift
  local d=$WEFT_TMP/$name listen=(--listen 127.0.0.1:0)
  case " $* " in *" --listen "*) listen=() ;; esac
  mkdir -p "$d" && chmod 700 "$d"
  DIR[$name]=$d
  LOG[$name]=$WEFT_TMP/$name.log
  "$WEFTD" "${listen[@]}" --data-dir "$d" --name "$name" "$@" >"$WEFT_TMP/$name.out" 2>"${LOG[$name]}" &
  PID[$name]=$!
  if ! wait_for "${LOG[$name]}" "${LP}node id=" 10; then
    echo "FAIL: $name did not start:"; cat "$WEFT_TMP/$name.out" "${LOG[$name]}"; return 1
  fi
  local line
  line=$(grep -m1 "${LP}node id=" "${LOG[$name]}")
  ID[$name]=$(sed -E 's/.*node id=([0-9a-f]{64}).*/\1/' <<<"$line")
  PORT[$name]=$(sed -E 's/.*listening=[^ ,]*:([0-9]+).*/\1/' <<<"$line")
}

short() { echo "${ID[$1]:0:16}"; }

# ctl NAME ARGS...: the weft CLI against node NAME.
ctl() { local n=$1; shift; "$WEFT" "$@" --data-dir "${DIR[$n]}"; }

# stop_node NAME: SIGTERM, wait up to 10 s, then SIGKILL.  Returns the exit
# status (137 when it had to be killed).
stop_node() {
  local n=$1 p=${PID[$1]:-} i rc
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 200; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null; rc=$?
  unset "PID[$n]"
  return $rc
}

stop_all() {
  local n
  for n in "${!PID[@]}"; do stop_node "$n"; done
  [ -n "${KEEP_TMP:-}" ] || { [ -n "$WEFT_TMP" ] && rm -rf "$WEFT_TMP"; }
}

# sha FILE
sha() { sha256sum "$1" | cut -d' ' -f1; }
