// config.test.mjs: what dataagentd refuses to start with, -t, and the
// precedence defaults < file < environment < flags seen from outside.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, BUILD, ROOT, SECRET_KEY, UID_SHIFT } from './lib.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-cfg-'));
fs.chmodSync(dir, 0o755);
const conf = path.join(dir, 'dataagent.conf');

function daemon(args, env = {}) {
	return new Promise((resolve) => {
		execFile(path.join(BUILD, 'dataagentd'), args,
		    { env: { PATH: process.env.PATH, ...env }, timeout: 20000 },
		    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
}

const base = `state_dir = ${dir}/state\ncontrol_socket = ${dir}/c.sock\n` +
    `worker_path = ${BUILD}/dataagent-worker\npolicy_dir = ${ROOT}/policy\n`;

test('-t accepts a good config and exits 0', async () => {
	fs.writeFileSync(conf, base + 'port = 9123\n');
	const r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 0, r.stderr);
	assert(/ok/.test(r.stdout), r.stdout);
});

test('-t names the file and line of a bad key', async () => {
	fs.writeFileSync(conf, base + 'port = 9123\nbogus = 1\n');
	const r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 1);
	assert(r.stderr.includes(`${conf}:6`) && r.stderr.includes('bogus'), r.stderr);
	eq(r.stderr.split(`${conf}:6`).length - 1, 1, `the error once: ${r.stderr}`);
	assert(!r.stderr.includes('"level"'), `-t prints plain lines, no JSON: ${r.stderr}`);
});

test('-t compiles the seccomp policy and names the line of a bad rule', async () => {
	const pdir = path.join(dir, 'policy');
	fs.mkdirSync(pdir, { recursive: true });
	const good = fs.readFileSync(path.join(ROOT, 'policy', 'upstream.policy'), 'utf8');
	// the relays' policy too: handoff = relay, the default, needs it
	for (const p of ['worker.policy', 'relay.policy'])
		fs.copyFileSync(path.join(ROOT, 'policy', p), path.join(pdir, p));
	fs.writeFileSync(path.join(pdir, 'upstream.policy'), good + 'no_such_syscall\n');
	fs.writeFileSync(conf, base + `policy_dir = ${pdir}\n`);
	const r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 1);
	const line = good.split('\n').length;
	assert(r.stderr.includes(`upstream.policy:${line}: unknown syscall "no_such_syscall"`), r.stderr);
	fs.writeFileSync(path.join(pdir, 'upstream.policy'), good);
	eq((await daemon(['-t', '--config', conf], { SECRET_KEY })).code, 0);
});

test('-t checks tenant_network = egress: range, allowlist and deny list', async () => {
	for (const [extra, want] of [
		['tenant_egress_allow = api.github.com:443', /tenant_egress_allow: "api.github.com:443" .*host names are not taken/],
		['tenant_egress_allow = 10.0.0.1/8', /tenant_egress_allow: "10.0.0.1\/8" is not an IPv4 address or CIDR \(host bits zero\)/],
		['tenant_egress_allow = 203.0.113.7:70000', /tenant_egress_allow: "203.0.113.7:70000": the port must be 1 to 65535/],
		['tenant_egress_range = 10.213.0.0/8', /tenant_egress_range: "10.213.0.0\/8" is not an IPv4 CIDR from \/16 to \/29/],
		['tenant_egress_deny = 192.0.2.0/33', /tenant_egress_deny: "192.0.2.0\/33"/],
		['tenant_network = outside', /tenant_network/],
	]) {
		fs.writeFileSync(conf, base + `tenant_network = egress\n${extra}\n`);
		const r = await daemon(['-t', '--config', conf], { SECRET_KEY });
		eq(r.code, 1, `${extra}: ${r.stderr}`);
		assert(want.test(r.stderr), `${extra}: ${r.stderr}`);
	}
	fs.writeFileSync(conf, base + 'tenant_network = egress\n' +
	    'tenant_egress_allow = 203.0.113.0/24, 198.51.100.7:443\ntenant_egress_deny = 192.0.2.0/24\n');
	const r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 0, r.stderr);
});

test('SECRET_KEY unset, short or the placeholder: refused with a clear message', async () => {
	fs.writeFileSync(conf, base);
	for (const [name, env] of [['unset', {}], ['short', { SECRET_KEY: 'abc' }],
	    ['placeholder', { SECRET_KEY: 'change-me-in-production' }]]) {
		const r = await daemon(['-t', '--config', conf], env);
		eq(r.code, 1, name);
		assert(r.stderr.includes('SECRET_KEY'), `${name}: ${r.stderr}`);
	}
});

test('DATABASE_URL: the guide\'s MySQL form and sqlite forms are accepted; malformed ones are refused without the password', async () => {
	fs.writeFileSync(conf, base);
	let r = await daemon(['-t', '--config', conf], { SECRET_KEY,
	    DATABASE_URL: 'mysql+aiomysql://u:pw@127.0.0.1:3306/dataagent' });
	eq(r.code, 0, r.stderr);
	r = await daemon(['-t', '--config', conf], { SECRET_KEY,
	    DATABASE_URL: 'mysql://u:sekretpw@127.0.0.1:3306/dataagent?ssl=perhaps' });
	eq(r.code, 1);
	assert(r.stderr.includes('ssl') && !r.stderr.includes('sekretpw'), r.stderr);
	r = await daemon(['-t', '--config', conf, '--db-url', `sqlite:////${dir}/x.db`], { SECRET_KEY });
	eq(r.code, 0, r.stderr);
});

test('environment beats the file, flags beat the environment', async () => {
	fs.writeFileSync(conf, base + 'log_level = bogus-level\n');
	let r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 1, 'file value is read');
	fs.writeFileSync(conf, base + 'max_connections_per_user = 500\n');
	r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 1, 'file: per-user above the default total');
	r = await daemon(['-t', '--config', conf], { SECRET_KEY, MCP_MAX_TOTAL_CONNECTIONS: '1000' });
	eq(r.code, 0, `env raises the total: ${r.stderr}`);
	r = await daemon(['-t', '--config', conf, '--log-level', 'loud'], { SECRET_KEY, LOG_LEVEL: 'debug',
	    MCP_MAX_TOTAL_CONNECTIONS: '1000' });
	eq(r.code, 1, 'flag is applied after env');
	// and a running daemon listens where the flag says, not the file
	fs.writeFileSync(conf, base + 'port = 1\n');
	const d = new Daemon({ args: ['--port', '0'], config: { } });
	await d.start();
	assert(d.port > 1024, `port ${d.port}`);
	await d.stop();
});

test('not root: refuses to start and says why', async () => {
	fs.writeFileSync(conf, base + 'port = 0\n');
	const r = await new Promise((resolve) => execFile('setpriv',
	    ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(BUILD, 'dataagentd'),
	    '--config', conf], { env: { SECRET_KEY }, timeout: 10000 },
	    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr })));
	eq(r.code, 1);
	assert(/root/.test(r.stderr), r.stderr);
});

// A host that cannot give the default egress: here, root without
// CAP_NET_ADMIN (a container's root, say), where no namespace can bring
// its loopback up, so only host is left to choose.
// UIDs of these cases' own: a started daemon claims its range host-wide.
const ownUids = `tenant_uid_base = ${78500 + UID_SHIFT}\ntenant_uid_count = 100\n`;

function withoutNetAdmin(args) {
	return new Promise((resolve) => execFile('setpriv',
	    ['--bounding-set', '-net_admin', path.join(BUILD, 'dataagentd'), ...args],
	    { env: { PATH: process.env.PATH, SECRET_KEY }, timeout: 20000 },
	    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
}

test('the default egress where the host cannot give it: -t and the start stop with the cause and the choice, never host by themselves', async () => {
	const why = 'tenant_network is egress by default, and this host cannot give it: SIOCSIFFLAGS lo up: ' +
	    'Operation not permitted; fix the host (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN, ' +
	    'egress nftables too) or choose in dataagent.conf: tenant_network = host (tenants\' servers share ' +
	    'the host\'s network and reach every listener on its loopback)';
	fs.writeFileSync(conf, base + ownUids + 'port = 0\n');
	let r = await withoutNetAdmin(['-t', '--config', conf]);
	eq(r.code, 1, r.stderr);
	eq(r.stderr.split('\n').filter((l) => l.startsWith('dataagentd: tenant_network')), [`dataagentd: ${why}`]);
	r = await withoutNetAdmin(['--config', conf]);
	eq(r.code, 1, r.stderr);
	const line = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
	    .find((l) => l.msg === 'tenant network refused by this host');
	assert(line, r.stderr);
	eq([line.level, line.tenant_network, line.explicit, line.what],
	    ['error', 'egress', false, why]);
	assert(!/"msg":"listening"/.test(r.stderr), 'it listened');
	// Chosen in the file: said plainly, with what is left.
	fs.writeFileSync(conf, base + ownUids + 'port = 0\ntenant_network = egress\n');
	r = await withoutNetAdmin(['-t', '--config', conf]);
	eq(r.code, 1);
	assert(r.stderr.includes('dataagentd: tenant_network = egress cannot be had on this host: SIOCSIFFLAGS ' +
	    'lo up: Operation not permitted; fix the host or choose another tenant_network (host)\n'), r.stderr);
	// host is a choice, warned about, and works there.
	fs.writeFileSync(conf, base + ownUids + 'port = 0\ntenant_network = host\n');
	r = await withoutNetAdmin(['-t', '--config', conf]);
	eq(r.code, 0, r.stderr);
	assert(r.stderr.includes('dataagentd: warning: tenant_network = host: tenants\' MCP servers share the ' +
	    'host\'s network and reach every listener on its loopback'), r.stderr);
	// Where the host can, -t checks the default and says nothing of it.
	fs.writeFileSync(conf, base + ownUids + 'port = 0\n');
	r = await daemon(['-t', '--config', conf], { SECRET_KEY });
	eq(r.code, 0, r.stderr);
	assert(!/tenant_network/.test(r.stderr), r.stderr);
});

test('tenant_network = host: a warning at start and on a reload to it', async () => {
	const warning = 'tenant_network = host: tenants\' MCP servers share the host\'s network and reach every ' +
	    'listener on its loopback (the gateway\'s own port, the store\'s database, other tenants\' servers); ' +
	    'egress or none wall them off';
	const d = new Daemon({ workers: 0, uid_base: 78600, config: { tenant_network: 'host' } });
	await d.start();
	try {
		eq(d.logs.filter((l) => l.level === 'warn' && l.msg === warning).length, 1, 'at start');
		const n = d.logs.length;
		fs.writeFileSync(d.confPath, fs.readFileSync(d.confPath, 'utf8')
		    .replace('tenant_network = host', 'tenant_network = none'));
		await d.ctlOk(['reload']);
		await until(() => d.logs.slice(n).some((l) => l.msg === 'configuration reloaded'), 10000, 'reload');
		eq(d.logs.slice(n).filter((l) => l.msg === warning).length, 0, 'warned on a reload to none');
		const m = d.logs.length;
		fs.writeFileSync(d.confPath, fs.readFileSync(d.confPath, 'utf8')
		    .replace('tenant_network = none', 'tenant_network = host'));
		await d.ctlOk(['reload']);
		await until(() => d.logs.slice(m).some((l) => l.msg === 'configuration reloaded'), 10000, 'reload');
		eq(d.logs.slice(m).filter((l) => l.level === 'warn' && l.msg === warning).length, 1, 'on the reload to host');
	} finally {
		await d.stop();
	}
});

test('no usable cgroups: refuses to start unless cgroups = off', async () => {
	// This machine's cgroup v2 mount has no memory controller: asking for
	// v2 must fail with the reason; "off" starts with a warning.
	const v2 = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup2 ') &&
	    fs.existsSync('/sys/fs/cgroup/cgroup.controllers') &&
	    /memory/.test(fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8'));
	if (v2)
		return { skip: 'this host offers cgroup v2 memory: nothing to refuse' };
	fs.writeFileSync(conf, base + ownUids + 'port = 0\ncgroups = v2\n');
	const r = await daemon(['--config', conf], { SECRET_KEY });
	eq(r.code, 1);
	assert(/no usable cgroups/.test(r.stderr) && /cgroups = off/.test(r.stderr), r.stderr);
	const d = new Daemon({ config: { cgroups: 'off' } });
	await d.start();
	assert(d.logs.some((l) => l.level === 'warn' && /cgroups are off/.test(l.msg)), 'no warning');
	eq((await (await d.fetch('/health/detailed')).json()).cgroups, 'off');
	await d.stop();
});

test('tenant UIDs: a daemon whose range overlaps a running one refuses to start and names it', async () => {
	const a = new Daemon({ uid_base: 76000 });	// 76001..76100 (+ shift)
	const b = new Daemon({ uid_base: 76050 });	// overlaps, not equal
	const c = new Daemon({ uid_base: 76150 });	// 76151..76250: disjoint from both
	try {
		await a.start();
		const first = a.logs.find((l) => l.msg === 'tenant UIDs claimed');
		eq([first.first, first.last], [76001 + UID_SHIFT, 76100 + UID_SHIFT], 'claimed');
		const started = await b.start().then(() => true, () => false);
		assert(!started, 'b started beside a');
		eq((await b.exited).code, 1, 'b exit status');
		const lo = 76051 + UID_SHIFT, hi = 76150 + UID_SHIFT;
		const want = `dataagentd: tenant UIDs ${lo} to ${hi} overlap those of another ` +
		    `dataagentd (pid ${a.proc.pid}, config ${a.confPath}, UIDs ${76001 + UID_SHIFT} ` +
		    `to ${76100 + UID_SHIFT}; /run/lock/dataagent/${76001 + UID_SHIFT}-` +
		    `${76100 + UID_SHIFT}.${a.proc.pid}.lock): give each daemon on a host its own ` +
		    'tenant_uid_base and tenant_uid_count';
		assert(b.logs.some((l) => l.msg === want), `b said: ${JSON.stringify(b.logs)}`);
		// -t takes no claim: it checks a running daemon's file
		const t = await daemon(['-t', '--config', a.confPath], { SECRET_KEY });
		eq(t.code, 0, t.stderr);
		// a disjoint range starts beside a
		await c.start();
		// a claim dies with its daemon, even by SIGKILL
		await a.kill();
		b.logs = [];
		await b.launch();
		await b.stop();
	} finally {
		await a.stop();
		await b.stop();
		await c.stop();
	}
});

test('--version and --help', async () => {
	let r = await daemon(['--version']);
	eq(r.code, 0);
	assert(/dataagentd \d+\.\d+\.\d+/.test(r.stdout), r.stdout);
	r = await daemon(['--help']);
	eq(r.code, 0);
	assert(r.stdout.includes('--workers') && r.stdout.includes('SECRET_KEY'), r.stdout);
	r = await daemon(['--no-such-flag']);
	eq(r.code, 2);
});

const failed = await run(import.meta.url);
fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
