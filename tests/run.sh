#!/bin/bash
# The whole test suite: unit tests of pure modules, lint of the man
# pages (and that dataagent.conf.5 lists the settings table's keys),
# then integration tests that start real dataagentd processes with real
# MCP servers and clients on loopback. Prints one line per case and
# ends with "N passed, N failed[, N skipped]"; exits 1 on any failure.
set -uo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PEERS_DIR=${PEERS_DIR:-/opt/dataagent-peers}
export BUILD PEERS_DIR
out=$(mktemp /tmp/dataagent-tests.XXXXXX)
trap 'rm -f "$out"' EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/run.sh: run as root (dataagentd gives each tenant its own UID)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Runs one test program; a program that dies without reporting a FAIL
# line still counts as one failure.
run_one() {
	local name=$1; shift
	local log rc
	log=$(mktemp /tmp/dataagent-test-one.XXXXXX)
	timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$log" 2>"$log.err"
	rc=$?
	grep -E '^(PASS|FAIL|SKIP) ' "$log" | tee -a "$out"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		local at
		at=$(grep '^# case: ' "$log.err" | tail -n 1 | cut -c9-)
		echo "FAIL $name: killed after ${TEST_TIMEOUT:-600} s ${at:+in case: $at}${at:-before its first case}" | tee -a "$out"
		grep -v '^# case: ' "$log.err" | tail -n 20 | sed 's/^/    /'
	elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		echo "FAIL $name: exited with status $rc" | tee -a "$out"
		grep -v '^# case: ' "$log.err" | tail -n 20 | sed 's/^/    /'
	elif [ $rc -ne 0 ]; then
		grep -v '^# case: ' "$log.err" | tail -n 20 | sed 's/^/    /'
	fi
	rm -f "$log" "$log.err"
}

# A private MariaDB for the store's MySQL backend (tests/mariadb.sh); the
# unit tests get their own database in it, the integration tests theirs.
mdb_dir=$(mktemp -d /tmp/dataagent-mariadb.XXXXXX)
trap 'rm -f "$out"; tests/mariadb.sh stop "$mdb_dir" >/dev/null 2>&1' EXIT
mdb_rc=0
mdb_url=$(tests/mariadb.sh start "$mdb_dir" 2>"$mdb_dir.err") || mdb_rc=$?
if [ $mdb_rc -eq 0 ]; then
	export DATAAGENT_TEST_MYSQL_URL=${mdb_url%/dataagent}/dataagent_unit
	export DATAAGENT_TEST_MARIADB_DIR=$mdb_dir
elif [ $mdb_rc -ne 2 ]; then
	echo "FAIL mariadb: a private server did not start: $(tail -n 5 "$mdb_dir.err")" | tee -a "$out"
fi
rm -f "$mdb_dir.err"

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done

if command -v mandoc >/dev/null 2>&1; then
	if lint=$(mandoc -Tlint -W warning man/*.[0-9] 2>&1) && [ -z "$lint" ]; then
		echo "PASS lint/man: mandoc -Tlint is clean" | tee -a "$out"
	else
		echo "FAIL lint/man: mandoc -Tlint: $lint" | tee -a "$out"
	fi
else
	echo "SKIP lint/man: mandoc is not installed (make deps)" | tee -a "$out"
fi
run_one lint/man-keys tests/man-keys.sh

if [ ! -d "$PEERS_DIR/node_modules/@modelcontextprotocol/sdk" ]; then
	echo "FAIL integration: MCP peers missing in $PEERS_DIR (run make test-deps)" | tee -a "$out"
elif ! NODE=$(tests/node.sh 2>&1); then
	echo "FAIL integration: $NODE" | tee -a "$out"
else
	for t in tests/integration/*.test.mjs; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .test.mjs)" "$NODE" "$t"
	done
fi

pass=$(grep -c '^PASS ' "$out")
fail=$(grep -c '^FAIL ' "$out")
skip=$(grep -c '^SKIP ' "$out")
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
