// relay.test.mjs: handoff = relay. Connections that may carry several
// tenants (a proxy's pooled upstream connections, a backend's pooled HTTP
// client) are read by relays (dataagent-relay), which give each token a
// stream of its own to its tenant's worker. Two tenants' requests
// alternate on one connection while the workers are compromised
// (tests/probe/spyworker: records every byte it can read, answers every
// request as its own tenant, never hands a connection back): no byte of
// one tenant's requests reaches the other's worker. The same traffic with
// the connection handed off directly (a peer in direct_peers) shows the
// leak the relay closes, so the test can tell.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, processesOf, BUILD, ROOT, SECRET_KEY, UID_SHIFT }
    from './lib.mjs';

const UID_BASE = 79000;
const ROUNDS = 40;
const cleanup = [];

// A daemon whose workers are spyworker (copied where tenant uids can
// run it; it runs as root anyway, unconfined: the worst case).
async function spyDaemon(config) {
	const tmp = fs.mkdtempSync('/tmp/dataagent-relay-');
	fs.chmodSync(tmp, 0o755);
	const bin = path.join(tmp, 'spyworker');
	fs.copyFileSync(path.join(BUILD, 'tests', 'spyworker'), bin);
	fs.chmodSync(bin, 0o755);
	cleanup.push(tmp);
	const d = new Daemon({ workers: 2, uid_base: UID_BASE,
	    config: { worker_path: bin, ...config } });
	await d.start();
	return d;
}

const spyLog = (d, id) => {
	const f = path.join(d.tenantHome(id), 'spy.log');
	return fs.existsSync(f) ? fs.readFileSync(f, 'latin1') : '';
};

// ROUNDS requests of alice and bob, alternating, each sent by `send`;
// returns what each got back.
async function alternate(d, tokens, send) {
	const got = [];
	for (let i = 0; i < ROUNDS; i++) {
		const who = i % 2 === 0 ? 'alice' : 'bob';
		const body = JSON.stringify({ note: `body-of-${who}-${i}` });
		const r = await send(`/api/v1/users/${who}/tools/spy/call-${who}-${i}`,
		    tokens[who], body);
		got.push({ who, i, ...r });
	}
	return got;
}

// Nothing of one tenant's requests in the other's worker; each worker
// saw all of its own; every answer came from the asker's own worker.
function assertNoLeak(d, tokens, got) {
	const seen = { alice: spyLog(d, 'alice'), bob: spyLog(d, 'bob') };
	for (const [me, other] of [['alice', 'bob'], ['bob', 'alice']]) {
		assert(!seen[me].includes(tokens[other]), `${me}'s worker read ${other}'s token`);
		assert(!seen[me].includes(`/users/${other}/`), `${me}'s worker read a request for ${other}`);
		assert(!seen[me].includes(`body-of-${other}`), `${me}'s worker read ${other}'s body`);
		for (let i = me === 'alice' ? 0 : 1; i < ROUNDS; i += 2)
			assert(seen[me].includes(`body-of-${me}-${i}`), `${me}'s worker saw its request ${i}`);
	}
	for (const g of got) {
		eq(g.status, 200, `request ${g.i} of ${g.who}: ${g.text}`);
		eq(JSON.parse(g.text).tenant, g.who, `request ${g.i} of ${g.who} answered by`);
	}
}

// One pooled Node client: one socket (keepAlive, maxSockets 1) for both
// tenants' requests, straight at the gateway.
function pooledSender(port) {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const sockets = new Set();
	const send = (p, token, body) => new Promise((resolve, reject) => {
		const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', agent,
		    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
			'Content-Length': Buffer.byteLength(body) } }, (res) => {
			sockets.add(res.socket);
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode,
			    text: Buffer.concat(chunks).toString() }));
		});
		req.on('error', reject);
		req.end(body);
	});
	return { send, sockets, agent };
}

function freePort() {
	return new Promise((resolve) => {
		const s = net.createServer().listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

let relayd, relayTokens, metricsPort;

test('-t checks relay.policy and direct_peers with handoff = relay', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-relay-t-'));
	cleanup.push(dir);
	const pol = path.join(dir, 'policy');
	fs.mkdirSync(pol);
	for (const f of ['upstream.policy', 'worker.policy'])
		fs.copyFileSync(path.join(ROOT, 'policy', f), path.join(pol, f));
	const conf = path.join(dir, 'dataagent.conf');
	const t = (extra) => {
		fs.writeFileSync(conf, `state_dir = ${dir}/state\ncontrol_socket = ${dir}/c.sock\n` +
		    `worker_path = ${BUILD}/dataagent-worker\npolicy_dir = ${pol}\n${extra}`);
		return new Promise((resolve) => execFile(path.join(BUILD, 'dataagentd'),
		    ['-t', '--config', conf], { env: { PATH: process.env.PATH, SECRET_KEY }, timeout: 20000 },
		    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
	};
	let r = await t('handoff = direct\n');
	eq(r.code, 0, `direct needs no relay.policy: ${r.stderr}`);
	r = await t('handoff = relay\n');
	eq(r.code, 1, 'relay.policy missing');
	assert(r.stderr.includes(`${pol}/relay.policy`), r.stderr);
	fs.copyFileSync(path.join(ROOT, 'policy', 'relay.policy'), path.join(pol, 'relay.policy'));
	r = await t('handoff = relay\n');
	eq(r.code, 0, r.stderr);
	r = await t('handoff = relay\ndirect_peers = 10.0.0.0/8, nonsense\n');
	eq(r.code, 1);
	assert(r.stderr.includes('direct_peers: "nonsense" is not an address or CIDR'), r.stderr);
	r = await t('handoff = relay\nrelays = 0\n');
	eq(r.code, 1);
	assert(r.stderr.includes('handoff = relay needs relays'), r.stderr);
});

test('relays run under relay_uid with no capability, no_new_privs and their seccomp filter', async () => {
	metricsPort = await freePort();
	relayd = new Daemon({ workers: 1, uid_base: UID_BASE,
	    config: { handoff: 'relay', relays: 2, metrics_listen: `127.0.0.1:${metricsPort}` } });
	await relayd.start();
	const ready = await until(() => {
		const l = relayd.logs.filter((x) => x.msg === 'relay ready' && x.proc === 'relay');
		return l.length >= 2 ? l : null;
	}, 10000, 'two relays ready');
	const uid = UID_BASE + UID_SHIFT;
	for (const l of ready) {
		eq(l.uid, uid, 'relay_uid defaults to tenant_uid_base');
		const st = fs.readFileSync(`/proc/${l.pid}/status`, 'utf8');
		const f = (k) => new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(st)[1].trim();
		eq(f('Uid').split(/\s+/), [uid, uid, uid, uid].map(String), 'uids');
		eq(f('Gid').split(/\s+/), [uid, uid, uid, uid].map(String), 'gids');
		eq(f('Groups'), '', 'no supplementary groups');
		for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
			eq(f(k), '0000000000000000', k);
		eq(f('NoNewPrivs'), '1', 'no_new_privs');
		eq(f('Seccomp'), '2', 'a seccomp filter');
	}
	relayTokens = { alice: await relayd.tenant('alice'), bob: await relayd.tenant('bob') };
	const r = await relayd.fetch('/api/v1/users/alice/mcp-servers', { token: relayTokens.alice });
	eq(r.status, 200, await r.text());
	eq(relayd.logs.filter((l) => l.msg === 'relay died').length, 0, 'no relay died');
	const h = await relayd.fetch('/health');
	eq(h.status, 200);
	eq(await h.json(), { status: 'healthy' });
});

test('one keep-alive connection through a relay: each tenant served by its own worker, the supervisor answers the rest', async () => {
	const { send, sockets, agent } = pooledSender(relayd.port);
	for (let i = 0; i < 6; i++) {
		const who = i % 2 ? 'bob' : 'alice';
		const r = await new Promise((resolve, reject) => {
			http.get({ host: '127.0.0.1', port: relayd.port, agent,
			    path: `/api/v1/users/${who}/mcp-servers`,
			    headers: { Authorization: `Bearer ${relayTokens[who]}` } }, (res) => {
				sockets.add(res.socket);
				let t = '';
				res.on('data', (c) => { t += c; });
				res.on('end', () => resolve({ status: res.statusCode, text: t }));
			}).on('error', reject);
		});
		eq(r.status, 200, `${who}: ${r.text}`);
		eq(JSON.parse(r.text), { servers: [] }, `${who}'s servers`);
	}
	// a token for the other tenant's path: the supervisor's 403
	const x = await send('/api/v1/users/bob/mcp-servers', relayTokens.alice, '');
	eq(x.status, 403, x.text);
	eq(sockets.size, 1, 'one socket carried them all');
	agent.destroy();
	const handedBack = relayd.logs.filter((l) => l.msg === 'connection handed back');
	eq(handedBack.length, 0, 'no worker handed a connection back');
});

test('a head the relay cannot read gets 400 or 431 from the relay, logged and counted in /metrics', async () => {
	const bad = await relayd.raw('GARBAGE\r\n\r\n');
	eq(bad.status, 400, bad.raw);
	const big = await relayd.raw(`GET /x HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'a'.repeat(9000)}\r\n\r\n`);
	eq(big.status, 431, big.raw.slice(0, 200));
	await until(() => relayd.logs.find((l) => l.msg === 'request refused by the relay' &&
	    l.status === 431 && l.proc === 'relay'), 5000, 'the relay\'s log line');
	await until(async () => {
		const m = await (await relayd.fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
		return /dataagent_http_requests_total\{route="other",code="400"\} [1-9]/.test(m) &&
		    /dataagent_http_requests_total\{route="other",code="431"\} [1-9]/.test(m);
	}, 5000, 'the refusals in /metrics');
});

test('a relay that dies is started again', async () => {
	const before = relayd.logs.filter((x) => x.msg === 'relay ready' && x.proc === 'relay');
	process.kill(before[0].pid, 'SIGKILL');
	await until(() => relayd.logs.find((l) => l.msg === 'relay died' &&
	    l.relay_pid === before[0].pid), 10000, 'the death logged');
	await until(() => relayd.logs.filter((x) => x.msg === 'relay ready' &&
	    x.proc === 'relay').length > before.length, 10000, 'a new relay');
	for (let i = 0; i < 4; i++) {
		const r = await relayd.fetch('/api/v1/users/bob/mcp-servers', { token: relayTokens.bob });
		eq(r.status, 200, await r.text());
	}
	await relayd.stop();
	eq(processesOf(UID_BASE + UID_SHIFT).map((p) => p.pid), [], 'no relay outlives the daemon');
});

test('relays that die before they are ready (a policy without sendmsg) are throttled, and a waiting client gets 503 after header_timeout', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-relay-pol-'));
	cleanup.push(dir);
	fs.chmodSync(dir, 0o755);
	for (const f of ['upstream.policy', 'worker.policy'])
		fs.copyFileSync(path.join(ROOT, 'policy', f), path.join(dir, f));
	fs.writeFileSync(path.join(dir, 'relay.policy'), fs.readFileSync(path.join(ROOT,
	    'policy', 'relay.policy'), 'utf8').split('\n').filter((l) => !/^(sendmsg|write|writev)$/.test(l))
	    .join('\n'));
	const d = new Daemon({ workers: 0, uid_base: UID_BASE,
	    config: { handoff: 'relay', relays: 1, policy_dir: dir, header_timeout: 1 } });
	await d.start();
	try {
		const died = await until(() => d.logs.find((l) => l.msg === 'relay died'), 10000,
		    'a relay death');
		eq(died.why, 'seccomp', JSON.stringify(died));
		await until(() => d.logs.find((l) => l.msg === 'relay died before it was ready: throttling' &&
		    l.next_spawn_in_ms === 1000), 5000, 'the throttle');
		const t0 = Date.now();
		const r = await d.raw('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n', { ms: 8000 });
		eq(r.status, 503, r.raw);
		assert(r.body.includes('no relay available'), r.body);
		assert(Date.now() - t0 >= 900, `answered after ${Date.now() - t0} ms`);
	} finally {
		await d.stop();
	}
});

test('pooled client (one agent, maxSockets 1) alternating two tenants at the gateway, workers compromised: no foreign byte reaches a worker', async () => {
	const d = await spyDaemon({ handoff: 'relay', relays: 2 });
	try {
		const tokens = { alice: await d.tenant('alice'), bob: await d.tenant('bob') };
		const { send, sockets, agent } = pooledSender(d.port);
		const got = await alternate(d, tokens, send);
		agent.destroy();
		eq(sockets.size, 1, 'one client socket carried both tenants');
		assertNoLeak(d, tokens, got);
	} finally {
		await d.stop();
	}
});

test('the same client with its address in direct_peers (handed off directly): the compromised worker reads the other tenant, as the relay prevents', async () => {
	const d = await spyDaemon({ handoff: 'relay', relays: 1, direct_peers: '127.0.0.0/8' });
	try {
		const tokens = { alice: await d.tenant('alice'), bob: await d.tenant('bob') };
		const { send, agent } = pooledSender(d.port);
		const got = await alternate(d, tokens, send);
		agent.destroy();
		const seen = spyLog(d, 'alice');
		assert(seen.includes(tokens.bob) && seen.includes('body-of-bob-1'),
		    'direct handoff: alice\'s worker read bob\'s token and body');
		assert(got.some((g) => g.who === 'bob' && JSON.parse(g.text).tenant === 'alice'),
		    'and answered bob as alice');
	} finally {
		await d.stop();
	}
});

// nginx with the shipped packaging/nginx/dataagent.conf (upstream
// keepalive 32), one upstream: the gateway.
async function startNginx(port) {
	const nginx = '/usr/sbin/nginx';
	if (!fs.existsSync(nginx))
		return null;
	const ndir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-relay-nginx-'));
	cleanup.push(ndir);
	fs.mkdirSync(path.join(ndir, 'tmp'));
	const nport = await freePort();
	let conf = fs.readFileSync(path.join(ROOT, 'packaging', 'nginx', 'dataagent.conf'), 'utf8');
	for (const [from, to] of [
		['server 192.0.2.11:8000', `server 127.0.0.1:${port}`],
		['server 192.0.2.12:8000 max_fails=1 fail_timeout=10s;', ''],
		['listen 80;', `listen 127.0.0.1:${nport};`]]) {
		assert(conf.includes(from), `the shipped nginx config has ${from}`);
		conf = conf.split(from).join(to);
	}
	assert(/keepalive \d+;/.test(conf), 'the shipped config keeps upstream connections alive');
	fs.writeFileSync(path.join(ndir, 'dataagent.conf'), conf);
	fs.writeFileSync(path.join(ndir, 'nginx.conf'), `
user root;
worker_processes 1;
pid ${ndir}/nginx.pid;
error_log ${ndir}/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path ${ndir}/tmp/body;
	proxy_temp_path ${ndir}/tmp/proxy;
	fastcgi_temp_path ${ndir}/tmp/fastcgi;
	uwsgi_temp_path ${ndir}/tmp/uwsgi;
	scgi_temp_path ${ndir}/tmp/scgi;
	include ${ndir}/dataagent.conf;
}
`);
	const p = spawn(nginx, ['-p', ndir, '-c', `${ndir}/nginx.conf`, '-g', 'daemon off;'],
	    { stdio: 'ignore' });
	await until(() => new Promise((resolve) => {
		const s = net.connect(nport, '127.0.0.1');
		s.on('connect', () => { s.destroy(); resolve(true); });
		s.on('error', () => resolve(false));
	}), 10000, 'nginx to listen');
	return { port: nport, proc: p };
}

// Each request on a fresh client connection: nginx alone decides which
// upstream connection carries it.
const viaNginx = (port) => (p, token, body) => new Promise((resolve, reject) => {
	const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', agent: false,
	    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
		'Content-Length': Buffer.byteLength(body), Connection: 'close' } }, (res) => {
		const chunks = [];
		res.on('data', (c) => chunks.push(c));
		res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
	});
	req.on('error', reject);
	req.end(body);
});

for (const mode of ['relay', 'direct']) {
	test(`two tenants alternating ${ROUNDS} times through the shipped nginx config (upstream keep-alive), handoff = ${mode}, workers compromised: ` +
	    (mode === 'relay' ? 'no foreign byte reaches a worker' : 'the leak the relay closes'), async () => {
		const d = await spyDaemon(mode === 'relay' ? { handoff: 'relay', relays: 2 } :
		    { handoff: 'direct' });
		let ng = null;
		try {
			ng = await startNginx(d.port);
			if (ng === null)
				return { skip: 'nginx is not installed (make deps)' };
			const tokens = { alice: await d.tenant('alice'), bob: await d.tenant('bob') };
			const got = await alternate(d, tokens, viaNginx(ng.port));
			if (mode === 'relay') {
				assertNoLeak(d, tokens, got);
				return;
			}
			// nginx reused its upstream connection for the other
			// tenant: the worker it was handed to read it.
			assert(spyLog(d, 'alice').includes(tokens.bob) ||
			    spyLog(d, 'bob').includes(tokens.alice),
			    'direct handoff behind nginx: a worker read the other tenant\'s token');
		} finally {
			if (ng)
				ng.proc.kill('SIGTERM');
			await d.stop();
		}
	});
}

const failed = await run(import.meta.url);
for (const dir of cleanup)
	fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
