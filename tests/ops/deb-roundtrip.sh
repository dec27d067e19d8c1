#!/bin/bash
# deb-roundtrip.sh DEB: installs the built package on this machine, checks
# what it put where, runs `dataagentd -t` from it, installs it again (the
# keys must survive), then purges it and checks that nothing is left.
# Run by tests/integration/ops.test.mjs under flock, so two test runs on
# one machine do not interleave. Prints "ok <what>" per check, or
# "fail <what>" and exits 1; the package is purged in every case.
#
# Refuses (exit 2, "skip <why>") to touch a machine where dataagent is
# already installed or its directories already exist: purging would
# destroy someone's store and keys.
set -uo pipefail

deb=$1
purge() { dpkg --purge dataagent >/dev/null 2>&1; }
fail() { echo "fail $*"; purge; exit 1; }
ok() { echo "ok $*"; }

if dpkg-query -W -f='${Status}' dataagent 2>/dev/null | grep -q 'installed'; then
	echo "skip the dataagent package is already installed here"
	exit 2
fi
for d in /etc/dataagent /var/lib/dataagent /run/dataagent; do
	if [ -e "$d" ]; then
		echo "skip $d exists and is not ours to purge"
		exit 2
	fi
done

out=$(dpkg -i "$deb" 2>&1) || fail "dpkg -i: $out"
ok "dpkg -i"

for f in /usr/sbin/dataagentd /usr/bin/dataagentctl \
    /usr/libexec/dataagent/dataagent-worker; do
	[ -x "$f" ] || fail "$f is not installed"
done
for f in /usr/share/man/man8/dataagentd.8.gz /usr/share/man/man8/dataagentctl.8.gz \
    /usr/share/man/man5/dataagent.conf.5.gz /lib/systemd/system/dataagent.service \
    /usr/lib/tmpfiles.d/dataagent.conf /usr/lib/sysusers.d/dataagent.conf \
    /etc/dataagent/dataagent.conf /etc/dataagent/policy/upstream.policy; do
	[ -f "$f" ] || fail "$f is not installed"
done
ok "binaries, worker, man pages, unit, tmpfiles, sysusers, config, policies"

conffiles=$(dpkg-query -W -f='${Conffiles}' dataagent)
for f in /etc/dataagent/dataagent.conf /etc/dataagent/policy/upstream.policy; do
	grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile"
done
ok "conffiles"

[ "$(stat -c '%a %U %s' /etc/dataagent/master.key)" = "600 root 32" ] ||
	fail "master.key: $(stat -c '%a %U %s' /etc/dataagent/master.key 2>&1)"
[ "$(stat -c '%a %U' /etc/dataagent/dataagent.env)" = "600 root" ] ||
	fail "dataagent.env: $(stat -c '%a %U' /etc/dataagent/dataagent.env 2>&1)"
grep -Eq '^SECRET_KEY=[0-9a-f]{64}$' /etc/dataagent/dataagent.env ||
	fail "dataagent.env has no generated SECRET_KEY"
ok "postinst made master.key (0600, 32 bytes) and dataagent.env"

if command -v systemd-tmpfiles >/dev/null 2>&1; then
	[ "$(stat -c '%a' /var/lib/dataagent 2>&1)" = 711 ] ||
		fail "/var/lib/dataagent: $(stat -c '%a' /var/lib/dataagent 2>&1)"
	ok "tmpfiles made /var/lib/dataagent 0711"
fi

# The installed daemon, its default config file and its installed worker
# and policies, with the key the package generated.
set -a
. /etc/dataagent/dataagent.env
set +a
out=$(/usr/sbin/dataagentd -t 2>&1) || fail "dataagentd -t: $out"
unset SECRET_KEY
ok "dataagentd -t: $(tail -n 1 <<<"$out")"

if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(systemd-analyze verify /lib/systemd/system/dataagent.service 2>&1)
	if [ -n "$out" ]; then
		if grep -q "Command 'man " <<<"$out" && ! command -v man >/dev/null 2>&1; then
			ok "systemd-analyze verify (man pages not checked: no man here)"
		else
			fail "systemd-analyze verify: $out"
		fi
	else
		ok "systemd-analyze verify of the installed unit"
	fi
fi

sum=$(sha256sum /etc/dataagent/master.key /etc/dataagent/dataagent.env)
out=$(dpkg -i "$deb" 2>&1) || fail "second dpkg -i: $out"
[ "$(sha256sum /etc/dataagent/master.key /etc/dataagent/dataagent.env)" = "$sum" ] ||
	fail "reinstalling replaced the keys"
ok "reinstall keeps master.key and dataagent.env"

out=$(dpkg --purge dataagent 2>&1) || fail "dpkg --purge: $out"
for f in /usr/sbin/dataagentd /usr/libexec/dataagent /etc/dataagent \
    /var/lib/dataagent /run/dataagent /lib/systemd/system/dataagent.service; do
	[ ! -e "$f" ] || fail "$f is left after purge"
done
ok "dpkg --purge leaves nothing"
exit 0
