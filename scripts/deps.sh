#!/bin/bash
# Installs the Debian packages weft builds and tests with, when missing.
# Needs root for apt-get; otherwise it names what to install and fails.
set -u
PKGS="cmake ninja-build pkg-config gcc libsodium-dev libuv1-dev libssl-dev libsqlite3-dev"
# Test-time tools: nftables/iproute2 for namespace tests, serf for the bench
# is installed by bench/run.sh itself.
PKGS="$PKGS iproute2 nftables"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y $missing >/tmp/weft-apt.log 2>&1 || {
    apt-get update >>/tmp/weft-apt.log 2>&1 && apt-get install -y $missing >>/tmp/weft-apt.log 2>&1
  } || { echo "deps: apt-get failed, see /tmp/weft-apt.log"; exit 1; }
else
  echo "deps: missing Debian packages:$missing"
  echo "deps: run: sudo apt-get install -y$missing"
  exit 1
fi
