#!/bin/bash
# `make run`: a working demo on 127.0.0.1:8000 in the foreground.
# SQLite under ./demo-state, a tenant "demo" with server-everything and
# server-memory, a printed token and a curl line. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
PORT=${PORT:-8000}
state=$PWD/demo-state
node=$(tests/node.sh)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (dataagentd gives each tenant its own UID)" >&2
	exit 1
fi
# The tenant's UID must be able to reach its home under the state dir.
install -d -m 0755 "$state"
if [ ! -s "$state/secret_key" ]; then
	umask 077
	openssl rand -hex 32 > "$state/secret_key"
	umask 022
fi
# The master key that encrypts tenant secrets (dataagentctl secret set).
[ -s "$state/master.key" ] || "$BUILD/dataagentctl" key generate "$state/master.key" >/dev/null
cat > "$state/dataagent.conf" <<CONF
# Written by tests/demo.sh; see packaging/dataagent.conf for every key.
host = 127.0.0.1
port = $PORT
state_dir = $state
control_socket = $state/control.sock
worker_path = $PWD/$BUILD/dataagent-worker
policy_dir = $PWD/policy
master_key = $state/master.key
CONF
# The default tenant_network (egress) unless TENANT_NETWORK says none or
# host: dataagentd says when this host cannot give egress, and why.
if [ -n "${TENANT_NETWORK:-}" ]; then
	echo "tenant_network = $TENANT_NETWORK" >> "$state/dataagent.conf"
fi
export SECRET_KEY
SECRET_KEY=$(cat "$state/secret_key")
export DATABASE_URL="sqlite:///demo-state/dataagent.db"

"$BUILD/dataagentd" --config "$state/dataagent.conf" &
daemon=$!
stop() { kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; }
# Ctrl-C is how the demo ends: stop dataagentd (it drains its workers
# and their servers) and exit 0.
trap 'stop' EXIT
trap 'trap - EXIT; stop; exit 0' INT TERM
ctl() { "$BUILD/dataagentctl" -s "$state/control.sock" "$@"; }
for _ in $(seq 100); do
	ctl status >/dev/null 2>&1 && break
	kill -0 $daemon 2>/dev/null || { echo "demo: dataagentd exited" >&2; exit 1; }
	sleep 0.1
done

ctl tenant show demo >/dev/null 2>&1 || ctl tenant add demo
ctl server add demo everything -- "$node" \
	"$PEERS_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js" stdio
ctl server add demo memory --env "MEMORY_FILE_PATH=$state/tenants/demo/memory.jsonl" -- \
	"$node" "$PEERS_DIR/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
token=$(ctl token issue demo --ttl 12h)

cat <<MSG

dataagent demo is running on http://127.0.0.1:$PORT (Ctrl-C stops it)

  token:  $token

  curl -s -X POST http://127.0.0.1:$PORT/api/v1/users/demo/tools/everything/echo \\
       -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \\
       -d '{"message":"hello from dataagent"}'

  MCP endpoint for any MCP client: http://127.0.0.1:$PORT/api/v1/users/demo/mcp

  admin, from a second terminal in this directory:
    export DATAAGENT_CONTROL_SOCKET=$state/control.sock
    $BUILD/dataagentctl status

MSG
wait $daemon
