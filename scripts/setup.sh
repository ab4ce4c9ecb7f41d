#!/usr/bin/env bash
# setup.sh - install everything egresswatch needs to build, test, benchmark
# and run its lab on Debian 12, as root.  Idempotent: packages already present
# are not fetched again, and apt-get update runs only when something is missing.
set -euo pipefail

APT_PACKAGES=(
	# build
	build-essential cmake pkg-config clang
	# libraries (see README: why each is there)
	libpcap-dev libnl-3-dev libnl-route-3-dev libsqlite3-dev libmaxminddb-dev
	libyaml-dev libcap-dev libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
	# tests: reference tools, database shell, lab servers and clients
	sqlite3 tshark tcpdump mmdb-bin iproute2 procps psmisc util-linux
	redis-server redis-tools socat dnsmasq-base openssl curl iperf3 python3 libcap2-bin
	# tests/faults: the seccomp launcher (tests/tools/seccomp_run.c)
	libseccomp-dev
	ethtool
	# tests/e2e/live_topologies.sh: a Service address translated by DNAT, as kube-proxy does
	nftables
	# browser tests: Debian's Chromium driven by playwright-core from npm
	chromium
	# benchmark peers and measurement
	nfdump argus-server argus-client softflowd time
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no, quietly.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these services on install; the lab runs its own instances in
# namespaces and must not compete with system-wide ones.
for svc in redis-server dnsmasq; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" >/dev/null 2>&1 || true
	fi
done
# npm: the default country database, the chart library bundled into the
# dashboard, and playwright-core; pinned by package-lock.json.  Node.js comes
# from Debian when the machine has none.
if ! command -v npm >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
root=$(cd "$(dirname "$0")/.." && pwd)
stamp="$root/node_modules/.egresswatch-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
	echo "setup: installing npm packages"
	(cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$root/package-lock.json" "$stamp"
fi
echo "setup: dependencies present"
