// Several hosts behind one balancer, with the shipped configurations:
// packaging/nginx/dataagent.conf and packaging/haproxy/dataagent.cfg,
// their example hosts replaced by two real dataagentd on loopback that
// share one private MariaDB. A tenant made on one host is served through
// the balancer; its requests stay on one host (consistent hash of the
// tenant); when that host dies, calls go on through the other.
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, EVERYTHING, ROOT, sdk }
    from './lib.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-lb-'));
fs.chmodSync(dir, 0o755);
const mdb = path.join(dir, 'mariadb');
const keyPath = path.join(dir, 'master.key');
fs.writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });

const sh = (cmd, args) => new Promise((resolve) => execFile(cmd, args,
    { timeout: 60000 }, (err, stdout, stderr) => resolve({
	code: err ? (typeof err.code === 'number' ? err.code : 127) : 0,
	stdout, stderr })));
const which = async (p) => fs.existsSync(p) ? p : null;

function freePort() {
	return new Promise((resolve) => {
		const s = net.createServer().listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

let skip = null;
let A, B, token;
const procs = [];
let nginxPort, haproxyPort;
let haproxyLog = '';

function spawnLogged(cmd, args, onData) {
	const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
	p.stdout.on('data', (d) => onData && onData(d.toString()));
	p.stderr.on('data', (d) => onData && onData(d.toString()));
	procs.push(p);
	return p;
}

async function listening(port) {
	await until(() => new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		s.on('connect', () => { s.destroy(); resolve(true); });
		s.on('error', () => resolve(false));
	}), 10000, `a listener on ${port}`);
}

// The shipped file with the example hosts and port replaced.
function shipped(file, subst) {
	let text = fs.readFileSync(path.join(ROOT, 'packaging', file), 'utf8');
	for (const [from, to] of subst) {
		assert(text.includes(from), `${file} has ${from}`);
		text = text.split(from).join(to);
	}
	return text;
}

async function viaRest(port, tenant, msg) {
	const r = await fetch(`http://127.0.0.1:${port}/api/v1/users/${tenant}` +
	    '/tools/everything/echo', { method: 'POST',
	    headers: { Authorization: `Bearer ${token}`,
		'Content-Type': 'application/json' },
	    body: JSON.stringify({ message: msg }) });
	return { status: r.status, text: await r.text() };
}

async function viaMcp(port, tenant, msg) {
	const { Client, StreamableHTTPClientTransport } = await sdk();
	const c = new Client({ name: 'lb-test', version: '1.0.0' });
	await c.connect(new StreamableHTTPClientTransport(
	    new URL(`http://127.0.0.1:${port}/api/v1/users/${tenant}/mcp`),
	    { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
	const res = await c.callTool({ name: 'everything__echo',
	    arguments: { message: msg } });
	await c.close();
	return JSON.stringify(res);
}

test('two hosts on one MariaDB behind nginx (the shipped config): calls for a tenant reach one host', async () => {
	const nginx = await which('/usr/sbin/nginx');
	const r = await sh(path.join(ROOT, 'tests', 'mariadb.sh'), ['start', mdb]);
	if (r.code === 2 || !nginx) {
		skip = !nginx ? 'nginx is not installed (make deps)' :
		    `mariadb-server is not installed (${r.stderr.trim()})`;
		return { skip };
	}
	eq(r.code, 0, r.stderr);
	const url = r.stdout.trim();
	// node names as the shipped HAProxy configuration calls them
	const host = (node) => new Daemon({ uid_base: 75500, masterKey: false,
	    config: { database_url: url, master_key: keyPath,
		store_poll_interval: 1, node_name: node } });
	A = await host('host1').start();
	B = await host('host2').start();
	token = await A.tenant('acme', { everything: EVERYTHING });

	nginxPort = await freePort();
	const ndir = path.join(dir, 'nginx');
	fs.mkdirSync(path.join(ndir, 'tmp'), { recursive: true });
	fs.writeFileSync(path.join(ndir, 'dataagent.conf'), shipped(
	    'nginx/dataagent.conf', [
		['server 192.0.2.11:8000', `server 127.0.0.1:${A.port}`],
		['server 192.0.2.12:8000', `server 127.0.0.1:${B.port}`],
		['listen 80;', `listen 127.0.0.1:${nginxPort};`]]));
	fs.writeFileSync(path.join(ndir, 'nginx.conf'), `
user root;
worker_processes 1;
pid ${ndir}/nginx.pid;
error_log ${ndir}/error.log warn;
events { worker_connections 256; }
http {
	log_format up '$uri $upstream_addr $status';
	access_log ${ndir}/access.log up;
	client_body_temp_path ${ndir}/tmp/body;
	proxy_temp_path ${ndir}/tmp/proxy;
	fastcgi_temp_path ${ndir}/tmp/fastcgi;
	uwsgi_temp_path ${ndir}/tmp/uwsgi;
	scgi_temp_path ${ndir}/tmp/scgi;
	include ${ndir}/dataagent.conf;
}
`);
	const t = await sh(nginx, ['-t', '-p', ndir, '-c', `${ndir}/nginx.conf`]);
	eq(t.code, 0, t.stderr);
	spawnLogged(nginx, ['-p', ndir, '-c', `${ndir}/nginx.conf`, '-g',
	    'daemon off;']);
	await listening(nginxPort);

	for (let i = 0; i < 5; i++) {
		const x = await viaRest(nginxPort, 'acme', `rest ${i}`);
		eq(x.status, 200, x.text);
		assert(x.text.includes(`rest ${i}`), x.text);
	}
	assert((await viaMcp(nginxPort, 'acme', 'mcp via nginx')).includes('mcp via nginx'));
	const h = await fetch(`http://127.0.0.1:${nginxPort}/health`);
	eq(h.status, 200);
	const lines = fs.readFileSync(path.join(ndir, 'access.log'), 'utf8')
	    .split('\n').filter((l) => l.startsWith('/api/v1/users/acme/'));
	const ups = new Set(lines.map((l) => l.split(' ')[1]));
	eq(ups.size, 1, `one host for acme: ${[...ups]}`);
	// X-User-ID from a client is cleared, and means nothing anyway
	const spoof = await fetch(`http://127.0.0.1:${nginxPort}/api/v1/users/other/tools`,
	    { headers: { Authorization: `Bearer ${token}`, 'X-User-ID': 'other' } });
	eq(spoof.status, 403);
});

test('HAProxy (the shipped config) checks /health, keeps a tenant on one host', async () => {
	if (skip)
		return { skip };
	const haproxy = await which('/usr/sbin/haproxy');
	if (!haproxy)
		return { skip: 'haproxy is not installed (make deps)' };
	haproxyPort = await freePort();
	const cfg = path.join(dir, 'haproxy.cfg');
	fs.writeFileSync(cfg, shipped('haproxy/dataagent.cfg', [
	    ['192.0.2.11:8000', `127.0.0.1:${A.port}`],
	    ['192.0.2.12:8000', `127.0.0.1:${B.port}`],
	    ['bind :80', `bind 127.0.0.1:${haproxyPort}`]]));
	const c = await sh(haproxy, ['-c', '-f', cfg]);
	eq(c.code, 0, c.stdout + c.stderr);
	spawnLogged(haproxy, ['-db', '-f', cfg], (d) => { haproxyLog += d; });
	await listening(haproxyPort);
	for (let i = 0; i < 5; i++) {
		const x = await viaRest(haproxyPort, 'acme', `hap ${i}`);
		eq(x.status, 200, x.text);
	}
	assert((await viaMcp(haproxyPort, 'acme', 'mcp via haproxy')).includes('mcp via haproxy'));
	await until(() => haproxyLog.includes('/api/v1/users/acme/'), 5000, 'haproxy log');
	const servers = new Set([...haproxyLog.matchAll(/dataagent\/(host\d)\b[^\n]*\/api\/v1\/users\/acme\//g)]
	    .map((m) => m[1]));
	eq(servers.size, 1, `one host for acme: ${[...servers]}`);
	// its active check sees both hosts healthy
	assert(!/Server dataagent\/host\d is DOWN/.test(haproxyLog), haproxyLog);
});

test('one host dies: calls for its tenant go on through the other, via both balancers', async () => {
	if (skip)
		return { skip };
	// kill the host that served acme through nginx
	const log = fs.readFileSync(path.join(dir, 'nginx', 'access.log'), 'utf8');
	const served = log.split('\n').find((l) => l.startsWith('/api/v1/users/acme/'))
	    .split(' ')[1];
	const [victim, survivor] = served.endsWith(`:${A.port}`) ? [A, B] : [B, A];
	await victim.kill();
	// A POST already written to a kept-alive connection of the dead
	// host is not sent again (it may not be idempotent): nginx answers
	// 502 for it. An idempotent GET is retried on the other host, and
	// from then on the dead host is skipped.
	const g = await fetch(`http://127.0.0.1:${nginxPort}/api/v1/users/acme/tools`,
	    { headers: { Authorization: `Bearer ${token}` } });
	eq(g.status, 200, 'a GET is retried on the surviving host');
	for (let i = 0; i < 3; i++) {
		const x = await viaRest(nginxPort, 'acme', `after ${i}`);
		eq(x.status, 200, `nginx after the kill: ${x.text}`);
		assert(x.text.includes(`after ${i}`));
	}
	assert((await viaMcp(nginxPort, 'acme', 'new session')).includes('new session'));
	if (haproxyPort) {
		for (let i = 0; i < 3; i++) {
			const x = await viaRest(haproxyPort, 'acme', `hafter ${i}`);
			eq(x.status, 200, `haproxy after the kill: ${x.text}`);
		}
		await until(() => /Server dataagent\/host\d is DOWN/.test(haproxyLog),
		    15000, 'haproxy to mark the dead host down');
	}
	assert(survivor.logs.some((l) => l.msg === 'worker assigned' &&
	    l.tenant === 'acme'), 'the survivor serves acme');
});

const failed = await run(import.meta.url);
for (const p of procs)
	p.kill('SIGTERM');
await sleep(200);
for (const d of [A, B])
	if (d)
		await d.stop().catch(() => {});
await sh(path.join(ROOT, 'tests', 'mariadb.sh'), ['stop', mdb]);
if (!process.env.KEEP_TEST_DIRS)
	fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
