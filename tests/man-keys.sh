#!/bin/bash
# Checks that man/dataagent.conf.5 documents every key of the settings
# table in common/config.c (cfg_keys[]) and no key that is not there. A
# key is documented by an ".It Cm KEY Pq default: ..." line. Prints one
# PASS or FAIL line; exits 1 on a mismatch.
set -uo pipefail

cd "$(dirname "$0")/.."
table=$(awk '/^static const struct cfg_key cfg_keys\[\] = \{/ { on = 1; next }
	on && /^\};/ { exit }
	on' common/config.c | grep -o '^[[:space:]]*[A-Z]*[({][[:space:]]*"[a-z_0-9]*"' |
	grep -o '"[a-z_0-9]*"' | tr -d '"' | sort)
man=$(sed -n 's/^\.It Cm \([a-z_0-9]*\) Pq default:.*/\1/p' man/dataagent.conf.5 | sort)

if [ -z "$table" ]; then
	echo "FAIL lint/man-keys: no keys found in common/config.c's cfg_keys[]"
	exit 1
fi
undocumented=$(comm -23 <(echo "$table") <(echo "$man") | tr '\n' ' ')
unknown=$(comm -13 <(echo "$table") <(echo "$man") | tr '\n' ' ')
if [ -n "$undocumented$unknown" ]; then
	echo "FAIL lint/man-keys: dataagent.conf.5 does not document: ${undocumented:-none}; documents keys not in cfg_keys[]: ${unknown:-none}"
	exit 1
fi
echo "PASS lint/man-keys: dataagent.conf.5 documents the $(echo "$table" | wc -l) keys of cfg_keys[]"
