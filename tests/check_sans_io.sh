#!/bin/bash
# check_sans_io.sh ROOT [FOLDER...] -- the sans-IO folders must not reach the
# outside world on their own: no sockets, clocks, event loops, storage,
# crypto libraries, threads or stdio (docs/ARCHITECTURE.md).  FOLDERs are
# relative to ROOT; default: every sans-IO folder (src/core src/registry).
set -u
root="$1"
shift
folders=("$@")
[ ${#folders[@]} -eq 0 ] && folders=(src/core src/registry)
status=0
total=0
for f in "${folders[@]}"; do
  dir="$root/$f"
  if [ ! -d "$dir" ]; then echo "$f: no such folder"; status=1; continue; fi
  bad=$(grep -nE '#include *<(sys/socket\.h|netinet/|arpa/|time\.h|sys/time\.h|uv\.h|sodium.*\.h|sqlite3\.h|unistd\.h|pthread\.h|threads\.h|stdio\.h)' "$dir"/*.c "$dir"/*.h 2>/dev/null)
  calls=$(grep -nwE '(clock_gettime|gettimeofday|time|rand|random|srand|getrandom|socket|sendto|recvfrom|fopen|printf|pthread_create|thrd_create)[[:space:]]*\(' "$dir"/*.c 2>/dev/null | grep -v '^\s*//' )
  if [ -n "$bad$calls" ]; then
    echo "$f is not sans-IO:"; echo "$bad"; echo "$calls"; status=1
  fi
  total=$((total + $(ls "$dir"/*.c | wc -l)))
done
[ $status -eq 0 ] && echo "sans-IO: ${folders[*]}: $total files checked"
exit $status
