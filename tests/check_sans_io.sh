#!/bin/bash
# check_sans_io.sh SRC_ROOT DIR... -- the sans-IO folders (base utilities,
# the core and every protocol module, as listed by CMakeLists.txt) must not
# reach the outside world on their own: no sockets, clocks, event loops,
# storage, threads or crypto libraries (docs/ARCHITECTURE.md).  With no DIR,
# every folder under src/ that is not a driver, adapter or program is
# checked.
set -u
root="$1"; shift
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  for d in "$root"/src/*/; do
    d=$(basename "$d")
    case "$d" in uv|crypto|platform|sim|daemon|weftd|cli|tools|store) ;; *) dirs+=("$d") ;; esac
  done
fi
bad="" calls="" n=0
for d in "${dirs[@]}"; do
  dir="$root/src/$d"
  [ -d "$dir" ] || { echo "no such folder: $dir"; exit 1; }
  b=$(grep -nE '#include *<(sys/socket\.h|netinet/|arpa/|time\.h|sys/time\.h|uv\.h|sodium.*\.h|sqlite3\.h|unistd\.h|pthread\.h|stdio\.h|fcntl\.h|sys/stat\.h|dlfcn\.h)' "$dir"/*.c "$dir"/*.h 2>/dev/null)
  c=$(grep -nwE '(clock_gettime|gettimeofday|time|rand|random|srand|getrandom|socket|sendto|recvfrom|fopen|open|printf|fprintf|pthread_create|dlopen)[[:space:]]*\(' "$dir"/*.c 2>/dev/null | grep -v '^\s*//')
  bad="$bad$b" calls="$calls$c"
  n=$((n + $(ls "$dir"/*.c 2>/dev/null | wc -l)))
done
if [ -n "$bad$calls" ]; then echo "not sans-IO:"; echo "$bad"; echo "$calls"; exit 1; fi
echo "sans-IO: $n files in ${dirs[*]} checked"
