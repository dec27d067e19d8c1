#!/bin/bash
# make fresh-check: the README's quick start, verbatim, on a machine that
# has nothing but Debian 12's minimal base, make and ca-certificates
# (what .ci/run installs before it calls make).
#
#   1. mmdebstrap builds a minbase bookworm root from the host's apt
#      sources; the host's network settings (resolver, its extra CA
#      certificates, npm's cafile) are copied in, as any machine here has
#      them;
#   2. a clean `git archive` of HEAD goes to /usr/src/dataagent in it;
#   3. in a private mount and pid namespace, with /proc, /sys (and so the
#      cgroup hierarchies) and /dev bound in, the root runs
#        make deps run     until it prints its token and curl line, then
#                          that curl line (answer must echo), the printed
#                          `export` line with `dataagentctl status`, and
#                          Ctrl-C (SIGINT to its process group), after
#                          which no dataagent process may be left;
#        make deps check   whose closing line must say 0 failed.
#
# Prints each step's time and ends with the suite's closing line and
# "fresh: ok" or "fresh: FAILED (...)". FRESH_DIR picks the work
# directory (default a new one under /var/tmp), FRESH_KEEP=1 keeps it.
# About 15 minutes on 2 cores, most of it the suite and the downloads
# (the README says how much). Needs root, the Debian mirror and the npm
# registry.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [ "$(id -u)" -ne 0 ]; then
	echo "fresh: must run as root (mmdebstrap, chroot, mounts)" >&2
	exit 1
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap
fi

work=${FRESH_DIR:-$(mktemp -d /var/tmp/dataagent-fresh.XXXXXX)}
install -d -m 0755 "$work"
root=$work/root
log=$work/log
mkdir -p "$log"
t0=$(date +%s)
step() { printf 'fresh: %-44s %4ds\n' "$1" $(( $(date +%s) - t0 )); }
fail() {
	echo "fresh: FAILED ($*); logs in $log" >&2
	FRESH_KEEP=1
	exit 1
}
cleanup() {
	if [ "${FRESH_KEEP:-0}" != 1 ] && [ -z "${FRESH_DIR:-}" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
# Stopped from outside: the namespaces go with it (unshare --kill-child).
trap 'pkill -TERM -P $$; exit 143' TERM INT

# The host's apt sources and its Acquire:: settings (a mirror snapshot
# may need Check-Valid-Until off), so the root reaches the same mirror.
srcs=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && grep -Eq '^[[:space:]]*(deb|Types:)' "$f" && srcs+=("$f")
done
aptopts=()
for f in /etc/apt/apt.conf.d/*; do
	[ -f "$f" ] && grep -q '^Acquire::' "$f" && aptopts+=("--aptopt=$f")
done
rm -rf "$root"
if ! mmdebstrap --variant=minbase --include=make,ca-certificates \
    "${aptopts[@]}" bookworm "$root" "${srcs[@]}" >"$log/mmdebstrap" 2>&1; then
	tail -n 20 "$log/mmdebstrap" >&2
	fail "mmdebstrap"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
for f in /etc/npmrc /usr/etc/npmrc; do
	[ -f "$f" ] && install -D -m 0644 "$f" "$root$f"
done
step "Debian 12 minbase root ($(du -sh "$root" | cut -f1))"

install -d -m 0755 "$root/usr/src/dataagent"
git -C "$top" archive --format=tar HEAD | tar -x -C "$root/usr/src/dataagent"
step "git archive $(git -C "$top" rev-parse --short HEAD)"

# Runs a command in the root: its own mount and pid namespaces (every
# process it leaves dies with it, also when fresh.sh is stopped), the
# root made "/" by pivot_root (not
# chroot: a chrooted process may not create user namespaces, and the
# sandbox tests need to know the kernel would let them), a clean
# environment as a login would have, CI passed through.
in_root() {
	unshare --mount --pid --fork --kill-child --propagation private -- bash -c '
		set -e
		r=$1; shift
		mount --rbind "$r" "$r"
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		mount -t tmpfs -o mode=0755 tmpfs "$r/run"
		mkdir -p "$r/.host"
		cd "$r"
		pivot_root . .host
		exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root TERM=dumb LANG=C.UTF-8 ${CI:+CI=$CI} \
			/bin/bash -c "cd / && umount -l /.host && rmdir /.host && exec \"\$@\"" in_root "$@"
	' in_root "$root" "$@"
}

# 1. make deps run: in the background of a shell in the root, which waits
# for the printed curl line, runs it, runs the export line and
# dataagentctl status, then sends the demo Ctrl-C.
cat >"$root/usr/src/demo-drive.sh" <<'DRIVE'
#!/bin/bash
set -u
cd /usr/src/dataagent
out=/usr/src/demo.out
setsid make deps run >"$out" 2>&1 </dev/null &
pid=$!
ok=0
for _ in $(seq 1800); do
	grep -q 'curl -s -X POST' "$out" && { ok=1; break; }
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
if [ $ok -ne 1 ]; then
	echo "demo-drive: the demo printed no curl line"
	exit 1
fi
sleep 1
# The curl line as printed: a command over three lines ending in "\".
curl_cmd=$(sed -n '/curl -s -X POST/,/-d /p' "$out")
answer=$(bash -c "$curl_cmd")
echo "demo-drive: curl answered: $answer"
rc=0
case $answer in
*'hello from dataagent'*) ;;
*) echo "demo-drive: the curl line did not echo"; rc=1 ;;
esac
export_line=$(grep -E '^[[:space:]]*export DATAAGENT_' "$out" | head -n 1 || true)
if [ -z "$export_line" ]; then
	echo "demo-drive: the demo printed no export line for a second terminal"
	rc=1
else
	eval "$export_line"
	ctl=$(grep -Eo '[^ ]*dataagentctl status' "$out" | head -n 1 | sed 's/ status$//')
	if ! st=$(${ctl:-dataagentctl} status 2>&1); then
		echo "demo-drive: dataagentctl status failed: $st"
		rc=1
	else
		echo "demo-drive: dataagentctl status: $(echo "$st" | head -n 1)"
	fi
fi
kill -INT -- -$pid
for _ in $(seq 100); do
	kill -0 $pid 2>/dev/null || break
	sleep 0.2
done
if kill -0 $pid 2>/dev/null; then
	echo "demo-drive: the demo did not stop on Ctrl-C"
	rc=1
fi
sleep 1
if left=$(pgrep -a -f 'dataagentd|dataagent-worker|server-everything|server-memory'); then
	echo "demo-drive: left running after Ctrl-C: $left"
	rc=1
fi
# One warning is about the host, not the demo: egress (the default)
# needs net.ipv4.ip_forward=1 for tenants' replies from the outside,
# and dataagentd changes no host-wide setting (the demo's servers need
# no network).
problems=$(grep '"level":"\(warn\|error\)"\|command refused' "$out" |
	grep -v '"msg":"egress: net.ipv4.ip_forward is not 1: ' || true)
if [ -n "$problems" ]; then
	echo "demo-drive: the demo logged warnings or errors:"
	echo "$problems" | head -n 5
	rc=1
fi
if ! grep -q '"msg":"tenant network","tenant_network":"egress"' "$out"; then
	echo "demo-drive: the demo did not run with tenant_network = egress"
	rc=1
fi
exit $rc
DRIVE
chmod 0755 "$root/usr/src/demo-drive.sh"
if ! in_root /usr/src/demo-drive.sh >"$log/demo" 2>&1; then
	cat "$log/demo" >&2
	cp "$root/usr/src/demo.out" "$log/demo.out" 2>/dev/null || true
	tail -n 30 "$log/demo.out" >&2 || true
	fail "make deps run"
fi
cp "$root/usr/src/demo.out" "$log/demo.out"
grep '^demo-drive:' "$log/demo" | sed 's/^/fresh: /'
step "make deps run (demo up, curl, status, Ctrl-C)"

# 2. make deps check.
in_root bash -c 'cd /usr/src/dataagent && make deps check' >"$log/check" 2>&1 || true
closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/check" | tail -n 1)
step "make deps check"
echo "fresh: ${closing:-no closing line}"
case $closing in
*' passed, 0 failed'*) ;;
*)
	grep '^FAIL ' "$log/check" >&2 || tail -n 30 "$log/check" >&2
	fail "make deps check: ${closing:-no closing line}"
	;;
esac
grep '^SKIP ' "$log/check" | sed 's/^/fresh: /' || true
echo "fresh: ok in $(( $(date +%s) - t0 ))s"
