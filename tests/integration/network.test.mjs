// network.test.mjs: what a tenant's code may reach on the network, in the
// hostile style. The probe (tests/probe) runs as tenant mallory's stdio
// MCP server and tries to connect to what the host runs on loopback: the
// gateway's own port, the
// store's MariaDB, a listener the test opens on 127.0.0.1 and ::1,
// another tenant's loopback listener, an abstract Unix socket, and the
// host's own non-loopback address. Each case asserts the exact errno.
//
// First with tenant_network = host: the same attacks succeed, so the
// cases can fail and the listeners are really there. Then with
// tenant_network = none: every one is refused, while the tenant's own
// loopback and a server that needs no network keep working. Then with
// tenant_network = egress: the same are refused (the host's addresses
// and other tenants by the nftables rules, EHOSTUNREACH), while a
// "remote host" the test runs in a network namespace of its own on a
// private address is reached, a remote MCP server there among them; and
// with an allowlist, only its allowed port.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Daemon, test, run, assert, eq, until, processesOf, BUILD, EVERYTHING, NODE,
    PEERS } from './lib.mjs';

// Fixtures a tenant's process must reach live outside /tmp and /var/tmp,
// which every worker replaces with private ones.
const fx = fs.mkdtempSync('/opt/dataagent-network-');
fs.chmodSync(fx, 0o755);
const probe = path.join(fx, 'probe');
fs.copyFileSync(path.join(BUILD, 'tests', 'probe'), probe);
fs.chmodSync(probe, 0o755);

// The host's listeners: TCP on every address (so 127.0.0.1, ::1 and the
// host's own address all answer) and an abstract Unix socket.
const listen = (srv, ...args) => new Promise((resolve, reject) => {
	srv.once('error', reject);
	srv.listen(...args, () => resolve(srv));
});
const accepted = [];
const onConn = (s) => { accepted.push(s); s.on('error', () => {}); };
const tcp = await listen(net.createServer(onConn), 0, '::');
const tcpPort = tcp.address().port;
const abstractName = `dataagent-network-${process.pid}`;
const abs = await listen(net.createServer(onConn), `\0${abstractName}`);

const hostAddr = Object.values(os.networkInterfaces()).flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
const mariadbPort = (() => {
	try {
		return Number(fs.readFileSync(path.join(process.env.DATAAGENT_TEST_MARIADB_DIR, 'port'),
		    'utf8').trim());
	} catch {
		return null;
	}
})();

// Both daemons, one after the other; uid ranges apart. Each is stopped
// when its cases are done, and at the end whatever happened.
const daemons = [];
const stopOnce = async (d) => {
	if (!d.stopped) {
		d.stopped = true;
		await d.stop();
	}
};
async function gateway(mode, uidBase, config = {}) {
	const d = new Daemon({ workers: 1, uid_base: uidBase,
	    config: { tenant_network: mode, ...config } });
	daemons.push(d);
	await d.start();
	const tok = await d.tenant('mallory', { probe: [probe] });
	const ntok = await d.tenant('neighbour', { probe: [probe] });
	const etok = await d.tenant('quiet', { everything: EVERYTHING });
	return { d, tok, ntok, etok };
}

async function attack(g, tok, tenant, name, arg) {
	const res = await g.d.fetch(`/api/v1/users/${tenant}/tools/probe/attack`,
	    { token: tok, method: 'POST', body: { name, ...(arg !== undefined ? { arg: String(arg) } : {}) } });
	const body = await res.json();
	if (res.status !== 200)
		throw new Error(`${name}: ${res.status} ${JSON.stringify(body)}`);
	return JSON.parse(body.result.content[0].text);
}

// What each attack aims at, given a running gateway g (null: cannot be
// tried here, with the reason).
const targets = [
	['the gateway port', (g) => `127.0.0.1:${g.d.port}`],
	['a host listener on 127.0.0.1', () => `127.0.0.1:${tcpPort}`],
	['a host listener on ::1', () => `[::1]:${tcpPort}`],
	["another tenant's listener on its loopback", (g) => `127.0.0.1:${g.neighbourPort}`],
	["the store's MariaDB port", () => mariadbPort ? `127.0.0.1:${mariadbPort}` :
	    { skip: 'no private MariaDB here (tests/run.sh starts one)' }],
	["the host's own address", () => hostAddr ? `${hostAddr.address}:${tcpPort}` :
	    { skip: 'the host has no non-loopback IPv4 address' }],
];

let tried = 0, blocked = 0;

function cases(mode, gw, reg = test) {
	for (const [what, target] of targets) {
		reg(`${mode}: connect to ${what}`, async () => {
			const arg = target(gw());
			if (typeof arg === 'object')
				return arg;
			const got = await attack(gw(), gw().tok, 'mallory', 'connect-tcp', arg);
			if (mode === 'host') {
				// The host's network: everything answers, the
				// neighbour's listener too (it is on the host's
				// loopback).
				eq(got.outcome, 'allowed', `${arg}: ${JSON.stringify(got)}`);
				return;
			}
			tried++;
			// Loopback is the tenant's own, where nothing listens; the
			// host's address has no route at all (none), or the rules
			// refuse it (egress).
			const want = what !== "the host's own address" ? 'ECONNREFUSED' :
			    mode === 'none' ? 'ENETUNREACH' : 'EHOSTUNREACH';
			eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: want },
			    `${arg}: ${JSON.stringify(got)}`);
			blocked++;
		});
	}
	reg(`${mode}: connect to an abstract Unix socket of the host`, async () => {
		const got = await attack(gw(), gw().tok, 'mallory', 'connect-abstract', abstractName);
		if (mode === 'host')
			return eq(got.outcome, 'allowed', JSON.stringify(got));
		tried++;
		eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'ECONNREFUSED' },
		    JSON.stringify(got));
		blocked++;
	});
	reg(`${mode}: the tenant's own loopback works`, async () => {
		const l = await attack(gw(), gw().tok, 'mallory', 'listen-tcp', '127.0.0.1:0');
		eq(l.outcome, 'allowed', JSON.stringify(l));
		const got = await attack(gw(), gw().tok, 'mallory', 'connect-tcp', `127.0.0.1:${l.detail}`);
		eq(got.outcome, 'allowed', JSON.stringify(got));
	});
	reg(`${mode}: a server that needs no network answers`, async () => {
		const r = await gw().d.fetch('/api/v1/users/quiet/tools/everything/echo',
		    { token: gw().etok, method: 'POST', body: { message: `in ${mode}` } });
		eq(r.status, 200);
		eq((await r.json()).result.content[0].text, `Echo: in ${mode}`);
	});
}

// The namespace each of a tenant's processes is in.
const netnsOf = (uid) => processesOf(uid).map((p) => {
	try {
		return { ...p, ns: fs.readlinkSync(`/proc/${p.pid}/ns/net`) };
	} catch {
		return { ...p, ns: null };
	}
}).filter((p) => p.ns);

let g = null;
const gw = () => g;
async function bringUp(mode, uidBase, config) {
	g = await gateway(mode, uidBase, config);
	// The neighbour listens on its loopback, on a port the kernel picks.
	const l = await attack(g, g.ntok, 'neighbour', 'listen-tcp', '127.0.0.1:0');
	eq(l.outcome, 'allowed', JSON.stringify(l));
	g.neighbourPort = Number(l.detail);
}

test('host: the gateway starts with tenant_network = host', async () => {
	await bringUp('host', 68000);
	assert(g.d.logs.some((l) => l.msg === 'tenant network' && l.tenant_network === 'host'),
	    'no "tenant network" line');
});
cases('host', gw);
test('host: the tenant shares the host\'s namespace', async () => {
	const self = fs.readlinkSync('/proc/self/ns/net');
	const uid = JSON.parse(await g.d.ctlOk(['--json', 'tenant', 'show', 'mallory'])).uid;
	for (const p of netnsOf(uid))
		eq(p.ns, self, p.cmd);
	await stopOnce(g.d);
});

test('none: the gateway starts with tenant_network = none', async () => {
	await bringUp('none', 68100);
	assert(g.d.logs.some((l) => l.msg === 'tenant network' && l.tenant_network === 'none'),
	    'no "tenant network" line');
	assert(g.d.logs.some((l) => l.msg === 'worker assigned' && l.tenant === 'neighbour' &&
	    l.network === 'none'), 'the worker did not log its network: ' +
	    JSON.stringify(g.d.logs.filter((l) => l.msg === 'worker assigned')));
});
cases('none', gw);
test("none: worker, launcher and servers share one namespace, the tenant's own", async () => {
	const self = fs.readlinkSync('/proc/self/ns/net');
	const uidOf = async (t) => JSON.parse(await g.d.ctlOk(['--json', 'tenant', 'show', t])).uid;
	const mine = netnsOf(await uidOf('mallory'));
	const theirs = netnsOf(await uidOf('neighbour'));
	assert(mine.length >= 3, JSON.stringify(mine));
	eq(new Set(mine.map((p) => p.ns)).size, 1, JSON.stringify(mine));
	assert(mine[0].ns !== self, 'mallory is in the host\'s namespace');
	assert(theirs.length >= 1 && theirs.every((p) => p.ns !== mine[0].ns && p.ns !== self),
	    JSON.stringify(theirs));
});
test('none: a restarted server comes back in the same namespace', async () => {
	const uid = JSON.parse(await g.d.ctlOk(['--json', 'tenant', 'show', 'mallory'])).uid;
	const before = netnsOf(uid).find((p) => p.cmd.includes('probe'));
	process.kill(before.pid, 'SIGKILL');
	// The call that finds it dead says so (502); the worker starts it
	// again for the next.
	let w = null;
	for (let i = 0; i < 20 && !w; i++) {
		try {
			w = await attack(g, g.tok, 'mallory', 'whoami');
		} catch (e) {
			assert(/killed by signal 9|not running|restarting/.test(e.message), e.message);
			await new Promise((r) => setTimeout(r, 250));
		}
	}
	eq(w && w.outcome, 'allowed');
	const after = netnsOf(uid).find((p) => p.cmd.includes('probe'));
	assert(after && after.pid !== before.pid, 'no new probe');
	eq(after.ns, before.ns);
	await stopOnce(g.d);
});

// ---------------------------------------------------------------- egress

// What egress needs from the kernel: veth pairs and nf_tables, tried in a
// throw-away namespace with no daemon in the way.
const egressLacks = (() => {
	for (const [what, cmd] of [['veth pairs', 'ip link add name va type veth peer name vb'],
	    ['nf_tables', 'nft add table inet probe']]) {
		const r = spawnSync('unshare', ['-n', 'sh', '-c', cmd], { encoding: 'utf8' });
		if (r.status !== 0)
			return `the host cannot make ${what} (${cmd} in a new network namespace: ` +
			    `${(r.stderr || r.error || '').toString().trim()})`;
	}
	return null;
})();

// The "remote host": a network namespace of the test's own, on a private
// address routed through the host, running server-everything over
// Streamable HTTP and a bare TCP listener.
const remote = { ns: `dar${process.pid}`, link: `darh${process.pid % 100000}`,
    host: '10.216.0.1', addr: '10.216.0.2', kids: [] };
const ip = (...args) => {
	const r = spawnSync('ip', args, { encoding: 'utf8' });
	if (r.status !== 0)
		throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
};
async function remoteUp() {
	ip('netns', 'add', remote.ns);
	ip('link', 'add', remote.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote.ns);
	ip('addr', 'add', `${remote.host}/30`, 'dev', remote.link);
	ip('link', 'set', remote.link, 'up');
	ip('-n', remote.ns, 'addr', 'add', `${remote.addr}/30`, 'dev', 'eth0');
	ip('-n', remote.ns, 'link', 'set', 'eth0', 'up');
	ip('-n', remote.ns, 'link', 'set', 'lo', 'up');
	ip('-n', remote.ns, 'route', 'add', 'default', 'via', remote.host);
	// Replies come back in on this interface: it forwards them.
	fs.writeFileSync(`/proc/sys/net/ipv4/conf/${remote.link}/forwarding`, '1');
	const kid = (args, env = {}) => {
		const p = spawn('ip', ['netns', 'exec', remote.ns, NODE, ...args],
		    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
		p.text = '';
		p.stdout.on('data', (b) => { p.text += b; });
		p.stderr.on('data', (b) => { p.text += b; });
		remote.kids.push(p);
		return p;
	};
	remote.mcpPort = 18000 + (process.pid % 1000);
	const mcp = kid([`${PEERS}/node_modules/@modelcontextprotocol/server-everything/dist/index.js`,
	    'streamableHttp'], { PORT: String(remote.mcpPort) });
	await until(() => /(listening|running) on port/i.test(mcp.text) || mcp.exitCode !== null,
	    15000, 'server-everything in the remote namespace');
	assert(mcp.exitCode === null, mcp.text);
	const bare = kid(['-e', "const s = require('net').createServer((c) => c.end())" +
	    ".listen(0, () => console.log('port ' + s.address().port));"]);
	await until(() => /port \d+/.test(bare.text), 10000, 'a listener in the remote namespace');
	remote.barePort = Number(/port (\d+)/.exec(bare.text)[1]);
}
function remoteDown() {
	for (const p of remote.kids)
		p.kill('SIGKILL');
	spawnSync('ip', ['link', 'del', remote.link]);
	spawnSync('ip', ['netns', 'del', remote.ns]);
}

const table = () => spawnSync('nft', ['list', 'table', 'inet', g.d.cgroupName],
    { encoding: 'utf8' });
const refusedOf = async (tenant) => {
	const text = await (await g.d.metrics()).text();
	const m = new RegExp(`^dataagent_tenant_egress_refused_total\\{user_id="${tenant}"\\} (\\d+)$`, 'm')
	    .exec(text);
	return m ? Number(m[1]) : null;
};
const egressSkip = () => egressLacks ? { skip: egressLacks } : null;
const egressCase = (title, fn) => test(title, async () => egressSkip() || fn());
const lastAddress = (tenant) => {
	const l = g.d.logs.filter((x) => x.msg === 'worker assigned' && x.tenant === tenant &&
	    x.egress_address).pop();
	return l ? l.egress_address : null;
};

egressCase('egress: the gateway starts with tenant_network = egress', async () => {
	await remoteUp();
	await bringUp('egress', 68200, { tenant_egress_range: '10.215.0.0/24' });
	assert(g.d.logs.some((l) => l.msg === 'egress: nftables table ready' &&
	    l.range === '10.215.0.0/24'), 'no "egress: nftables table ready" line');
	eq(table().status, 0, 'no nftables table');
});
for (const [title, fn] of (() => {
	const list = [];
	cases('egress', gw, (t, f) => list.push([t, f]));
	return list;
})())
	egressCase(title, fn);
egressCase("egress: connect to the host's end of the tenant's own pair", async () => {
	const mine = lastAddress('mallory');
	assert(mine, 'no egress_address for mallory');
	const hostEnd = mine.replace(/\d+$/, (n) => String(Number(n) - 1));
	const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${hostEnd}:${tcpPort}`);
	tried++;
	eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'EHOSTUNREACH' },
	    JSON.stringify(got));
	blocked++;
});
egressCase("egress: connect to another tenant's address", async () => {
	const l = await attack(g, g.ntok, 'neighbour', 'listen-tcp', '0.0.0.0:0');
	eq(l.outcome, 'allowed', JSON.stringify(l));
	const theirs = lastAddress('neighbour');
	assert(theirs, 'no egress_address for neighbour');
	const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${theirs}:${l.detail}`);
	tried++;
	eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'EHOSTUNREACH' },
	    JSON.stringify(got));
	blocked++;
});
egressCase('egress: the remote host is reached, on both its ports', async () => {
	for (const port of [remote.mcpPort, remote.barePort]) {
		const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${port}`);
		eq(got.outcome, 'allowed', `${port}: ${JSON.stringify(got)}`);
	}
});
egressCase('egress: a remote MCP server there answers through the namespace', async () => {
	await g.d.ctlOk(['server', 'add', 'quiet', 'far', '--url', `http://${remote.addr}:${remote.mcpPort}/mcp`]);
	let r, body;
	for (let i = 0; i < 40; i++) {
		r = await g.d.fetch('/api/v1/users/quiet/tools/far/echo',
		    { token: g.etok, method: 'POST', body: { message: 'from afar' } });
		body = await r.json();
		if (r.status === 200)
			break;
		await new Promise((res) => setTimeout(res, 250));
	}
	eq(r.status, 200, JSON.stringify(body));
	eq(body.result.content[0].text, 'Echo: from afar');
});
// Every egress daemon refuses interfaces that look like its own but are
// in no slot (a reaped worker's stragglers); another daemon's pairs, and
// those a SIGKILLed daemon's leftover table names, must not be refused.
egressCase('egress: a second daemon, then its table left by SIGKILL, refuse none of this one\'s tenants', async () => {
	const other = new Daemon({ workers: 1, uid_base: 68700,
	    config: { tenant_network: 'egress', tenant_egress_range: '10.215.2.0/24' } });
	daemons.push(other);
	await other.start();
	const otok = await other.tenant('elsewhere', { everything: EVERYTHING });
	const r = await other.fetch('/api/v1/users/elsewhere/tools/everything/echo',
	    { token: otok, method: 'POST', body: { message: 'x' } });
	eq(r.status, 200, 'the other daemon\'s tenant');
	const reach = async (what) => {
		const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.barePort}`);
		eq(got.outcome, 'allowed', `${what}: ${JSON.stringify(got)}`);
	};
	await reach('beside a running daemon');
	await other.kill();
	other.stopped = true;
	eq(spawnSync('nft', ['list', 'table', 'inet', other.cgroupName]).status, 0, 'no table left behind to try');
	try {
		await reach('beside a killed daemon\'s table');
	} finally {
		spawnSync('nft', ['delete', 'table', 'inet', other.cgroupName]);
		await other.stop();
	}
});
egressCase('egress: refusals are counted per tenant in /metrics', async () => {
	const n = await refusedOf('mallory');
	assert(n !== null && n >= 3, `mallory refused ${n}`);
});
egressCase('egress: the table goes when the daemon stops', async () => {
	const name = g.d.cgroupName;
	await stopOnce(g.d);
	const r = spawnSync('nft', ['list', 'table', 'inet', name], { encoding: 'utf8' });
	assert(r.status !== 0, `table ${name} still there`);
});

egressCase('egress, allowlist: the gateway starts with one allowed port', async () => {
	await bringUp('egress', 68300, { tenant_egress_range: '10.215.1.0/24',
	    tenant_egress_allow: `${remote.addr}:${remote.mcpPort}` });
});
egressCase('egress, allowlist: the allowed port is reached', async () => {
	const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.mcpPort}`);
	eq(got.outcome, 'allowed', JSON.stringify(got));
});
egressCase('egress, allowlist: another port of the same host is refused', async () => {
	const before = await refusedOf('mallory');
	const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.barePort}`);
	tried++;
	eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'EHOSTUNREACH' },
	    JSON.stringify(got));
	blocked++;
	const after = await refusedOf('mallory');
	assert(after > (before || 0), `refused ${before} -> ${after}`);
});
egressCase("egress, allowlist: a tenant's own list replaces it at once, --default restores it", async () => {
	const out = await g.d.ctlOk(['tenant', 'set-egress', 'mallory', '--allow',
	    `${remote.addr}:${remote.barePort}`]);
	assert(out.includes(`allow ${remote.addr}:${remote.barePort}`), out);
	const shown = JSON.parse(await g.d.ctlOk(['--json', 'tenant', 'show', 'mallory']));
	eq(shown.egress_allow, [`${remote.addr}:${remote.barePort}`]);
	// the running worker, no restart
	let got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.barePort}`);
	eq(got.outcome, 'allowed', JSON.stringify(got));
	got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.mcpPort}`);
	tried++;
	eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'EHOSTUNREACH' },
	    JSON.stringify(got));
	blocked++;
	// the neighbour keeps the daemon's list
	got = await attack(g, g.ntok, 'neighbour', 'connect-tcp', `${remote.addr}:${remote.mcpPort}`);
	eq(got.outcome, 'allowed', JSON.stringify(got));
	const bad = await g.d.ctl(['tenant', 'set-egress', 'mallory', '--allow', 'api.github.com:443']);
	assert(bad.code !== 0 && /host names are not taken/.test(bad.stderr), bad.stderr);
	await g.d.ctlOk(['tenant', 'set-egress', 'mallory', '--default']);
	got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.mcpPort}`);
	eq(got.outcome, 'allowed', JSON.stringify(got));
	got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${remote.addr}:${remote.barePort}`);
	eq(got.errno, 'EHOSTUNREACH', JSON.stringify(got));
	const audit = await g.d.ctlOk(['--json', 'audit', '--tenant', 'mallory']);
	assert(audit.includes('tenant.set-egress'), 'no audit row');
});
egressCase('egress, allowlist: the host stays refused', async () => {
	const got = await attack(g, g.tok, 'mallory', 'connect-tcp', `${hostAddr ? hostAddr.address : remote.host}:${tcpPort}`);
	tried++;
	eq({ outcome: got.outcome, errno: got.errno }, { outcome: 'blocked', errno: 'EHOSTUNREACH' },
	    JSON.stringify(got));
	blocked++;
	await stopOnce(g.d);
});

const failed = await run(import.meta.url);
console.log(`# ${tried} network attacks tried, ${blocked} blocked`);
for (const d of daemons)
	await stopOnce(d);
remoteDown();
for (const s of accepted)
	s.destroy();
tcp.close();
abs.close();
fs.rmSync(fx, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
