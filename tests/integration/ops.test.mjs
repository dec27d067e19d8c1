// ops.test.mjs: running dataagent as a service. The systemd unit
// (systemd-analyze verify, its capability bounding set under a real
// tenant), the sd_notify protocol against a socket this test listens on
// (READY, STATUS, RELOADING, WATCHDOG, STOPPING), reload by SIGHUP and by
// `dataagentctl reload`, a configuration that fails to reload, the config
// reference (every key documented), and the Debian package built,
// linted, installed, run and purged.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, BUILD, ROOT, NODE,
    SECRET_KEY, EVERYTHING } from './lib.mjs';

const UNIT = path.join(ROOT, 'systemd', 'dataagent.service');
const LISTENER = path.join(ROOT, 'tests', 'ops', 'notify-listen.py');

function sh(cmd, args, opts = {}) {
	return new Promise((resolve) => {
		execFile(cmd, args, { timeout: 600000, maxBuffer: 64 << 20, ...opts },
		    (err, stdout, stderr) => resolve({
			code: err ? (typeof err.code === 'number' ? err.code : 127) : 0,
			stdout, stderr, missing: err && err.code === 'ENOENT' }));
	});
}

async function have(cmd) {
	return (await sh('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

// ------------------------------------------------------------ the unit

// A copy of the unit whose ExecStart is the freshly built daemon, and a
// MANPATH holding this tree's pages, so that verify checks both.
function unitCopy(dir, edit = (s) => s) {
	fs.mkdirSync(path.join(dir, 'man', 'man5'), { recursive: true });
	fs.mkdirSync(path.join(dir, 'man', 'man8'), { recursive: true });
	for (const f of fs.readdirSync(path.join(ROOT, 'man'))) {
		const m = /\.([0-9])$/.exec(f);
		if (m)
			fs.copyFileSync(path.join(ROOT, 'man', f),
			    path.join(dir, 'man', `man${m[1]}`, f));
	}
	const unit = path.join(dir, 'dataagent.service');
	fs.writeFileSync(unit, edit(fs.readFileSync(UNIT, 'utf8').replace(
	    /^ExecStart=\/usr\/sbin\/dataagentd/m,
	    `ExecStart=${path.join(BUILD, 'dataagentd')}`)));
	return unit;
}

async function verify(unit, dir) {
	return sh('systemd-analyze', ['verify', unit],
	    { env: { ...process.env, MANPATH: path.join(dir, 'man') } });
}

test('systemd-analyze verify: the unit is clean (and a broken one is not)', async () => {
	if (!await have('systemd-analyze'))
		return { skip: 'systemd-analyze is not installed (make deps)' };
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-unit-'));
	try {
		let r = await verify(unitCopy(dir), dir);
		const out = (r.stdout + r.stderr).trim();
		if (r.code !== 0 && /Failed to (initialize|create|set up) (manager|bus)|Operation not permitted/.test(out))
			return { skip: `systemd-analyze cannot run here: ${out.split('\n')[0]}` };
		eq([r.code, out], [0, ''], 'verify');
		// The check is not vacuous: a misspelt option is reported.
		r = await verify(unitCopy(dir, (s) => s.replace('KillMode=mixed',
		    'KillMode=mixed\nKilMode=mixed')), dir);
		assert(/KilMode/.test(r.stdout + r.stderr), `typo not reported: ${r.stderr}`);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

function unitSettings() {
	const m = new Map();
	for (const line of fs.readFileSync(UNIT, 'utf8').split('\n')) {
		const x = /^([A-Za-z]+)=(.*)$/.exec(line);
		if (x)
			m.set(x[1], [...(m.get(x[1]) || []), x[2]]);
	}
	return m;
}

test('the unit: notify, watchdog, delegation, kill mode, OOM policy, credential, sandbox', async () => {
	const u = unitSettings();
	const one = (k) => (u.get(k) || []).join(' ');
	eq(one('Type'), 'notify');
	assert(/^\d+s?$/.test(one('WatchdogSec')), `WatchdogSec=${one('WatchdogSec')}`);
	eq([one('Delegate'), one('KillMode'), one('OOMPolicy'), one('ProtectSystem')],
	    ['yes', 'mixed', 'continue', 'strict']);
	eq([one('StateDirectory'), one('RuntimeDirectory'), one('ConfigurationDirectory')],
	    ['dataagent', 'dataagent', 'dataagent']);
	eq(one('LoadCredential'), 'master.key:/etc/dataagent/master.key');
	eq(one('ExecStart'), '/usr/sbin/dataagentd');
	// Options that would break per-tenant confinement stay out.
	for (const k of ['User', 'DynamicUser', 'PrivateUsers', 'ProtectControlGroups',
	    'MemoryDenyWriteExecute', 'SecureBits'])
		assert(!u.has(k), `${k}= is set`);
});

test('the unit\'s CapabilityBoundingSet is enough for a confined tenant, and each capability is needed', async () => {
	if (!await have('setpriv'))
		return { skip: 'setpriv (util-linux) is not installed' };
	const caps = one(unitSettings(), 'CapabilityBoundingSet').split(/\s+/)
	    .map((c) => c.toLowerCase().replace(/^cap_/, ''));
	const bounded = async (set) => {
		const r = await sh('setpriv', ['--bounding-set',
		    ['-all', ...set.map((c) => `+${c}`)].join(','), NODE,
		    path.join(ROOT, 'tests', 'ops', 'bounded.mjs')], { timeout: 120000 });
		try {
			return JSON.parse(r.stdout.trim().split('\n').pop());
		} catch {
			throw new Error(`bounded.mjs: exit ${r.code}: ${r.stdout} ${r.stderr}`);
		}
	};
	const full = await bounded(caps);
	assert(!full.error, full.error);
	eq([full.echo.status, full.memory.status, full.memoryFile],
	    [200, 200, true], JSON.stringify(full));
	eq(full.after, [], 'tenant processes left after disable');
	// CapBnd of dataagentd is exactly the unit's set.
	const bits = { chown: 0, dac_override: 1, kill: 5, setgid: 6, setuid: 7,
	    setpcap: 8, net_bind_service: 10, net_admin: 12, sys_admin: 21 };
	let want = 0n;
	for (const c of caps) {
		assert(c in bits, `unexpected capability ${c}`);
		want |= 1n << BigInt(bits[c]);
	}
	eq(BigInt('0x' + full.capBnd).toString(16), want.toString(16), 'CapBnd');
	// No core dumps: RLIMIT_CORE 0 (soft and hard) in the supervisor and
	// the tenant's worker (mem_no_core, also PR_SET_DUMPABLE 0: unit
	// test_secrets), however the service manager started them.
	eq([full.coreLimit, full.workerCoreLimit], ['0 0', '0 0'], JSON.stringify(full));
	// Without any one of these the tenant cannot be served. (CAP_KILL is
	// needed only to kill a worker that already runs as the tenant.)
	for (const c of caps.filter((x) => x !== 'kill')) {
		const r = await bounded(caps.filter((x) => x !== c));
		assert(r.echo?.status !== 200 || r.memory?.status !== 200 ||
		    !r.memoryFile, `still works without ${c}: ${JSON.stringify(r)}`);
	}
});

function one(u, k) {
	return (u.get(k) || []).join(' ');
}

// ---------------------------------------------------------- sd_notify

// A datagram socket standing in for systemd's (python3: node's dgram has
// no Unix sockets). Each message is parsed into { fields, pid }.
class NotifyListener {
	async start(where) {
		this.where = where;
		this.msgs = [];
		this.proc = spawn('python3', [LISTENER, where],
		    { stdio: ['ignore', 'pipe', 'pipe'] });
		let buf = '', err = '';
		this.proc.stderr.on('data', (d) => { err += d; });
		const ready = new Promise((resolve, reject) => {
			this.proc.on('exit', (c) => reject(new Error(
			    `notify-listen.py exited ${c}: ${err}`)));
			this.proc.stdout.on('data', (d) => {
				buf += d.toString();
				let i;
				while ((i = buf.indexOf('\n')) >= 0) {
					const line = buf.slice(0, i);
					buf = buf.slice(i + 1);
					if (line === 'ready') {
						resolve();
						continue;
					}
					const m = JSON.parse(line);
					const fields = {};
					for (const kv of m.msg.split('\n')) {
						const j = kv.indexOf('=');
						fields[kv.slice(0, j)] = kv.slice(j + 1);
					}
					this.msgs.push({ fields, raw: m.msg, pid: m.pid,
					    at: Date.now() });
				}
			});
		});
		await ready;
		return this;
	}

	// Waits for a message with `key` (and value) after index `from`.
	async next(key, value, from = 0, ms = 10000) {
		return until(() => this.msgs.slice(from).find((m) => key in m.fields &&
		    (value === undefined || m.fields[key] === value)), ms,
		    `${key}${value !== undefined ? '=' + value : ''} on the notify socket`);
	}

	stop() {
		this.proc.kill('SIGKILL');
		if (!this.where.startsWith('@'))
			fs.rmSync(path.dirname(this.where), { recursive: true, force: true });
	}
}

async function pythonMissing() {
	if (!await have('python3'))
		return { skip: 'python3 is not installed (make deps)' };
	return null;
}

test('Type=notify: READY=1 with STATUS= once listening, from the main pid', async () => {
	const skip = await pythonMissing();
	if (skip)
		return skip;
	const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-nfy-')), 'notify');
	const l = await new NotifyListener().start(sock);
	const d = new Daemon({ env: { NOTIFY_SOCKET: sock } });
	try {
		await d.start();
		const ready = await l.next('READY', '1');
		eq(ready.pid, d.proc.pid, 'sender pid');
		assert(/^serving 0 tenants, 0 active workers, \d+ spares?$/.test(ready.fields.STATUS),
		    `STATUS=${ready.fields.STATUS}`);
		// READY only after the listener is up: the port answers.
		eq((await d.fetch('/health')).status, 200);
		// A tenant shows up in the next STATUS (sent with each watchdog
		// ping, or after a reload).
		await d.tenant('nfy');
		const n = l.msgs.length;
		d.proc.kill('SIGHUP');
		const st = await l.next('READY', '1', n);
		assert(/^serving 1 tenant,/.test(st.fields.STATUS), `STATUS=${st.fields.STATUS}`);
		// Nothing about the socket reaches the workers.
		const w = d.logs.find((x) => x.msg === 'worker started' || x.worker_pid);
		if (w && w.worker_pid && fs.existsSync(`/proc/${w.worker_pid}/environ`))
			assert(!fs.readFileSync(`/proc/${w.worker_pid}/environ`, 'utf8')
			    .includes('NOTIFY_SOCKET'), 'a worker inherited NOTIFY_SOCKET');
	} finally {
		await d.stop();
		l.stop();
	}
});

test('SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1; SIGTERM: STOPPING=1', async () => {
	const skip = await pythonMissing();
	if (skip)
		return skip;
	const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-nfy-')), 'notify');
	const l = await new NotifyListener().start(sock);
	const d = new Daemon({ env: { NOTIFY_SOCKET: sock } });
	try {
		await d.start();
		await l.next('READY', '1');
		const n = l.msgs.length;
		d.proc.kill('SIGHUP');
		const rl = await l.next('RELOADING', '1', n);
		const usec = BigInt(rl.fields.MONOTONIC_USEC);
		// CLOCK_MONOTONIC, as systemd compares it: node's hrtime is the
		// same clock on Linux.
		const nowUsec = process.hrtime.bigint() / 1000n;
		assert(usec <= nowUsec && nowUsec - usec < 10000000n,
		    `MONOTONIC_USEC=${usec}, now ${nowUsec}`);
		const i = l.msgs.indexOf(rl);
		await l.next('READY', '1', i + 1);
		await until(() => d.logs.find((x) => x.msg === 'configuration reloaded'),
		    5000, 'the reload log line');
		const m = l.msgs.length;
		d.proc.kill('SIGTERM');
		const stop = await l.next('STOPPING', '1', m);
		eq(stop.pid, d.proc.pid);
		eq((await d.exited).code, 0);
		// Nothing after STOPPING=1 says READY again.
		assert(!l.msgs.slice(l.msgs.indexOf(stop)).some((x) => 'READY' in x.fields),
		    'READY after STOPPING');
	} finally {
		await d.stop();
		l.stop();
	}
});

test('WATCHDOG_USEC=200000: WATCHDOG=1 about every 100 ms; another WATCHDOG_PID: none', async () => {
	const skip = await pythonMissing();
	if (skip)
		return skip;
	const sock = '@dataagent-test-' + process.pid;	// an abstract socket, too
	const l = await new NotifyListener().start(sock);
	const d = new Daemon({ env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000' } });
	try {
		await d.start();
		await l.next('READY', '1');
		const n = l.msgs.length;
		await sleep(1200);
		const pings = l.msgs.slice(n).filter((x) => x.fields.WATCHDOG === '1');
		assert(pings.length >= 5 && pings.length <= 16, `${pings.length} pings in 1.2 s`);
		for (const p of pings)
			eq(p.pid, d.proc.pid);
		const gaps = pings.slice(1).map((p, i) => p.at - pings[i].at);
		// systemd would act on a gap as long as WATCHDOG_USEC.
		assert(Math.max(...gaps) < 200, `gaps ${gaps.join(',')} ms (limit 200)`);
	} finally {
		await d.stop();
	}
	// The variables name another process (a manager that set them for a
	// parent): no pings, but the rest of the protocol still works.
	const n = l.msgs.length;
	const d2 = new Daemon({ env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000',
	    WATCHDOG_PID: '1' } });
	try {
		await d2.start();
		await l.next('READY', '1', n);
		await sleep(600);
		assert(!l.msgs.slice(n).some((x) => 'WATCHDOG' in x.fields),
		    'pinged although WATCHDOG_PID is another process');
	} finally {
		await d2.stop();
		l.stop();
	}
});

test('NOTIFY_SOCKET unset: nothing is sent; a bad one is refused at start', async () => {
	const skip = await pythonMissing();
	if (skip)
		return skip;
	const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-nfy-')), 'notify');
	const l = await new NotifyListener().start(sock);
	const d = new Daemon({ env: { WATCHDOG_USEC: '100000' } });
	try {
		await d.start();
		d.proc.kill('SIGHUP');
		await until(() => d.logs.find((x) => x.msg === 'configuration reloaded'),
		    5000, 'the reload');
		await sleep(300);
	} finally {
		await d.stop();
	}
	eq(l.msgs.length, 0, 'datagrams without NOTIFY_SOCKET');
	l.stop();
	const bad = new Daemon({ env: { NOTIFY_SOCKET: 'relative/path' } });
	let started = true;
	try {
		await bad.start();
	} catch {
		started = false;
	}
	try {
		assert(!started, 'started with NOTIFY_SOCKET=relative/path');
		eq((await bad.exited).code, 1);
		// stderr may still be in the pipe when the exit is seen.
		const e = await until(() => bad.logs.find((x) =>
		    x.msg === 'cannot talk to the service manager'), 5000, 'the error');
		assert(/NOTIFY_SOCKET must be an absolute path/.test(e.error), e.error);
	} finally {
		await bad.stop();
	}
});

// ------------------------------------------------------------- reload

function setKey(file, key, value) {
	const lines = fs.readFileSync(file, 'utf8').split('\n')
	    .filter((x) => !x.startsWith(`${key} =`) && x !== '');
	fs.writeFileSync(file, [...lines, `${key} = ${value}`, ''].join('\n'));
}

test('dataagentctl reload: "reload requested", exit 0, new settings apply', async () => {
	const d = new Daemon({ workers: 1, log_level: 'info' });
	try {
		await d.start();
		const status = async () => JSON.parse(await d.ctlOk(['--json', 'status']));
		eq((await status()).workers.spare_target, 1);
		setKey(d.confPath, 'workers', 3);
		setKey(d.confPath, 'log_level', 'debug');
		const r = await d.ctl(['reload']);
		eq([r.code, r.stdout, r.stderr], [0, 'reload requested\n', '']);
		await until(() => d.logs.find((x) => x.msg === 'configuration reloaded'),
		    5000, 'configuration reloaded');
		eq((await status()).workers.spare_target, 3);
		await until(async () => (await status()).workers.spare === 3, 10000,
		    'three spares');
		// The new log level is in force: the spares it started were
		// logged at debug, which was off before.
		const i = d.logs.findIndex((x) => x.msg === 'reloading');
		assert(i > 0 && !d.logs.slice(0, i).some((x) => x.level === 'debug' &&
		    x.proc === 'dataagentd'),
		    'debug lines before the reload');
		assert(d.logs.slice(i).some((x) => x.level === 'debug' &&
		    x.proc === 'dataagentd'), 'no debug line after the reload');
		// --json, the audit row, and usage errors.
		eq(JSON.parse(await d.ctlOk(['--json', 'reload'])), { requested: true });
		const u = await d.ctl(['reload', 'now']);
		eq(u.code, 2, u.stderr);
	} finally {
		await d.stop();
	}
});

test('a config that does not load on reload: logged with why, the old one kept', async () => {
	const skip = await pythonMissing();
	const sock = skip ? null : path.join(fs.mkdtempSync(path.join(os.tmpdir(),
	    'dataagent-nfy-')), 'notify');
	const l = sock ? await new NotifyListener().start(sock) : null;
	const d = new Daemon({ workers: 2, log_level: 'info',
	    env: sock ? { NOTIFY_SOCKET: sock } : {} });
	try {
		await d.start();
		const token = await d.tenant('keep');
		const good = fs.readFileSync(d.confPath, 'utf8');
		fs.writeFileSync(d.confPath, good + 'workers = 5\nno_such_key = 1\n');
		const line = good.split('\n').length + 1;
		const n = l ? l.msgs.length : 0;
		d.proc.kill('SIGHUP');
		const f = await until(() => d.logs.find((x) =>
		    x.msg === 'reload failed, keeping the running configuration'), 5000,
		    'the reload failure');
		eq(f.level, 'error');
		assert(f.error.includes(`${d.confPath}:${line}`) && f.error.includes('no_such_key'),
		    f.error);
		if (l) {
			const r = await l.next('READY', '1', n);
			assert(/^reload failed/.test(r.fields.STATUS), r.fields.STATUS);
		}
		// Still running on the old configuration, still serving.
		const st = JSON.parse(await d.ctlOk(['--json', 'status']));
		eq(st.workers.spare_target, 2);
		eq((await d.fetch('/api/v1/users/keep/mcp-servers', { token })).status, 200);
		// A value out of range and a bad environment are refused alike
		// (the same checks as at start), then a good file applies.
		const n2 = l ? l.msgs.length : 0;
		fs.writeFileSync(d.confPath, good + 'workers = 99999\n');
		await d.ctlOk(['reload']);
		await until(() => d.logs.filter((x) =>
		    x.msg === 'reload failed, keeping the running configuration').length === 2,
		    5000, 'the second failure');
		// The log line can come before the notify datagram: wait for
		// the failure's READY too, so the next one is the good reload's.
		if (l)
			await l.next('READY', '1', n2);
		const m = l ? l.msgs.length : 0;
		fs.writeFileSync(d.confPath, good + 'workers = 3\n');
		await d.ctlOk(['reload']);
		await until(() => d.logs.find((x) => x.msg === 'configuration reloaded'),
		    5000, 'a good reload');
		eq(JSON.parse(await d.ctlOk(['--json', 'status'])).workers.spare_target, 3);
		if (l) {
			// The failure stays in the status line until a reload works.
			const ok = await l.next('READY', '1', m);
			assert(/^serving /.test(ok.fields.STATUS), ok.fields.STATUS);
		}
	} finally {
		await d.stop();
		if (l)
			l.stop();
	}
});

// -------------------------------------------------- config reference

// The key table and environment names of common/config.c.
function configKeys() {
	const src = fs.readFileSync(path.join(ROOT, 'common', 'config.c'), 'utf8');
	const table = src.slice(src.indexOf('cfg_keys[] = {'), src.indexOf('};',
	    src.indexOf('cfg_keys[] = {')));
	const keys = [...table.matchAll(/^\s*(?:STR|INT|SIZE|CHOICE)?\(?\{?\s*"([a-z_]+)"/gm)]
	    .map((m) => m[1]);
	const envs = [...src.matchAll(/\{ "([A-Z_]+)", "[a-z_]+" \}/g)].map((m) => m[1]);
	return { keys, envs };
}

test('dataagent.conf(5) and packaging/dataagent.conf document every key', async () => {
	const { keys, envs } = configKeys();
	assert(keys.length >= 28 && keys.includes('log_level') && keys.includes('host'),
	    `parsed keys: ${keys}`);
	const man = fs.readFileSync(path.join(ROOT, 'man', 'dataagent.conf.5'), 'utf8');
	const sample = fs.readFileSync(path.join(ROOT, 'packaging', 'dataagent.conf'), 'utf8');
	const d8 = fs.readFileSync(path.join(ROOT, 'man', 'dataagentd.8'), 'utf8');
	for (const k of keys) {
		assert(new RegExp(`^\\.It Cm ${k} Pq default: `, 'm').test(man), `${k} not in dataagent.conf.5`);
		assert(new RegExp(`^#${k} =`, 'm').test(sample), `${k} not in packaging/dataagent.conf`);
	}
	for (const e of envs)
		assert(new RegExp(`^\\.It Ev ${e}$`, 'm').test(man), `${e} not in dataagent.conf.5`);
	assert(/^\.Xr dataagent\.conf 5/m.test(d8), 'dataagentd(8) does not refer to dataagent.conf(5)');
});

test('packaging/dataagent.conf with every key uncommented is a valid configuration', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-sample-'));
	try {
		let text = fs.readFileSync(path.join(ROOT, 'packaging', 'dataagent.conf'), 'utf8')
		    .replace(/^#([a-z_]+ =)/gm, '$1');
		// Paths of this test run instead of the installed ones.
		const local = { state_dir: path.join(dir, 'state'),
		    control_socket: path.join(dir, 'c.sock'),
		    worker_path: path.join(BUILD, 'dataagent-worker'),
		    policy_dir: path.join(ROOT, 'policy'), secret_key: SECRET_KEY };
		for (const [k, v] of Object.entries(local))
			text = text.replace(new RegExp(`^${k} =.*$`, 'm'), `${k} = ${v}`);
		const conf = path.join(dir, 'dataagent.conf');
		fs.writeFileSync(conf, text);
		const r = await sh(path.join(BUILD, 'dataagentd'), ['-t', '--config', conf],
		    { env: { PATH: process.env.PATH } });
		eq(r.code, 0, r.stderr);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

// ---------------------------------------------------- Debian package

test('bash completion: commands, subcommands, tenant ids and server names from the daemon', async () => {
	const d = new Daemon({ uid_base: 69000 });
	await d.start();
	try {
		await d.ctlOk(['tenant', 'add', 'comp-a']);
		await d.ctlOk(['tenant', 'add', 'comp-b']);
		await d.ctlOk(['server', 'add', 'comp-a', 'srv1', '--', '/bin/true']);
		const complete = (words) => new Promise((resolve) => {
			const script = `source ${ROOT}/packaging/bash-completion/dataagentctl
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_dataagentctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
			execFile('bash', ['-c', script], { env: { PATH: `${BUILD}:${process.env.PATH}` } },
			    (err, stdout) => resolve(stdout.split('\n').filter(Boolean).sort()));
		});
		eq(await complete(['dataagentctl', 't']), ['tenant', 'token']);
		eq(await complete(['dataagentctl', 'tenant', 'di']), ['disable']);
		eq(await complete(['dataagentctl', '-s', d.sock, 'tenant', 'show', 'comp']), ['comp-a', 'comp-b']);
		eq(await complete(['dataagentctl', '-s', d.sock, 'server', 'remove', 'comp-a', '']), ['srv1']);
		eq(await complete(['dataagentctl', 'tenant', 'set-limits', 'x', 'p']), ['pids_max=']);
	} finally {
		await d.stop();
	}
});

test('every dataagentctl command has --help: its own lines, options, exit status', async () => {
	for (const [word, other] of [['tenant', 'server add'], ['server', 'tenant add'],
	    ['token', 'server list'], ['status', 'token issue'], ['reload', 'tenant list']]) {
		const r = await new Promise((resolve) => execFile(path.join(BUILD, 'dataagentctl'),
		    [word, '--help'], (err, stdout) => resolve({ code: err ? err.code : 0, stdout })));
		eq(r.code, 0, word);
		assert(r.stdout.includes(`  ${word}`) && !r.stdout.includes(`  ${other}`) &&
		    r.stdout.includes('--json') && r.stdout.includes('Exit status'), `${word}: ${r.stdout}`);
	}
});

test('SIGHUP with a client mid-call: the call completes, the connection stays', async () => {
	const d = new Daemon({ uid_base: 69100 });
	await d.start();
	try {
		const tok = await d.tenant('hup', { everything: EVERYTHING });
		const c = await d.mcp('hup', tok);
		const slow = c.callTool({ name: 'everything__trigger-long-running-operation',
		    arguments: { duration: 2, steps: 2 } }, undefined, { timeout: 30000 })
		    .then((x) => ({ ok: x }), (e) => ({ err: e }));
		await sleep(500);
		d.proc.kill('SIGHUP');
		await until(() => d.logs.find((l) => l.msg === 'configuration reloaded'), 5000, 'the reload');
		const r = await slow;
		assert(r.ok && /completed/i.test(JSON.stringify(r.ok)), `call: ${r.err}`);
		const e = await c.callTool({ name: 'everything__echo', arguments: { message: 'after reload' } });
		eq(e.content[0].text, 'Echo: after reload');
		await c.close();
	} finally {
		await d.stop();
	}
});

test('make deb: lintian has no errors; dpkg -i, dataagentd -t from it, dpkg --purge', async () => {
	for (const c of ['dpkg-buildpackage', 'dh', 'dpkg', 'flock'])
		if (!await have(c))
			return { skip: `${c} is not installed (make deps installs dpkg-dev and debhelper)` };
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-deb-'));
	try {
		const b = await sh('make', ['-s', '-C', ROOT, 'deb', `DEB_DIR=${dir}`],
		    { env: { ...process.env, DEB_BUILD_OPTIONS: `parallel=${os.cpus().length}` } });
		eq(b.code, 0, `make deb: ${(b.stdout + b.stderr).slice(-2000)}`);
		const deb = fs.readdirSync(dir).find((f) => /^dataagent_.*\.deb$/.test(f));
		assert(deb, `no .deb in ${fs.readdirSync(dir)}`);
		const changes = fs.readdirSync(dir).find((f) => f.endsWith('.changes'));
		let lintNote = '';
		if (await have('lintian')) {
			const li = await sh('lintian', ['--fail-on', 'error', path.join(dir, changes)]);
			const tags = (li.stdout + li.stderr).split('\n')
			    .filter((x) => /^[EWIP]: /.test(x));
			eq([li.code, tags.filter((x) => x.startsWith('E: '))], [0, []], 'lintian');
		} else {
			lintNote = ' (lintian not installed)';
		}
		const r = await sh('flock', ['-w', '300', '/tmp/dataagent-deb-test.lock',
		    path.join(ROOT, 'tests', 'ops', 'deb-roundtrip.sh'), path.join(dir, deb)]);
		const out = (r.stdout + r.stderr).trim();
		if (r.code === 2 && /^skip /m.test(out))
			return { skip: out.replace(/^skip /, '') };
		eq(r.code, 0, out);
		assert(/^ok dataagentd -t/m.test(out) && /^ok dpkg --purge/m.test(out), out);
		if (lintNote)
			return { skip: `package installed, run and purged; not linted${lintNote}` };
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test('a worker at its fd limit closes its oldest idle connections and says so at warning', async () => {
	// tenant_nofile 64: the worker keeps 16 fds in reserve, so past fd 47
	// it closes idle keep-alive connections, oldest first. The client
	// sockets themselves reach the worker with handoff = direct; through
	// relays it holds one stream per client connection instead, and the
	// relay keeps its client when an idle stream goes.
	const d = new Daemon({ uid_base: 77000, config: { tenant_nofile: 64,
	    handoff: 'direct' } });
	const socks = [];
	try {
		await d.start();
		const tok = await d.tenant('fdl');
		const open = () => new Promise((resolve, reject) => {
			const s = net.connect(d.port, '127.0.0.1');
			s.closedByPeer = false;
			s.on('end', () => { s.closedByPeer = true; });
			s.on('error', () => { s.closedByPeer = true; });
			let buf = '';
			s.on('data', (c) => {
				buf += c.toString('latin1');
				const i = buf.indexOf('\r\n\r\n');
				const m = /content-length: *(\d+)/i.exec(buf);
				if (i >= 0 && m && buf.length >= i + 4 + Number(m[1]))
					resolve(s);
			});
			s.on('connect', () => s.write('GET /api/v1/users/fdl/mcp-servers HTTP/1.1\r\n' +
			    `Host: localhost\r\nAuthorization: Bearer ${tok}\r\n\r\n`));
			setTimeout(() => reject(new Error(`no answer: ${buf}`)), 5000);
		});
		for (let i = 0; i < 60; i++)
			socks.push(await open());
		const l = await until(() => d.logs.find((x) => x.msg ===
		    'at its fd limit: the oldest idle client connections were closed'), 5000,
		    'the warning');
		eq([l.level, l.tenant, l.nofile, l.per_s], ['warn', 'fdl', 64, 10], JSON.stringify(l));
		assert(l.closed >= 1, JSON.stringify(l));
		await sleep(200);
		assert(socks[0].closedByPeer, 'the oldest connection is still open');
		assert(!socks[socks.length - 1].closedByPeer, 'the newest connection was closed');
		// the worker still serves, and at most one line per 10 s
		const again = await d.fetch('/api/v1/users/fdl/mcp-servers', { token: tok });
		eq(again.status, 200, 'a new request');
		eq(d.logs.filter((x) => x.msg === l.msg).length, 1, 'one warning line');
	} finally {
		for (const s of socks)
			s.destroy();
		await d.stop();
	}
});

const failed = await run(import.meta.url, { timeoutMs: 300000 });
process.exit(failed ? 1 : 0);
