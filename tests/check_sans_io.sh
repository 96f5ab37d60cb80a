#!/bin/bash
# The sans-IO core must not reach the outside world on its own: no sockets,
# clocks, event loops, storage or crypto libraries (docs/ARCHITECTURE.md).
set -u
core="$1/src/core"
bad=$(grep -nE '#include *<(sys/socket\.h|netinet/|arpa/|time\.h|sys/time\.h|uv\.h|sodium.*\.h|sqlite3\.h|unistd\.h|pthread\.h|stdio\.h)' "$core"/*.c "$core"/*.h 2>/dev/null)
calls=$(grep -nwE '(clock_gettime|gettimeofday|time|rand|random|srand|getrandom|socket|sendto|recvfrom|fopen|printf)[[:space:]]*\(' "$core"/*.c 2>/dev/null | grep -v '^\s*//' )
if [ -n "$bad$calls" ]; then echo "core is not sans-IO:"; echo "$bad"; echo "$calls"; exit 1; fi
echo "core is sans-IO: $(ls "$core"/*.c | wc -l) files checked"
