// hostile.test.mjs: the hostile-tenant suite. A probe (tests/probe) runs
// as tenant mallory's stdio MCP server, exactly where an attacker's code
// would, and tries one forbidden thing per call against tenant victim,
// the store, the control socket, the supervisor and the kernel. Each case
// asserts the exact outcome (errno, or the probe's death by seccomp).
//
// What holds today: separate UIDs, no_new_privs, non-dumpable workers,
// private 0700 homes, a root-only store and control socket, and the
// seccomp filter of policy/upstream.policy on every MCP server.
//
// A case that needs a kernel feature (the 32-bit syscall entry, user
// namespaces) asks the kernel first, with no sandbox (lib.mjs,
// kernelOffers), and is skipped with the reason where it is missing. A
// case that needs the daemon's cgroups skips when they are off, and
// fails instead under CI=true on a host that offers them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, processesOf, BUILD, EVERYTHING, kernelLacks,
    cgroupsOff } from './lib.mjs';

const MEMORY_MAX_MIB = 256, PIDS_MAX = 64;
const d = new Daemon({ workers: 1, uid_base: 67000, config: {
	tenant_memory_max: `${MEMORY_MAX_MIB}M`, tenant_pids_max: PIDS_MAX } });
await d.start();
// Fixtures a tenant's process must reach live outside /tmp and /var/tmp,
// which every worker replaces with private ones.
const fx = fs.mkdtempSync('/opt/dataagent-hostile-');
fs.chmodSync(fx, 0o755);
const probe = path.join(fx, 'probe');
fs.copyFileSync(path.join(BUILD, 'tests', 'probe'), probe);
fs.chmodSync(probe, 0o755);
// A setuid-root program the probe may execute: no_new_privs must keep
// it from gaining anything.
const suidId = path.join(fx, 'suid-id');
fs.copyFileSync('/usr/bin/id', suidId);
fs.chownSync(suidId, 0, 0);
fs.chmodSync(suidId, 0o4755);

const victimTok = await d.tenant('victim', { everything: EVERYTHING });
const tok = await d.tenant('mallory', { probe: [probe] });
const uidOf = async (t) => JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', t])).uid;
const mallory = await uidOf('mallory'), victim = await uidOf('victim');

// Wake the victim: a worker and an upstream to aim at, and a file.
let r = await d.fetch('/api/v1/users/victim/tools/everything/echo',
    { token: victimTok, method: 'POST', body: { message: 'hi' } });
eq(r.status, 200);
const victimSecret = path.join(d.tenantHome('victim'), 'secret.txt');
fs.writeFileSync(victimSecret, 'victim data', { mode: 0o600 });
fs.chownSync(victimSecret, victim, victim);
const vproc = processesOf(victim);
const vworker = vproc.find((p) => p.cmd.includes('dataagent-worker')).pid;
const vupstream = vproc.find((p) => p.cmd.includes('server-everything')).pid;
const sup = d.proc.pid;
// A key file where the daemon keeps its configuration (the master key of
// a later issue lives beside dataagent.conf).
const keyFile = path.join(path.dirname(d.confPath), 'master.key');
fs.writeFileSync(keyFile, 'k'.repeat(32), { mode: 0o600 });
// The daemon's cgroups: mallory's own group and the ones above it, in
// the mode the daemon runs ("cgroups" log line: the base of the tenant
// groups).
const cgMode = (await (await d.fetch('/health/detailed')).json()).cgroups;
const cgBase = (d.logs.find((l) => l.msg === 'cgroups') || {}).path;
const cgFile = {
	v1: { limit: `/sys/fs/cgroup/memory/${d.cgroupName}/mallory/memory.limit_in_bytes`,
	    out: '/sys/fs/cgroup/pids/cgroup.procs', escape: '/sys/fs/cgroup/memory/cgroup.procs' },
	v2: { limit: `${cgBase}/mallory/memory.max`, out: `${cgBase}/cgroup.procs`,
	    escape: '/sys/fs/cgroup/cgroup.procs' },
}[cgMode];
const needCgroups = () => cgFile ? null : cgroupsOff();

async function attack(name, arg) {
	const res = await d.fetch('/api/v1/users/mallory/tools/probe/attack',
	    { token: tok, method: 'POST', body: { name, ...(arg !== undefined ? { arg: String(arg) } : {}) } });
	const body = await res.json();
	if (res.status !== 200)
		return { status: res.status, error: body.error };
	return JSON.parse(body.result.content[0].text);
}

let tried = 0, blocked = 0;
// unless(): a skip ({ skip: why }) when the case cannot mean anything
// here, else null.
function attackCase(title, name, arg, expect, unless = () => null) {
	test(`attack: ${title}`, async () => {
		const skip = unless();
		if (skip)
			return skip;
		tried++;
		const got = await attack(name, typeof arg === 'function' ? arg() : arg);
		if (typeof expect === 'function')
			expect(got);
		else
			eq({ outcome: got.outcome, errno: got.errno },
			    { outcome: 'blocked', errno: expect }, `${name}: ${JSON.stringify(got)}`);
		blocked++;
	});
}

test('the probe runs as its tenant, not root', async () => {
	const w = await attack('whoami');
	eq(w.detail, `${mallory} ${mallory} ${mallory}`);
});

// Other tenants' files and the daemon's: permissions would say EACCES;
// the worker's mount namespace covers them, so they do not even exist.
attackCase("read another tenant's file", 'read', () => victimSecret, 'ENOENT');
attackCase("stat inside another tenant's home", 'stat', () => victimSecret, 'ENOENT');
attackCase("write into another tenant's home", 'write', () => path.join(d.tenantHome('victim'), 'x'), 'ENOENT');
attackCase('read the store', 'read', () => path.join(d.state, 'dataagent.db'), 'ENOENT');
attackCase('write the store', 'write', () => path.join(d.state, 'dataagent.db'), 'EACCES');
attackCase('connect to the control socket', 'connect', () => d.sock, 'ENOENT');
attackCase('read /etc/shadow', 'read', '/etc/shadow', 'EACCES');
attackCase('read the configuration file (it may hold SECRET_KEY)', 'read', () => d.confPath, 'ENOENT');
attackCase('read a key file beside the configuration', 'read', () => keyFile, 'ENOENT');
attackCase("raise its own cgroup's memory limit", 'write', () => cgFile.limit, 'EACCES', needCgroups);
attackCase("move itself out of its cgroup", 'write', () => cgFile.out, 'EACCES', needCgroups);
attackCase('write a cgroup to escape it', 'write', () => cgFile.escape, 'EACCES', needCgroups);
// Other processes through /proc: hidepid shows only the tenant's own
attackCase("read another tenant's worker environ", 'read', () => `/proc/${vworker}/environ`, 'ENOENT');
attackCase("read another tenant's server environ", 'read', () => `/proc/${vupstream}/environ`, 'ENOENT');
attackCase("read another tenant's server memory", 'read', () => `/proc/${vupstream}/mem`, 'ENOENT');
attackCase("read another tenant's server cmdline", 'read', () => `/proc/${vupstream}/cmdline`, 'ENOENT');
attackCase("read another tenant's server maps", 'read', () => `/proc/${vupstream}/maps`, 'ENOENT');
attackCase('read the supervisor environ', 'read', () => `/proc/${sup}/environ`, 'ENOENT');
attackCase('read the supervisor memory', 'read', () => `/proc/${sup}/mem`, 'ENOENT');
attackCase('see the supervisor in /proc', 'stat', () => `/proc/${sup}`, 'ENOENT');
attackCase("see another tenant's worker in /proc", 'stat', () => `/proc/${vworker}`, 'ENOENT');
// A private, bounded /tmp
attackCase('fill /tmp: stops at its size', 'filltmp', undefined, 'ENOSPC');
test("the tenant's /tmp is its own", async () => {
	const got = await attack('write', '/tmp/dataagent-probe-marker');
	eq(got.outcome, 'allowed', JSON.stringify(got));
	assert(!fs.existsSync('/tmp/dataagent-probe-marker'), 'the file reached the host /tmp');
});
// /tmp, /var/tmp, /dev/shm and SysV IPC: what mallory leaves there, a
// second probe tenant (eve) does not find.
const eveTok = await d.tenant('eve', { probe: [probe] });
async function attackAs(token, tenant, name, arg) {
	const res = await d.fetch(`/api/v1/users/${tenant}/tools/probe/attack`,
	    { token, method: 'POST', body: { name, arg: String(arg) } });
	const body = await res.json();
	eq(res.status, 200, JSON.stringify(body));
	return JSON.parse(body.result.content[0].text);
}
const SHM_KEY = '0x64a91234';
for (const dir of ['/tmp', '/var/tmp', '/dev/shm']) {
	test(`a file mallory writes to ${dir} is not there for eve, nor on the host`, async () => {
		const f = `${dir}/dataagent-shared-${process.pid}`;
		eq((await attack('write', f)).outcome, 'allowed', 'mallory writes');
		eq((await attack('stat', f)).outcome, 'allowed', 'mallory sees it');
		const e = await attackAs(eveTok, 'eve', 'stat', f);
		eq([e.outcome, e.errno], ['blocked', 'ENOENT'], `eve: ${JSON.stringify(e)}`);
		assert(!fs.existsSync(f), `${f} reached the host`);
	});
}
test('a SysV shared memory segment mallory makes is not found by eve (shmget, same key)', async () => {
	eq((await attack('shm-create', SHM_KEY)).outcome, 'allowed', 'mallory creates');
	eq((await attack('shm-find', SHM_KEY)).outcome, 'allowed', 'mallory finds it');
	const e = await attackAs(eveTok, 'eve', 'shm-find', SHM_KEY);
	eq([e.outcome, e.errno], ['blocked', 'ENOENT'], `eve: ${JSON.stringify(e)}`);
	const host = spawnSync('ipcs', ['-m']).stdout.toString();
	assert(!host.includes(SHM_KEY), `the segment is in the host's namespace: ${host}`);
});
// Signals and debugging
attackCase("kill another tenant's worker", 'kill', () => vworker, 'EPERM');
attackCase("kill another tenant's server", 'kill', () => vupstream, 'EPERM');
attackCase('kill the supervisor', 'kill', () => sup, 'EPERM');
attackCase("ptrace another tenant's server", 'ptrace', () => vupstream, 'EPERM');
attackCase('ptrace the supervisor', 'ptrace', () => sup, 'EPERM');
attackCase('ptrace its own child (seccomp, not uid, says no)', 'ptrace-child', undefined, 'EPERM');
attackCase('process_vm_readv the supervisor', 'process_vm_readv', () => sup, 'EPERM');
attackCase("process_vm_readv another tenant's server", 'process_vm_readv', () => vupstream, 'EPERM');
// Privilege
attackCase('setuid(0)', 'setuid0', undefined, 'EPERM');
attackCase('setgid(0)', 'setgid0', undefined, 'EPERM');
attackCase('chown a file to root', 'chown-root', undefined, 'EPERM');
attackCase('execute a setuid-root binary', 'exec-euid', () => suidId, (got) => {
	eq([got.outcome, got.detail], ['allowed', String(mallory)], JSON.stringify(got));
});
// The kernel
attackCase('init_module', 'init_module', undefined, 'EPERM');
attackCase('finit_module', 'finit_module', undefined, 'EPERM');
attackCase('kexec_load', 'kexec_load', undefined, 'EPERM');
attackCase('mount', 'mount', undefined, 'EPERM');
attackCase('umount /proc', 'umount', undefined, 'EPERM');
// Where the kernel refuses the tenant a user namespace by itself, an
// EPERM would not show the filter's.
attackCase('unshare a user namespace', 'unshare-user', undefined, 'EPERM', () => kernelLacks('userns'));
attackCase('clone into a user namespace', 'clone-user', undefined, 'EPERM', () => kernelLacks('userns'));
attackCase('unshare a mount namespace', 'unshare-ns', undefined, 'EPERM');
attackCase('clone3 (flags out of seccomp sight)', 'clone3', undefined, 'ENOSYS');
attackCase('setns', 'setns', undefined, 'EPERM');
attackCase('bpf', 'bpf', undefined, 'EPERM');
attackCase('perf_event_open', 'perf_event_open', undefined, 'EPERM');
attackCase('keyctl', 'keyctl', undefined, 'EPERM');
attackCase('add_key', 'add_key', undefined, 'EPERM');
attackCase('open_by_handle_at', 'open_by_handle_at', undefined, 'EPERM');
attackCase('userfaultfd', 'userfaultfd', undefined, 'EPERM');
// io_uring's rings open files and connect sockets past seccomp
attackCase('io_uring_setup', 'io_uring_setup', undefined, 'EPERM', () => kernelLacks('io_uring'));
attackCase('reboot', 'reboot', undefined, 'EPERM');
attackCase('iopl', 'iopl', undefined, 'EPERM');
attackCase('swapoff', 'swapoff', undefined, 'EPERM');
attackCase('settimeofday', 'settimeofday', undefined, 'EPERM');
attackCase('sethostname', 'sethostname', undefined, 'EPERM');
// Where the kernel has no 32-bit entry, int $0x80 is a SIGSEGV with or
// without a filter: nothing to learn about the filter.
attackCase('a 32-bit syscall (int $0x80) kills the probe with SIGSYS', 'int80', undefined, (got) => {
	eq(got.status, 502, JSON.stringify(got));
	assert(/killed by signal 31: a system call its seccomp policy forbids/.test(got.error), got.error);
}, () => kernelLacks('ia32'));

// Exhaustion: each stays inside mallory's limits
attackCase(`fork bomb stops at pids.max (${PIDS_MAX})`, 'forkbomb', undefined, (got) => {
	eq([got.outcome, got.errno], ['blocked', 'EAGAIN'], JSON.stringify(got));
	assert(Number(got.detail) < PIDS_MAX, `forked ${got.detail}`);
}, needCgroups);
attackCase(`memory bomb is OOM-killed inside the tenant (${MEMORY_MAX_MIB} MiB)`, 'membomb', undefined, (got) => {
	eq(got.status, 502, JSON.stringify(got));
	assert(/killed by signal 9: the OOM killer/.test(got.error), got.error);
}, needCgroups);
attackCase('fd exhaustion ends in EMFILE', 'fdbomb', undefined, (got) => {
	eq([got.outcome, got.errno], ['blocked', 'EMFILE'], JSON.stringify(got));
});

test('a CPU spinner does not starve the neighbour', async () => {
	const s = await attack('spin', 6);
	eq(s.outcome, 'allowed', JSON.stringify(s));
	for (let i = 0; i < 5; i++) {
		const v = await d.fetch('/api/v1/users/victim/tools/everything/echo',
		    { token: victimTok, method: 'POST', body: { message: `during ${i}` } });
		eq((await v.json()).result.content[0].text, `Echo: during ${i}`);
	}
});

test("mallory's worker and server are in mallory's cgroup", async () => {
	const health = await (await d.fetch('/health/detailed')).json();
	if (health.cgroups === 'off')
		return cgroupsOff();
	const procs = processesOf(mallory);
	assert(procs.length >= 2, JSON.stringify(procs));
	for (const p of procs) {
		const cg = fs.readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
		const v1 = (ctrl) => new RegExp(`:${ctrl}:/${d.cgroupName}/mallory$`, 'm');
		const want = health.cgroups === 'v1' ? v1('memory') : /^0::.*\/tenants\/mallory$/m;
		assert(want.test(cg), `${p.cmd}: ${cg}`);
		if (health.cgroups === 'v1')
			assert(v1('pids').test(cg), `${p.cmd}: ${cg}`);
	}
});

test('worker, launcher and servers as /proc shows them: ids, caps, no_new_privs, seccomp', async () => {
	const procs = processesOf(mallory);
	const worker = procs.find((p) => p.cmd.includes('dataagent-worker') &&
	    procs.some((q) => q.ppid === p.pid));
	assert(worker, JSON.stringify(procs));
	const launcher = procs.find((p) => p.ppid === worker.pid);
	const server = procs.find((p) => p.cmd.includes('probe'));
	assert(launcher && server, JSON.stringify(procs));
	eq(server.ppid, launcher.pid, 'servers are children of the launcher');
	for (const [what, p, seccomp] of [['worker', worker, '2'], ['launcher', launcher, '2'],
	    ['server', server, '2']]) {
		const st = fs.readFileSync(`/proc/${p.pid}/status`, 'utf8');
		const f = (k) => (new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(st) || [])[1];
		eq(f('Uid').split(/\s+/), Array(4).fill(String(mallory)), `${what} uid`);
		eq(f('Groups').trim(), '', `${what} groups`);
		for (const c of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
			eq(f(c), '0000000000000000', `${what} ${c}`);
		eq(f('NoNewPrivs'), '1', `${what} no_new_privs`);
		eq(f('Seccomp'), seccomp, `${what} seccomp mode`);
	}
	// worker and server filters differ: the worker's is the allowlist
	const wf = Number(fs.readFileSync(`/proc/${worker.pid}/status`, 'utf8').match(/Seccomp_filters:\s+(\d+)/)[1]);
	const sf = Number(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/Seccomp_filters:\s+(\d+)/)[1]);
	assert(wf >= 1 && sf >= 1, `filters ${wf} ${sf}`);
});

// ---------------------------------------------------- a hostile client
// Raw bytes to the front door, as a client (or a proxy it fools) would
// send them; the exact status and body are asserted.
const echoHead = (extra) => 'POST /api/v1/users/victim/tools/everything/echo HTTP/1.1\r\n' +
    `Host: localhost\r\nAuthorization: Bearer ${victimTok}\r\n` +
    `Content-Type: application/json\r\n${extra}\r\n`;
const chunkedEcho = (body) => echoHead('Transfer-Encoding: chunked\r\n') + body;
const msg = '{"message":"smuggled"}';
const hex = msg.length.toString(16);

test('hostile client: a well-framed chunked body is served (the control case)', async () => {
	const r = await d.raw(chunkedEcho(`${hex}\r\n${msg}\r\n0\r\n\r\n`));
	eq(r.status, 200, r.raw);
	eq(JSON.parse(r.body).result.content[0].text, 'Echo: smuggled');
});

const badFraming = 'malformed chunked body: CRLF expected after each chunk-size line, ' +
    'chunk and trailer field';
for (const [title, body] of [
	['two bytes other than CRLF after the chunk data', `${hex}\r\n${msg}XY0\r\n\r\n`],
	['CR and another byte after the chunk data', `${hex}\r\n${msg}\rX0\r\n\r\n`],
	['CR and another byte after the chunk size', `${hex}\rX${msg}\r\n0\r\n\r\n`],
	['a bare LF to end the trailers', `${hex}\r\n${msg}\r\n0\r\n\n`],
]) {
	test(`hostile client: ${title} is 400 and the connection closes`, async () => {
		const r = await d.raw(chunkedEcho(body));
		eq([r.status, r.body], [400, JSON.stringify({ error: badFraming })], r.raw);
		assert(r.closed, 'connection left open');
	});
}

test('hostile client: a 2^64-1 chunk size is 413 about the chunk, not content-length', async () => {
	const r = await d.raw(chunkedEcho('ffffffffffffffff\r\n'));
	eq([r.status, r.body], [413, JSON.stringify({ error: 'chunk size too large: the ' +
	    'request body would exceed max_body_size' })], r.raw);
	// over max_body_size (1 MiB by default) but far from 2^64 too
	const r2 = await d.raw(chunkedEcho('100001\r\n'));
	eq(r2.status, 413, r2.raw);
});

test('hostile client: a head ending in CR and another byte is 400 (worker, keep-alive)', async () => {
	// The first request reaches the worker through the supervisor; the
	// second, on the same connection, is parsed by the worker alone.
	const good = `${hex}\r\n${msg}\r\n0\r\n\r\n`;
	const r = await d.raw(chunkedEcho(good) + echoHead('Content-Length: 6\r\n')
	    .slice(0, -2) + '\rX{}\r\n\r\n');
	eq(r.status, 200, r.raw);
	const second = r.raw.slice(r.raw.indexOf('HTTP/1.1', 10));
	assert(/^HTTP\/1\.1 400 /.test(second), r.raw);
	eq(second.slice(second.indexOf('\r\n\r\n') + 4),
	    JSON.stringify({ error: 'malformed request head: CRLF expected' }), r.raw);
});

test('hostile client: JSON with U+0000 in a string is refused with a message for the user', async () => {
	const body = '{"message":"a\\u0000b"}';
	const r = await d.raw(echoHead(`Content-Length: ${body.length}\r\nConnection: close\r\n`) + body);
	eq([r.status, r.body], [400, JSON.stringify({ error: 'invalid JSON: strings containing ' +
	    'U+0000 (NUL) are not accepted' })], r.raw);
	const rpc = '{"jsonrpc":"2.0","id":1,"method":"tools/list\\u0000x"}';
	const m = await d.raw('POST /api/v1/users/victim/mcp HTTP/1.1\r\nHost: localhost\r\n' +
	    `Authorization: Bearer ${victimTok}\r\nContent-Type: application/json\r\n` +
	    'Accept: application/json, text/event-stream\r\nConnection: close\r\n' +
	    `Content-Length: ${rpc.length}\r\n\r\n${rpc}`);
	eq(m.status, 400, m.raw);
	eq(JSON.parse(m.body).error, { code: -32700, message: 'Parse error: strings ' +
	    'containing U+0000 (NUL) are not accepted' }, m.body);
});

test('after all that, the victim still answers and mallory still runs', async () => {
	const v = await d.fetch('/api/v1/users/victim/tools/everything/echo',
	    { token: victimTok, method: 'POST', body: { message: 'still here' } });
	eq((await v.json()).result.content[0].text, 'Echo: still here');
	const w = await attack('whoami');
	eq(w.outcome, 'allowed', 'the probe restarts after its seccomp death');
	eq(fs.readFileSync(victimSecret, 'utf8'), 'victim data');
});

const failed = await run(import.meta.url);
console.log(`# ${tried} attacks tried, ${blocked} blocked`);
await d.stop();
fs.rmSync(fx, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
