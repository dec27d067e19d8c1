#!/bin/bash
# make bench: measurements, not tests. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build} PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
exec "$(tests/node.sh)" bench/bench.mjs "$@"
