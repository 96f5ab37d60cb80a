#!/bin/bash
# check_exports.sh LIBWEFT_SO INCLUDE_DIR -- libweft exports exactly what
# its public headers declare WEFT_EXTERN, nothing else (the library is built
# with -fvisibility=hidden; ngtcp2's NGTCP2_EXTERN is the model).
set -u
so="$1"; inc="$2"
[ -f "$so" ] || { echo "no such library: $so"; exit 1; }
# (a coverage build links gcc's gcov runtime in: its symbols are not ours)
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRV]$/ {print $3}' |
           grep -vE '^(__gcov_|mangle_path$)' | sort -u)
# every identifier declared after WEFT_EXTERN in the public headers
# (a declaration starts a line with WEFT_EXTERN and names its function
# before the first parenthesis on that line)
declared=$(grep -hE '^WEFT_EXTERN ' "$inc"/weft/*.h | sed -E 's/\(.*//; s/.*[ *]([A-Za-z_][A-Za-z0-9_]*)$/\1/' |
           sort -u)
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
n=$(echo "$exported" | grep -c .)
if [ -n "$extra" ]; then
  echo "libweft exports symbols no public header declares WEFT_EXTERN:"
  echo "$extra" | sed 's/^/  /'
  exit 1
fi
if [ -n "$missing" ]; then
  echo "declared WEFT_EXTERN but not exported (not built into libweft?):"
  echo "$missing" | sed 's/^/  /'
  exit 1
fi
echo "libweft exports $n symbols, all declared in include/weft/"
