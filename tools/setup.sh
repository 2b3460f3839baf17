#!/usr/bin/env bash
# Installs everything vroom needs on a fresh Debian/Ubuntu machine: the
# Debian packages its native parts, labs and interoperability tests use, then
# its npm packages (from package-lock.json). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a C++ toolchain and Python for node-gyp, liburing for the
# native addon's io_uring queues (hypervisor/native/, built by npm ci through
# binding.gyp), iproute2, ping and traceroute for the namespace tests and labs,
# BIRD 2 and GoBGP as real BGP peers, tcpdump for the captures pcap replay is
# tested with, ethtool for offload settings in the labs.
debs=(build-essential python3 iproute2 liburing-dev iputils-ping traceroute
  bird2 gobgpd tcpdump ethtool)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-fund --no-audit
