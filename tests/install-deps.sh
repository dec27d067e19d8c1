#!/bin/bash
# Install what dataagent needs on Debian 12, as root, in two sizes:
#
#   install-deps.sh demo   what `make` and `make run` need: the compiler,
#                          the -dev packages of the build, curl and openssl,
#                          and the two MCP servers the demo tenant runs
#                          (server-everything, server-memory) from
#                          tests/peers/demo's lockfile.
#   install-deps.sh test   all of the above and what `make check` needs:
#                          clang (the second compiler, libFuzzer), mandoc,
#                          python3 (the sd_notify test's socket), systemd
#                          (systemd-analyze), dpkg-dev, debhelper and
#                          lintian (`make deb` and its test), prometheus
#                          (promtool checks a real /metrics scrape),
#                          mariadb-server (the MySQL store), nginx and
#                          haproxy (several hosts), socat (a TLS front),
#                          and every MCP peer of tests/peers' lockfile
#                          (SDK v1, the v2 client, the conformance suite,
#                          MCP Inspector, Node 22 for the suite).
#
# The MCP peers need Node.js >= 20 and Debian 12 ships 18: on such a host
# Node 22 comes from npm (tests/peers/node's lockfile, into
# $PEERS_DIR/node), and tests/node.sh names whichever node is new enough.
# Everything npm installs goes into $PEERS_DIR, world-readable, because
# tenant UIDs run node and the servers from there. Already installed
# packages and an unchanged lockfile are not fetched again, so a second
# run is quick and needs no network.
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-test}

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get, $PEERS_DIR)" >&2
	exit 1
fi

pkgs=(build-essential pkg-config make
      libevent-dev libjansson-dev libhttp-parser-dev libsqlite3-dev
      libseccomp-dev libcap-dev libssl-dev libmariadb-dev libnftables-dev
      curl openssl ca-certificates procps)
case $mode in
demo) ;;
test)
	pkgs+=(clang mandoc sqlite3 psmisc apache2-utils wrk iproute2
	       python3 systemd dpkg-dev debhelper lintian prometheus
	       mariadb-server mariadb-client nginx haproxy socat nftables)
	;;
*)
	echo "install-deps: usage: install-deps.sh demo|test" >&2
	exit 2
	;;
esac

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
sys_node=$(command -v node || true)
need_node22=0
if [ -z "$sys_node" ] || [ "$(node_major "$sys_node")" -lt 20 ]; then
	need_node22=1
fi
# npm fetches the peers (and Node 22 where the host's node is too old).
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
[ -n "$sys_node" ] || pkgs+=(nodejs)

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

# npm_install DIR LOCKDIR [ALSO_OK_LOCK]: `npm ci` of LOCKDIR's lockfile
# in DIR unless that lockfile (or ALSO_OK_LOCK, a superset) is what DIR
# already holds.
npm_install() {
	local dir=$1 src=$2 also=${3:-}
	local mark=$dir/node_modules/.package-lock.json.installed
	if cmp -s "$src/package-lock.json" "$mark" 2>/dev/null ||
	   { [ -n "$also" ] && cmp -s "$also" "$mark" 2>/dev/null; }; then
		return 0
	fi
	install -d -m 0755 "$dir"
	install -m 0644 "$src/package.json" "$src/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$src/package-lock.json" "$mark"
}

# The peers live outside any 0700 home so tenant UIDs can execute them.
install -d -m 0755 "$PEERS_DIR"
if [ $need_node22 -eq 1 ]; then
	npm_install "$PEERS_DIR/node" "$here/peers/node"
fi
if [ "$mode" = demo ]; then
	# The test set holds the demo's servers at the same versions.
	npm_install "$PEERS_DIR" "$here/peers/demo" "$here/peers/package-lock.json"
else
	npm_install "$PEERS_DIR" "$here/peers"
fi
chmod -R a+rX "$PEERS_DIR"
echo "install-deps: ok ($mode; peers in $PEERS_DIR, node $("$here/node.sh"))"
