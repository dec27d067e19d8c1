// lib.mjs: the integration harness. Starts real dataagentd processes on
// loopback with a private state directory, drives them with the real
// dataagentctl, the official MCP SDK client, fetch and raw sockets, and
// reports one line per case the way tests/run.sh counts:
//   PASS integration/<file>: <case>
//   FAIL integration/<file>: <case>: <reason>
//   SKIP integration/<file>: <case>: <reason>
import { spawn, spawnSync, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BUILD = path.resolve(ROOT, process.env.BUILD || 'build');
export const PEERS = process.env.PEERS_DIR || '/opt/dataagent-peers';
export const NODE = process.execPath;
// Added to every test daemon's tenant_uid_base (see Daemon).
export const UID_SHIFT = Number(process.env.DATAAGENT_TEST_UID_SHIFT || 0);
export const SECRET_KEY = 'integration-test-key-' + 'k'.repeat(27);
// A value no code path should ever print (see Daemon.tenant).
export const CANARY = `canary-${randomBytes(12).toString('hex')}`;

const sdkBase = `${PEERS}/node_modules/@modelcontextprotocol/sdk/dist/esm`;
export async function sdk() {
	const { Client } = await import(`${sdkBase}/client/index.js`);
	const { StreamableHTTPClientTransport } =
	    await import(`${sdkBase}/client/streamableHttp.js`);
	return { Client, StreamableHTTPClientTransport };
}

export const EVERYTHING = [NODE,
    `${PEERS}/node_modules/@modelcontextprotocol/server-everything/dist/index.js`,
    'stdio'];
export const MEMORY = [NODE,
    `${PEERS}/node_modules/@modelcontextprotocol/server-memory/dist/index.js`];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function assert(cond, msg) {
	if (!cond)
		throw new Error(msg || 'assertion failed');
}
export function eq(a, b, msg) {
	const sa = JSON.stringify(a), sb = JSON.stringify(b);
	if (sa !== sb)
		throw new Error(`${msg || 'not equal'}: got ${sa}, want ${sb}`);
}

// Waits until fn() returns a truthy value (polled), or throws.
export async function until(fn, ms = 10000, what = 'condition') {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(50);
	}
}

// ---------------------------------------------------------------- daemon

export class Daemon {
	constructor(opts = {}) {
		this.opts = opts;
		this.logs = [];
		this.proc = null;
		this.port = 0;
	}

	// Starts the daemon; a second start() after kill() or crash reuses
	// the same directory, configuration, key and store.
	async start() {
		if (this.dir) {
			this.logs = [];
			return this.launch();
		}
		// World-readable (0755) so tenant UIDs can traverse to their
		// home under state/; never under a 0700 home directory.
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-it-'));
		fs.chmodSync(this.dir, 0o755);
		// Every daemon gets a master key (0600, root) beside its
		// configuration, unless opts.masterKey is false.
		this.keyPath = path.join(this.dir, 'master.key');
		if (this.opts.masterKey !== false)
			fs.writeFileSync(this.keyPath, randomBytes(32), { mode: 0o600 });
		this.state = path.join(this.dir, 'state');
		this.sock = path.join(this.dir, 'control.sock');
		this.cgroupName = `dataagent-it-${process.pid}-${Daemon.count = (Daemon.count || 0) + 1}`;
		const conf = {
			host: '127.0.0.1',
			port: 0,
			workers: this.opts.workers ?? 1,
			log_level: this.opts.log_level ?? 'debug',
			state_dir: this.state,
			control_socket: this.sock,
			// DATAAGENT_TEST_WORKER: run the workers through a wrapper
			// (strace, valgrind) when investigating.
			worker_path: process.env.DATAAGENT_TEST_WORKER ||
			    path.join(BUILD, 'dataagent-worker'),
			policy_dir: path.join(ROOT, 'policy'),
			// DATAAGENT_TEST_UID_SHIFT moves every test's tenant UIDs
			// (two suites on one host must not share them: a daemon
			// that stops kills whatever runs under its range).
			tenant_uid_base: (this.opts.uid_base ?? 61000) + UID_SHIFT,
			// Each daemon claims base+1 .. base+count on the host
			// (others overlapping refuse to start): the suite's
			// daemons are 100 UIDs apart at least.
			tenant_uid_count: this.opts.uid_count ?? 100,
			// its own cgroup v1 directory: test daemons never share one
			cgroup_name: this.cgroupName,
			master_key: this.keyPath,
			// A host without cgroups (or one the harness is told to
			// take as such): dataagentd refuses "auto" there, and the
			// cases that need cgroups skip (cgroupsOff).
			...(kernelOffers('cgroups').ok ? {} : { cgroups: 'off' }),
			// The suite sends far more than a tenant's default 100
			// requests a minute; ratelimit.test.mjs tests the limit.
			// The per-address limits keep their defaults.
			rate_limit: 0,
			// At debug a worker writes lines per request, past the
			// default 10 a second the supervisor passes on; the cases
			// match on them. badworker.test.mjs tests the limit.
			worker_log_rate: 0,
			// DATAAGENT_TEST_HANDOFF=direct runs a suite's daemons with
			// the direct handoff instead of the default relays
			// (relay.test.mjs and handback.test.mjs set their own).
			...(process.env.DATAAGENT_TEST_HANDOFF ?
			    { handoff: process.env.DATAAGENT_TEST_HANDOFF } : {}),
			// tenant_network keeps its default, egress: a test that
			// needs a tenant to reach a service on the host's loopback
			// says tenant_network: 'host' in its config. Each daemon
			// gets a /24 of its own (two daemons on one host need two
			// ranges): 10.224-253.N, the octet from the UID shift
			// (suites running side by side), N from the process id and
			// the count (a helper process's daemons, as bounded.mjs's,
			// beside its parent's).
			tenant_egress_range: `10.${224 + Math.floor(UID_SHIFT / 1000) % 30}.` +
			    `${(process.pid + Daemon.count) % 256}.0/24`,
			// /metrics is served on metrics_listen (d.metrics()), not on
			// the gateway's own port.
			metrics_listen: '127.0.0.1:0',
			...(this.opts.config || {}),
		};
		this.confPath = path.join(this.dir, 'dataagent.conf');
		// A key given as null is left out: the built-in default.
		fs.writeFileSync(this.confPath, Object.entries(conf)
		    .filter(([, v]) => v !== null)
		    .map(([k, v]) => `${k} = ${v}\n`).join(''));
		return this.launch();
	}

	async launch() {
		const env = { PATH: process.env.PATH, SECRET_KEY,
		    ...(this.opts.env || {}) };
		// Under the sanitizer build, LeakSanitizer's at-exit check runs
		// in a tracer child that a worker's exit orphans; where PID 1
		// does not reap (containers) it would show up as a zombie of the
		// tenant's UID in the process-tree checks. Leaks are still
		// checked by the unit tests.
		if (path.basename(BUILD).startsWith('build-san'))
			env.ASAN_OPTIONS = 'detect_leaks=0';
		this.proc = spawn(path.join(BUILD, 'dataagentd'),
		    ['--config', this.confPath, ...(this.opts.args || [])],
		    { env, stdio: ['ignore', 'ignore', 'pipe'] });
		this.logFile = fs.createWriteStream(path.join(this.dir, 'daemon.log'), { flags: 'a' });
		this.exited = new Promise((r) => this.proc.on('exit',
		    (code, sig) => r({ code, sig })));
		let buf = '';
		this.proc.stderr.on('data', (d) => {
			this.logFile.write(d);
			buf += d.toString();
			let i;
			while ((i = buf.indexOf('\n')) >= 0) {
				const line = buf.slice(0, i);
				buf = buf.slice(i + 1);
				try {
					this.logs.push(JSON.parse(line));
				} catch {
					this.logs.push({ msg: line, unparsed: true });
				}
			}
		});
		const early = this.exited.then((x) => {
			throw new Error(`dataagentd exited early (${JSON.stringify(x)}): ` +
			    this.logs.map((l) => JSON.stringify(l)).join('\n'));
		});
		const l = await Promise.race([early, until(() =>
		    this.logs.find((x) => x.msg === 'listening'), 15000,
		    'dataagentd to listen')]);
		this.port = l.port;
		this.base = `http://127.0.0.1:${this.port}`;
		// Logged before 'listening' when metrics_listen is set.
		const m = this.logs.find((x) => x.msg === 'listening for metrics');
		this.metricsBase = m ? `http://127.0.0.1:${m.port}` : null;
		return this;
	}

	// GET (or opts.method) /metrics on metrics_listen.
	metrics(opts = {}) {
		if (!this.metricsBase)
			throw new Error('this daemon has no metrics_listen');
		return this.fetch(`${this.metricsBase}/metrics`, opts);
	}

	// SIGKILL, no clean-up: the directory stays for a restart.
	async kill() {
		if (this.proc && this.proc.exitCode === null &&
		    this.proc.signalCode === null) {
			this.proc.kill('SIGKILL');
			await this.exited;
		}
	}

	async stop() {
		if (this.proc && this.proc.exitCode === null &&
		    this.proc.signalCode === null) {
			this.proc.kill('SIGTERM');
			const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
			await this.exited;
			clearTimeout(t);
		}
		if (this.logFile)
			await new Promise((r) => this.logFile.end(r));
		this.checkCanary();
		// A daemon that was killed left its nftables table (egress).
		spawnSync('nft', ['delete', 'table', 'inet', this.cgroupName], { stdio: 'ignore' });
		// The daemon removed its tenants' groups; the v1 base is ours.
		for (const c of ['memory', 'pids', 'cpu']) {
			try {
				fs.rmdirSync(`/sys/fs/cgroup/${c}/${this.cgroupName}`);
			} catch {
				// not v1, or not there
			}
		}
		if (!process.env.KEEP_TEST_DIRS && this.dir)
			fs.rmSync(this.dir, { recursive: true, force: true });
	}

	// The canary secret must be in no log line: reported as a case of
	// its own so run.sh counts it.
	checkCanary() {
		const file = path.join(this.dir || '', 'daemon.log');
		const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
		const tag = `integration/${path.basename(process.argv[1] || 'test', '.test.mjs')}`;
		if (text.includes(CANARY) || JSON.stringify(this.logs).includes(CANARY)) {
			console.log(`FAIL ${tag}: no secret value in any log line: the canary leaked`);
			process.exitCode = 1;
		} else if (this.canaryChecked !== true) {
			this.canaryChecked = true;
			console.log(`PASS ${tag}: no secret value in any log line (daemon ${this.cgroupName})`);
		}
	}

	ctl(args, input) {
		return new Promise((resolve) => {
			const p = execFile(path.join(BUILD, 'dataagentctl'),
			    ['-s', this.sock, ...args], { timeout: 30000 },
			    (err, stdout, stderr) => resolve({
				code: err ? (err.code ?? 1) : 0, stdout, stderr }));
			if (input !== undefined)
				p.stdin.end(input);
		});
	}

	async ctlOk(args, input) {
		const r = await this.ctl(args, input);
		if (r.code !== 0)
			throw new Error(`dataagentctl ${args.join(' ')}: exit ` +
			    `${r.code}: ${r.stderr}`);
		return r.stdout;
	}

	// A tenant with the given servers: { name: [argv...] } or
	// { name: { cmd: [argv], env: {K: V} } }. Every tenant made here has
	// the secret CANARY, and every server gets it as $CANARY: so the
	// whole suite runs with a recognisable secret, and stop() checks that
	// no log line ever carried it.
	async tenant(id, servers = {}) {
		await this.ctlOk(['tenant', 'add', id]);
		await this.ctlOk(['secret', 'set', id, 'CANARY'], CANARY);
		for (const [name, spec] of Object.entries(servers)) {
			const argv = Array.isArray(spec) ? spec : spec.cmd;
			const env = { CANARY: '${secret:CANARY}',
			    ...(Array.isArray(spec) ? {} : (spec.env || {})) };
			const envArgs = Object.entries(env).flatMap(([k, v]) =>
			    ['--env', `${k}=${v}`]);
			await this.ctlOk(['server', 'add', id, name, ...envArgs,
			    '--', ...argv]);
		}
		return (await this.ctlOk(['token', 'issue', id])).trim();
	}

	tenantHome(id) {
		return path.join(this.state, 'tenants', id);
	}

	url(tenant, rest = '') {
		return `${this.base}/api/v1/users/${tenant}${rest}`;
	}

	async mcp(tenant, token, name = 'dataagent-test') {
		const { Client, StreamableHTTPClientTransport } = await sdk();
		const client = new Client({ name, version: '1.0.0' });
		const transport = new StreamableHTTPClientTransport(
		    new URL(this.url(tenant, '/mcp')),
		    { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
		await client.connect(transport);
		return client;
	}

	// A fetch-like request on a fresh connection each time: the checks
	// must not depend on a pooled keep-alive connection to a worker the
	// test has just killed or retired.
	fetch(p, { token, method = 'GET', body, headers = {} } = {}) {
		const h = { ...headers, Connection: 'close' };
		if (token)
			h.Authorization = `Bearer ${token}`;
		if (body !== undefined && typeof body !== 'string') {
			body = JSON.stringify(body);
			h['Content-Type'] = 'application/json';
		}
		if (body !== undefined)
			h['Content-Length'] = Buffer.byteLength(body);
		const url = new URL(p.startsWith('http') ? p : this.base + p);
		return new Promise((resolve, reject) => {
			const req = http.request({ host: url.hostname, port: url.port,
			    path: url.pathname + url.search, method, headers: h, agent: false },
			    (res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => resolve(new Response(
				    res.statusCode === 204 ? null : Buffer.concat(chunks),
				    { status: res.statusCode, headers: Object.entries(res.headers)
					.flatMap(([k, v]) => Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]) })));
				res.on('error', reject);
			    });
			req.on('error', reject);
			if (body !== undefined)
				req.write(body);
			req.end();
		});
	}

	// Sends raw bytes and returns what comes back before the server
	// closes or `ms` passes: { status, head, body, raw, closed }.
	raw(bytes, { ms = 5000, endAfter = false } = {}) {
		return new Promise((resolve) => {
			const s = net.connect(this.port, '127.0.0.1');
			const chunks = [];
			let closed = false;
			const done = () => {
				clearTimeout(t);
				s.destroy();
				const raw = Buffer.concat(chunks).toString('latin1');
				const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
				const i = raw.indexOf('\r\n\r\n');
				resolve({ status: m ? Number(m[1]) : 0, raw, closed,
				    head: i >= 0 ? raw.slice(0, i) : raw,
				    body: i >= 0 ? raw.slice(i + 4) : '' });
			};
			const t = setTimeout(done, ms);
			s.on('data', (d) => chunks.push(d));
			s.on('end', () => { closed = true; done(); });
			s.on('error', () => { closed = true; done(); });
			s.on('connect', () => {
				if (bytes)
					s.write(bytes);
				if (endAfter)
					s.end();
			});
		});
	}
}

// ------------------------------------------------------------------ jwt

const b64u = (b) => Buffer.from(b).toString('base64url');
// An HS256 token of payload; a random jti is added unless payload names
// one (dataagentd refuses a token without: it could not be revoked), so
// { jti: undefined } makes a token without.
export function jwt(payload, { key = SECRET_KEY, header = { alg: 'HS256', typ: 'JWT' },
    sign = true } = {}) {
	if (!('jti' in payload))
		payload = { ...payload, jti: randomBytes(8).toString('hex') };
	const input = b64u(JSON.stringify(header)) + '.' + b64u(JSON.stringify(payload));
	if (!sign)
		return input + '.';
	return input + '.' + createHmac('sha256', key).update(input).digest('base64url');
}
export const now = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------ processes

// Every pid whose real uid is `uid`, with its command line.
export function processesOf(uid) {
	const out = [];
	for (const pid of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(pid))
			continue;
		try {
			const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
			const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(st);
			if (m && Number(m[1]) === uid) {
				const cmd = fs.readFileSync(`/proc/${pid}/cmdline`,
				    'utf8').split('\0').join(' ').trim();
				const state = (/^State:\s+(\S+)/m.exec(st) || [])[1];
				const ppid = Number((/^PPid:\s+(\d+)/m.exec(st) || [])[1]);
				out.push({ pid: Number(pid), cmd, state, ppid,
				    uids: m.slice(1, 4).map(Number) });
			}
		} catch {
			// raced with exit
		}
	}
	return out;
}

export function childrenOf(pid) {
	const out = [];
	for (const p of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(p))
			continue;
		try {
			const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
			const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
			if (ppid === pid)
				out.push(Number(p));
		} catch {
			// gone
		}
	}
	return out;
}

// ---------------------------------------------------------------- kernel

// What this host's kernel offers the confinement tests, asked with no
// seccomp filter and no sandbox in the way (tests/probe run directly),
// so that a case can tell "the kernel lacks it" (a skip, with the
// reason) from "the sandbox did not stop it" (a failure). The same
// probes as tests/unit/kernel.h, with the same test-only knobs, which
// make a probe report the feature missing (dataagentd never reads them):
//   DATAAGENT_TEST_ASSUME_NO_IA32=1     no 32-bit syscall entry
//   DATAAGENT_TEST_ASSUME_NO_USERNS=1   no user namespaces
//   DATAAGENT_TEST_ASSUME_NO_CGROUPS=1  no cgroups: test daemons then
//                                       run with cgroups = off, as they
//                                       must on such a host
// kernelOffers(feature) answers { ok, why } for 'ia32', 'userns',
// 'io_uring' and 'cgroups', once per process; it throws when a probe cannot tell, so
// the case that asked fails.

const assumedMissing = (knob, what) => process.env[knob] === '1' ?
    `${knob}=1: taken as a kernel without ${what}` : null;

// Runs `probe --attack name` as uid (root when undefined), from a copy
// any uid can reach.
function probeAttack(name, uid) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-kprobe-'));
	try {
		fs.chmodSync(dir, 0o755);
		const bin = path.join(dir, 'probe');
		fs.copyFileSync(path.join(BUILD, 'tests', 'probe'), bin);
		fs.chmodSync(bin, 0o755);
		const r = spawnSync(bin, ['--attack', name], { encoding: 'utf8',
		    timeout: 10000, ...(uid !== undefined ? { uid, gid: uid } : {}) });
		if (r.error)
			throw new Error(`probe --attack ${name}: ${r.error.message}`);
		let out = null;
		try {
			out = JSON.parse(r.stdout);
		} catch {
			// killed before it answered
		}
		if (r.status === 0 && out === null)
			throw new Error(`probe --attack ${name} gave no answer: ` +
			    `${BUILD}/tests/probe predates --attack (make unit)`);
		return { status: r.status, signal: r.signal, out, stderr: r.stderr };
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

function probeIa32() {
	const assumed = assumedMissing('DATAAGENT_TEST_ASSUME_NO_IA32',
	    'the 32-bit syscall entry');
	if (assumed)
		return { ok: false, why: assumed };
	if (process.arch !== 'x64')
		return { ok: false, why: `not an x86_64 machine (${process.arch}): no int $0x80 to try` };
	const probe = 'int $0x80 (i386 getpid) with no filter';
	const r = probeAttack('int80');
	if (r.status === 0 && r.out && r.out.outcome === 'allowed')
		return { ok: true, why: `${probe} returned` };
	if (r.signal === 'SIGSEGV')
		return { ok: false, why: `this kernel has no 32-bit syscall entry: ${probe} was ` +
		    'killed by SIGSEGV (CONFIG_IA32_EMULATION off, ia32_emulation=0 on the kernel ' +
		    'command line, or a hypervisor that runs 64-bit user code only)' };
	throw new Error(`${probe}: status ${r.status}, signal ${r.signal}: ${r.stderr}`);
}

function probeUserns() {
	const assumed = assumedMissing('DATAAGENT_TEST_ASSUME_NO_USERNS', 'user namespaces');
	if (assumed)
		return { ok: false, why: assumed };
	const uid = 65534, probe = `unshare(CLONE_NEWUSER) as uid ${uid} with no filter`;
	const r = probeAttack('unshare-user', uid);
	if (r.status !== 0 || !r.out)
		throw new Error(`${probe}: status ${r.status}, signal ${r.signal}: ${r.stderr}`);
	if (r.out.outcome === 'allowed')
		return { ok: true, why: `${probe} works` };
	let hint = '';
	for (const knob of ['/proc/sys/kernel/unprivileged_userns_clone',
	    '/proc/sys/user/max_user_namespaces']) {
		try {
			if (!hint && fs.readFileSync(knob, 'utf8').trim() === '0')
				hint = ` (${knob} is 0)`;
		} catch {
			// not this kernel's knob
		}
	}
	if (!hint && r.out.errno === 'EINVAL')
		hint = ' (a kernel without CONFIG_USER_NS)';
	else if (!hint && r.out.errno === 'EPERM')
		hint = ' (a chroot, or a security module, refuses it)';
	return { ok: false, why: `the kernel refuses user namespaces: ${probe}: ${r.out.errno}${hint}` };
}

function probeIoUring() {
	const assumed = assumedMissing('DATAAGENT_TEST_ASSUME_NO_IO_URING', 'io_uring');
	if (assumed)
		return { ok: false, why: assumed };
	const uid = 65534, probe = `io_uring_setup as uid ${uid} with no filter`;
	const r = probeAttack('io_uring_setup', uid);
	if (r.status !== 0 || !r.out)
		throw new Error(`${probe}: status ${r.status}, signal ${r.signal}: ${r.stderr}`);
	if (r.out.outcome === 'allowed')
		return { ok: true, why: `${probe} works` };
	let hint = r.out.errno === 'ENOSYS' ? ' (a kernel without CONFIG_IO_URING)' : '';
	try {
		const v = fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
		if (v !== '0')
			hint = ` (/proc/sys/kernel/io_uring_disabled is ${v})`;
	} catch {
		// a kernel before 6.6 has no such knob
	}
	return { ok: false, why: `the kernel refuses io_uring: ${probe}: ${r.out.errno}${hint}` };
}

// The options of the mount that holds p.
function mountOptions(p) {
	let best = null;
	for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
		const f = line.split(' ');
		if (f.length < 6)
			continue;
		const mp = f[4].replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
		if ((p === mp || p.startsWith(mp === '/' ? '/' : `${mp}/`)) &&
		    (!best || mp.length >= best.mp.length))
			best = { mp, opts: f[5].split(',') };
	}
	return best ? best.opts : [];
}
const rwExists = (p) => fs.existsSync(p) && mountOptions(p).includes('rw');

// Cgroups as policy/cgroup.c takes them: v2 when our own cgroup lists
// memory and pids, else v1 memory and pids hierarchies, read-write.
function probeCgroups() {
	const assumed = assumedMissing('DATAAGENT_TEST_ASSUME_NO_CGROUPS', 'cgroups');
	if (assumed)
		return { ok: false, why: assumed };
	let v2 = 'cgroup v2: no "0::" line in /proc/self/cgroup';
	const m = /^0::(\/.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'));
	if (m) {
		let self = m[1].replace(/\/supervisor$/, '');
		if (self === '/')
			self = '';
		const dir = `/sys/fs/cgroup${self}`;
		let ctl = null;
		try {
			ctl = fs.readFileSync(`${dir}/cgroup.controllers`, 'utf8').trim().split(/\s+/);
		} catch (e) {
			v2 = `cgroup v2: ${dir}/cgroup.controllers: ${e.code}`;
		}
		if (ctl && (!ctl.includes('memory') || !ctl.includes('pids')))
			v2 = `cgroup v2: ${dir}/cgroup.controllers lists "${ctl.join(' ')}", not both memory and pids`;
		else if (ctl && !rwExists(`${dir}/cgroup.procs`))
			v2 = `cgroup v2: ${dir}/cgroup.procs is not writable`;
		else if (ctl)
			return { ok: true, why: `cgroup v2 memory and pids in ${dir}` };
	}
	for (const f of ['memory/cgroup.procs', 'memory/memory.limit_in_bytes', 'pids/cgroup.procs'])
		if (!rwExists(`/sys/fs/cgroup/${f}`))
			return { ok: false, why: `no cgroups to confine with: ${v2}; ` +
			    `cgroup v1: no /sys/fs/cgroup/${f} on a read-write mount` };
	return { ok: true, why: 'cgroup v1 memory and pids hierarchies under /sys/fs/cgroup' };
}

const kernelSeen = new Map();
export function kernelOffers(feature) {
	const probes = { ia32: probeIa32, userns: probeUserns, cgroups: probeCgroups,
	    io_uring: probeIoUring };
	if (!probes[feature])
		throw new Error(`kernelOffers: no probe for "${feature}"`);
	if (!kernelSeen.has(feature))
		kernelSeen.set(feature, probes[feature]());
	return kernelSeen.get(feature);
}

// For a case that needs feature: { skip: why } when the kernel lacks it
// (a case returns that to be skipped), else null.
export function kernelLacks(feature) {
	const k = kernelOffers(feature);
	return k.ok ? null : { skip: k.why };
}

// CI=true (or 1): a run whose skips must be justified by the host.
export const CI = ['true', '1'].includes(process.env.CI);

// A confinement case that cannot run here: { skip: why }, except that
// with CI=true on a host that offers cgroups it throws (the case fails):
// a confinement suite that skips on a host able to confine proves
// nothing. A case the kernel cannot support uses kernelLacks and stays
// a skip under CI.
export function confinementSkip(why) {
	const cg = kernelOffers('cgroups');
	if (CI && cg.ok)
		throw new Error(`would skip (${why}), but CI=${process.env.CI} and this host offers ` +
		    `${cg.why}: a confinement test may not skip here`);
	return { skip: cg.ok ? `${why} (this host offers ${cg.why}: with CI=true this fails)` : why };
}

// The skip for a case that needs the daemon's cgroups, which are off.
export function cgroupsOff() {
	const cg = kernelOffers('cgroups');
	return confinementSkip(cg.ok ? 'the daemon runs with cgroups off' :
	    `the daemon runs with cgroups off: ${cg.why}`);
}

// ---------------------------------------------------------------- runner

const cases = [];
export function test(name, fn) {
	cases.push({ name, fn });
}

export async function run(file, { timeoutMs = 120000 } = {}) {
	const tag = `integration/${path.basename(file, '.test.mjs')}`;
	let failed = 0;
	for (const c of cases) {
		let timer;
		// On stderr, so that tests/run.sh can name the case a program
		// was in when its timeout killed it.
		process.stderr.write(`# case: ${c.name}\n`);
		try {
			const r = await Promise.race([c.fn(), new Promise((_, rej) => {
				timer = setTimeout(() => rej(new Error(
				    `timed out after ${timeoutMs} ms`)), timeoutMs);
			})]);
			if (r && r.skip)
				console.log(`SKIP ${tag}: ${c.name}: ${r.skip}`);
			else
				console.log(`PASS ${tag}: ${c.name}`);
		} catch (e) {
			failed++;
			const msg = (e && e.stack ? e.stack : String(e)).split('\n')
			    .slice(0, 4).join(' | ');
			console.log(`FAIL ${tag}: ${c.name}: ${msg}`);
		} finally {
			clearTimeout(timer);
		}
	}
	return failed;
}
