// Remote upstreams: server-everything in its streamableHttp and sse modes
// on loopback beside a stdio one, all behind one tenant; TLS through a
// socat front with a CA made here; a header with ${secret:NAME}; an HTTP
// upstream killed and brought back.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon, UID_SHIFT, test, run, assert, eq, until, sleep, EVERYTHING, NODE,
    PEERS, CANARY, processesOf } from './lib.mjs';

const EVERYTHING_JS =
    `${PEERS}/node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const UID_BASE = 73000;
const kids = new Set();
let d, token, tmp;
const ports = {};
const seenHeaders = [];
const servers = {};
// expireSession: the next POST with a session id gets 404 (the server
// "lost" it), as the spec has a server say so.
const proxyMode = { expireSession: false };

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

function portOpen(port) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		s.on('connect', () => { s.destroy(); resolve(true); });
		s.on('error', () => resolve(false));
	});
}

function startKid(cmd, args, env = {}) {
	const p = spawn(cmd, args, { env: { ...process.env, ...env },
	    stdio: ['ignore', 'ignore', 'pipe'] });
	p.stderrText = '';
	p.stderr.on('data', (b) => { p.stderrText += b.toString(); });
	p.exited = new Promise((r) => p.on('exit', () => { kids.delete(p); r(); }));
	kids.add(p);
	return p;
}

// Waits for the server's own "listening" line: another test on the host
// may take the port between freePort() and the server's listen().
async function everything(mode, port) {
	const p = startKid(NODE, [EVERYTHING_JS, mode], { PORT: String(port) });
	await until(() => p.exitCode !== null || p.signalCode !== null ||
	    /(listening|running) on port/i.test(p.stderrText), 15000,
	    `server-everything ${mode} on ${port}`);
	if (p.exitCode !== null || p.signalCode !== null)
		throw new Error(`server-everything ${mode} on ${port} exited: ` +
		    p.stderrText.slice(-300));
	return p;
}

// A fresh port for a server, a few times over when it was taken.
async function everythingAnyPort(mode, key) {
	for (let i = 0; ; i++) {
		ports[key] = await freePort();
		try {
			return await everything(mode, ports[key]);
		} catch (e) {
			if (i >= 3)
				throw e;
		}
	}
}

async function stopKid(p) {
	if (p && p.exitCode === null && p.signalCode === null) {
		p.kill('SIGKILL');
		await p.exited;
	}
}

// A proxy that records each request's headers and forwards to target.
function headerProxy(port, target) {
	const srv = http.createServer((req, res) => {
		seenHeaders.push({ method: req.method, headers: req.headers,
		    socket: req.socket.remotePort });
		if (proxyMode.expireSession && req.method === 'POST' &&
		    req.headers['mcp-session-id']) {
			proxyMode.expireSession = false;
			req.resume();
			res.writeHead(404, { 'Content-Type': 'application/json' });
			res.end('{"jsonrpc":"2.0","error":{"code":-32001,' +
			    '"message":"Session not found"},"id":null}');
			return;
		}
		const up = http.request({ host: '127.0.0.1', port: target,
		    path: req.url, method: req.method, headers: req.headers },
		    (ur) => {
			res.writeHead(ur.statusCode, ur.headers);
			ur.pipe(res);
		    });
		up.on('error', () => { res.writeHead(502); res.end(); });
		req.pipe(up);
		res.on('close', () => up.destroy());
	});
	return new Promise((r) => srv.listen(port, '127.0.0.1', () => r(srv)));
}

async function serverState(name) {
	const r = await d.fetch(d.url('rt', '/mcp-servers'), { token });
	const j = await r.json();
	return j.servers.find((s) => s.name === name);
}

async function callEcho(client, tool, message) {
	const r = await client.callTool({ name: tool, arguments: { message } });
	return r;
}

test('setup: three kinds of upstream behind one tenant', async () => {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-remote-'));
	servers.http = await everythingAnyPort('streamableHttp', 'http');
	servers.sse = await everythingAnyPort('sse', 'sse');
	for (const k of ['proxy', 'tls'])
		ports[k] = await freePort();
	servers.proxy = await headerProxy(ports.proxy, ports.http);
	// a failed server is retried every 5 s here, not 300: the test of a
	// killed upstream waits for it to come back by itself. The remote
	// servers listen on the host's loopback, which egress (the default)
	// refuses by design: tenant_network = host, chosen here on purpose
	// (network.test.mjs reaches a remote server through egress).
	d = new Daemon({ uid_base: UID_BASE, config: { reconnect_interval: 5,
	    tenant_network: 'host' } });
	await d.start();
	token = await d.tenant('rt', { local: EVERYTHING });
	await d.ctlOk(['server', 'add', 'rt', 'remote', '--url',
	    `http://127.0.0.1:${ports.http}/mcp`]);
	await d.ctlOk(['server', 'add', 'rt', 'legacy', '--transport', 'sse',
	    '--url', `http://localhost:${ports.sse}/sse`]);
	const added = await d.ctlOk(['--json', 'server', 'add', 'rt', 'hdr',
	    '--url', `http://127.0.0.1:${ports.proxy}/mcp`, '--header',
	    'Authorization: Bearer ${secret:CANARY}', '--header',
	    'X-Static: static-header-value', '--timeout', '20']);
	assert(!added.includes('static-header-value') &&
	    added.includes('X-Static'), `server add answered ${added}`);
});

test('tools of stdio, Streamable HTTP and HTTP+SSE servers are aggregated and callable', async () => {
	const client = await d.mcp('rt', token);
	try {
		const { tools } = await client.listTools();
		const names = tools.map((t) => t.name);
		for (const s of ['local', 'remote', 'legacy'])
			assert(names.includes(`${s}__echo`),
			    `${s}__echo missing from ${names.length} tools`);
		for (const s of ['local', 'remote', 'legacy']) {
			const r = await callEcho(client, `${s}__echo`, `hi ${s}`);
			assert(!r.isError, `${s}: ${JSON.stringify(r)}`);
			assert(JSON.stringify(r.content).includes(`hi ${s}`),
			    `${s}: ${JSON.stringify(r.content)}`);
		}
		// get-sum through the Streamable HTTP one, several at once over
		// the pooled connections
		const sums = await Promise.all([1, 2, 3, 4, 5, 6].map((i) =>
		    client.callTool({ name: 'remote__get-sum',
			arguments: { a: i, b: 100 } })));
		sums.forEach((r, i) => assert(JSON.stringify(r.content)
		    .includes(String(i + 101)), JSON.stringify(r.content)));
	} finally {
		await client.close();
	}
});

test('GET mcp-servers shows url and transport, never header values', async () => {
	const r = await d.fetch(d.url('rt', '/mcp-servers'), { token });
	const text = await r.text();
	const j = JSON.parse(text);
	const remote = j.servers.find((s) => s.name === 'remote');
	const legacy = j.servers.find((s) => s.name === 'legacy');
	const hdr = j.servers.find((s) => s.name === 'hdr');
	eq(remote.transport, 'http');
	eq(remote.url, `http://127.0.0.1:${ports.http}/mcp`);
	eq(legacy.transport, 'sse');
	eq(hdr.header_names.sort(), ['Authorization', 'X-Static']);
	assert(!text.includes('static-header-value') && !text.includes('Bearer'),
	    'a header value is shown');
	const list = await d.ctlOk(['--json', 'server', 'list', 'rt']);
	assert(!list.includes('static-header-value'), 'server list shows a header value');
});

test('a header with ${secret:NAME} reaches the upstream with the value', async () => {
	const r = await d.fetch(d.url('rt', '/tools/hdr/echo'), { token,
	    method: 'POST', body: { message: 'through the proxy' } });
	eq(r.status, 200, `tool call: ${await r.clone().text()}`);
	const posts = seenHeaders.filter((h) => h.method === 'POST');
	assert(posts.length >= 2, `proxy saw ${posts.length} POSTs`);
	for (const p of posts) {
		eq(p.headers.authorization, `Bearer ${CANARY}`, 'Authorization');
		eq(p.headers['x-static'], 'static-header-value');
		assert(/application\/json/.test(p.headers.accept) &&
		    /text\/event-stream/.test(p.headers.accept), p.headers.accept);
	}
	// after initialize: the session and the negotiated version
	const later = posts.slice(1);
	assert(later.every((p) => p.headers['mcp-session-id']), 'Mcp-Session-Id');
	assert(later.every((p) => /^\d{4}-\d{2}-\d{2}$/.test(
	    p.headers['mcp-protocol-version'])), 'MCP-Protocol-Version');
});

test('keep-alive: concurrent calls share at most 4 connections', async () => {
	const before = seenHeaders.length;
	const rs = await Promise.all([...Array(10).keys()].map((i) =>
	    d.fetch(d.url('rt', '/tools/hdr/get-sum'), { token, method: 'POST',
		body: { a: i, b: 1 } })));
	for (const [i, r] of rs.entries()) {
		const t = await r.text();
		eq(r.status, 200, t);
		assert(t.includes(String(i + 1)), t);
	}
	const socks = new Set(seenHeaders.slice(before).map((h) => h.socket));
	assert(socks.size >= 1 && socks.size <= 4,
	    `${socks.size} connections for 10 calls`);
	// the GET event stream was opened (server-initiated messages)
	assert(seenHeaders.some((h) => h.method === 'GET' &&
	    /text\/event-stream/.test(h.headers.accept) &&
	    h.headers['mcp-session-id']), 'no GET stream');
});

test('a 404 for the session: a new session, the call sent again', async () => {
	const inits = () => seenHeaders.filter((h) => h.method === 'POST' &&
	    !h.headers['mcp-session-id']).length;
	const before = inits();
	proxyMode.expireSession = true;
	const r = await d.fetch(d.url('rt', '/tools/hdr/echo'), { token,
	    method: 'POST', body: { message: 'after 404' } });
	const t = await r.text();
	eq(r.status, 200, t);
	assert(t.includes('after 404'), t);
	eq(inits(), before + 1, 'initialize again');
});

test('removing a server DELETEs its session', async () => {
	const sid = seenHeaders.filter((h) => h.method === 'POST' &&
	    h.headers['mcp-session-id']).pop().headers['mcp-session-id'];
	await d.ctlOk(['server', 'remove', 'rt', 'hdr']);
	await until(() => seenHeaders.some((h) => h.method === 'DELETE' &&
	    h.headers['mcp-session-id'] === sid &&
	    h.headers.authorization === `Bearer ${CANARY}`), 10000, 'DELETE');
});

test('server import takes url entries (Streamable HTTP and sse)', async () => {
	const cfg = { mcpServers: {
	    imp: { url: `http://127.0.0.1:${ports.proxy}/mcp`,
		headers: { 'X-Imported': '${secret:CANARY}' } },
	    impsse: { type: 'sse', url: `http://127.0.0.1:${ports.sse}/sse` },
	} };
	const out = await d.ctlOk(['--json', 'server', 'import', 'rt', '-'],
	    JSON.stringify(cfg));
	eq(JSON.parse(out).imported.sort(), ['imp', 'impsse'], out);
	for (const s of ['imp', 'impsse']) {
		const r = await d.fetch(d.url('rt', `/tools/${s}/echo`), { token,
		    method: 'POST', body: { message: `imported ${s}` } });
		const t = await r.text();
		eq(r.status, 200, t);
	}
	eq((await serverState('impsse')).transport, 'sse');
	assert(seenHeaders.some((h) => h.headers['x-imported'] === CANARY),
	    'imported header with a secret');
});

test('REST: a remote server is created, shown and listed by the CLI', async () => {
	let r = await d.fetch(d.url('rt', '/mcp-servers'), { token, method: 'POST',
	    body: { name: 'viarest', transport: 'http',
		url: `http://127.0.0.1:${ports.http}/mcp`,
		headers: { 'X-Rest': 'rest-header-value' }, options: { timeout: 15 } } });
	let t = await r.text();
	eq(r.status, 201, t);
	assert(!t.includes('rest-header-value'), `answer shows a value: ${t}`);
	r = await d.fetch(d.url('rt', '/mcp-servers/viarest'), { token });
	t = await r.text();
	const j = JSON.parse(t);
	eq([j.transport, j.url, j.header_names], ['http',
	    `http://127.0.0.1:${ports.http}/mcp`, ['X-Rest']]);
	assert(!t.includes('rest-header-value'), t);
	r = await d.fetch(d.url('rt', '/tools/viarest/echo'), { token,
	    method: 'POST', body: { message: 'via rest' } });
	eq(r.status, 200, await r.text());
	const list = await d.ctlOk(['server', 'list', 'rt']);
	assert(list.includes(`http http://127.0.0.1:${ports.http}/mcp`), list);
	assert(!list.includes('rest-header-value'), list);
	const audit = await d.ctlOk(['--json', 'tenant', 'show', 'rt']);
	assert(!audit.includes('rest-header-value') &&
	    !audit.includes('static-header-value'), 'audit shows a header value');
});

// A server that answers each connection with `reply` (raw bytes), or
// not at all when reply is null.
function rawServer(reply) {
	const socks = new Set();
	const srv = net.createServer((c) => {
		socks.add(c);
		c.on('close', () => socks.delete(c));
		c.on('error', () => {});
		c.once('data', () => {
			if (reply !== null)
				c.end(reply);
		});
	});
	srv.closeAll = () => { for (const c of socks) c.destroy(); srv.close(); };
	return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)));
}

test('broken servers: failed with the reason, calls answered in time', async () => {
	const garbage = await rawServer('HTTP/1.1 200 OK\r\nTransfer-Encoding: ' +
	    'chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n');
	const silent = await rawServer(null);
	const sseEvil = http.createServer((req, res) => {
		res.writeHead(200, { 'Content-Type': 'text/event-stream' });
		res.write('event: endpoint\ndata: http://evil.example:1/steal\n\n');
	});
	await new Promise((r) => sseEvil.listen(0, '127.0.0.1', r));
	try {
		await d.ctlOk(['server', 'add', 'rt', 'garbage', '--url',
		    `http://127.0.0.1:${garbage.address().port}/mcp`]);
		await d.ctlOk(['server', 'add', 'rt', 'silent', '--timeout', '2',
		    '--url', `http://127.0.0.1:${silent.address().port}/mcp`]);
		await d.ctlOk(['server', 'add', 'rt', 'evilsse', '--transport', 'sse',
		    '--url', `http://127.0.0.1:${sseEvil.address().port}/sse`]);
		const expect = { garbage: /malformed response/,
		    silent: /timed out/, evilsse: /another origin/ };
		await Promise.all(Object.entries(expect).map(async ([s, re]) => {
			const t0 = Date.now();
			const r = await d.fetch(d.url('rt', `/tools/${s}/echo`), { token,
			    method: 'POST', body: { message: 'x' } });
			assert(r.status >= 400, `${s}: ${r.status}`);
			assert(Date.now() - t0 < 8000, `${s} took ${Date.now() - t0} ms`);
			const st = await serverState(s);
			eq(st.state, 'failed', `${s} state`);
			assert(re.test(st.last_error), `${s}: ${st.last_error}`);
		}));
		// The others keep working.
		const r = await d.fetch(d.url('rt', '/tools/local/echo'), { token,
		    method: 'POST', body: { message: 'still' } });
		eq(r.status, 200);
		for (const s of Object.keys(expect))
			await d.ctlOk(['server', 'remove', 'rt', s]);
	} finally {
		garbage.closeAll();
		silent.closeAll();
		sseEvil.closeAllConnections();
		sseEvil.close();
	}
});

test('url, header and option checks refuse bad servers', async () => {
	const bad = [
	    ['--url', 'ftp://127.0.0.1/x'],
	    ['--url', 'http://user:pw@127.0.0.1/x'],
	    ['--url', 'http:///nohost'],
	    ['--url', `http://127.0.0.1/${'a'.repeat(3000)}`],
	    ['--url', 'http://127.0.0.1/x', '--header', 'X-A: b\r\nX-Evil: 1'],
	    ['--url', 'http://127.0.0.1/x', '--header', 'Bad Name: v'],
	    ['--url', 'http://127.0.0.1/x', '--header', 'Host: other'],
	    ['--url', 'http://127.0.0.1/x', '--ca-file', 'relative.pem'],
	];
	for (const b of bad) {
		const r = await d.ctl(['server', 'add', 'rt', 'bad', ...b]);
		assert(r.code !== 0, `accepted: ${b.join(' ')}`);
	}
	const r = await d.fetch(d.url('rt', '/mcp-servers'), { token,
	    method: 'POST', body: { name: 'bad', transport: 'http',
		url: 'http://127.0.0.1/x', headers: { 'X-A': 'a\nb' } } });
	eq(r.status, 400, 'REST accepted a header with a line break');
});

test('TLS: verified with ca_file, refused without, tls_verify off warns', async () => {
	const dir = path.join(d.tenantHome('rt'), 'tls');
	fs.mkdirSync(dir, { recursive: true });
	fs.chmodSync(dir, 0o755);
	const o = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
	o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key',
	    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=dataagent test CA']);
	fs.writeFileSync(path.join(dir, 'ext.cnf'),
	    'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
	o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out',
	    'srv.csr', '-subj', '/CN=localhost']);
	o(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
	    '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
	// a client certificate from the same CA, for the mutual-TLS front
	o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'cli.key', '-out',
	    'cli.csr', '-subj', '/CN=dataagent client']);
	o(['x509', '-req', '-in', 'cli.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
	    '-CAcreateserial', '-out', 'cli.pem', '-days', '2']);
	for (const f of fs.readdirSync(dir))
		fs.chmodSync(path.join(dir, f), 0o644);
	ports.mtls = await freePort();
	servers.mtls = startKid('socat', [
	    `OPENSSL-LISTEN:${ports.mtls},bind=127.0.0.1,reuseaddr,fork,` +
	    `cert=${dir}/srv.pem,key=${dir}/srv.key,cafile=${dir}/ca.pem,verify=1`,
	    `TCP:127.0.0.1:${ports.http}`]);
	servers.tls = startKid('socat', [
	    `OPENSSL-LISTEN:${ports.tls},bind=127.0.0.1,reuseaddr,fork,` +
	    `cert=${dir}/srv.pem,key=${dir}/srv.key,verify=0`,
	    `TCP:127.0.0.1:${ports.http}`]);
	await until(() => portOpen(ports.tls), 10000, 'socat TLS front');
	await until(() => portOpen(ports.mtls), 10000, 'socat mutual-TLS front');
	const url = `https://localhost:${ports.tls}/mcp`;
	await d.ctlOk(['server', 'add', 'rt', 'tlsok', '--url', url,
	    '--ca-file', `${dir}/ca.pem`]);
	await d.ctlOk(['server', 'add', 'rt', 'tlsbad', '--url', url]);
	await d.ctlOk(['server', 'add', 'rt', 'tlsoff', '--url',
	    `https://127.0.0.1:${ports.tls}/mcp`, '--tls-verify', 'off']);
	await d.ctlOk(['server', 'add', 'rt', 'mtls', '--url',
	    `https://localhost:${ports.mtls}/mcp`, '--ca-file', `${dir}/ca.pem`,
	    '--client-cert', `${dir}/cli.pem`, '--client-key', `${dir}/cli.key`]);
	await d.ctlOk(['server', 'add', 'rt', 'mtlsnocert', '--url',
	    `https://localhost:${ports.mtls}/mcp`, '--ca-file', `${dir}/ca.pem`]);
	for (const s of ['tlsok', 'tlsoff', 'mtls']) {
		const r = await d.fetch(d.url('rt', `/tools/${s}/echo`), { token,
		    method: 'POST', body: { message: `over ${s}` } });
		const t = await r.text();
		eq(r.status, 200, `${s}: ${t}`);
		assert(t.includes(`over ${s}`), t);
	}
	const r = await d.fetch(d.url('rt', '/tools/tlsbad/echo'), { token,
	    method: 'POST', body: { message: 'never' } });
	assert(r.status >= 400, `tlsbad answered ${r.status}`);
	const st = await serverState('tlsbad');
	eq(st.state, 'failed');
	assert(/certificate verification failed/.test(st.last_error),
	    `last_error: ${st.last_error}`);
	const nc = await d.fetch(d.url('rt', '/tools/mtlsnocert/echo'), { token,
	    method: 'POST', body: { message: 'never' } });
	assert(nc.status >= 400, `mtlsnocert answered ${nc.status}`);
	eq((await serverState('mtlsnocert')).state, 'failed');
	assert(d.logs.some((l) => l.msg === 'upstream TLS certificate verification is off' &&
	    l.level === 'warn' && l.server === 'tlsoff'), 'no warning for tls_verify off');
});

test('a killed HTTP upstream: calls fail fast, failed state, back by itself', async () => {
	// It is up and in use first.
	let r = await d.fetch(d.url('rt', '/tools/remote/echo'), { token,
	    method: 'POST', body: { message: 'before' } });
	eq(r.status, 200);
	await stopKid(servers.http);
	// The GET stream breaks: the state goes to failed without a call.
	await until(async () => (await serverState('remote')).state === 'failed',
	    10000, 'failed state');
	const st = await serverState('remote');
	assert(st.last_error, 'no last_error');
	const t0 = Date.now();
	const client = await d.mcp('rt', token);
	try {
		const res = await client.callTool({ name: 'remote__echo',
		    arguments: { message: 'down' } }).then((x) => x,
		    (e) => ({ thrown: e }));
		assert(res.thrown || res.isError, `call while down: ${JSON.stringify(res)}`);
		assert(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
		// The others are unaffected.
		const ok = await client.callTool({ name: 'local__echo',
		    arguments: { message: 'local still' } });
		assert(!ok.isError);
	} finally {
		await client.close();
	}
	servers.http = await everything('streamableHttp', ports.http);
	await until(async () => (await serverState('remote')).state === 'ready',
	    40000, 'reconnect by itself');
	r = await d.fetch(d.url('rt', '/tools/remote/echo'), { token,
	    method: 'POST', body: { message: 'after' } });
	eq(r.status, 200, await r.clone().text());
});

test('after the test no upstream process or socket is left behind', async () => {
	const upstreamPorts = new Set(Object.values(ports));
	await d.stop();
	const tenantProcs = [];
	for (let uid = UID_BASE + UID_SHIFT; uid < UID_BASE + UID_SHIFT + 20; uid++)
		tenantProcs.push(...processesOf(uid));
	eq(tenantProcs.map((p) => p.cmd), [], 'tenant processes');
	// No connection to an upstream port stays open from a daemon side.
	const established = () => ['/proc/net/tcp', '/proc/net/tcp6']
	    .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').slice(1))
	    .map((l) => l.trim().split(/\s+/)).filter((c) => c.length > 3 &&
		c[3] === '01').map((c) => ({ local: parseInt(c[1].split(':').pop(), 16),
		remote: parseInt(c[2].split(':').pop(), 16) }))
	    .filter((c) => upstreamPorts.has(c.remote) && c.local !== ports.proxy &&
		!upstreamPorts.has(c.local));
	// the proxy and socat forward to the http port themselves: closed
	// with the servers below
	await until(() => established().filter((c) => c.remote !== ports.http)
	    .length === 0, 5000, 'sockets to the upstreams to close');
});

process.on('exit', () => {
	for (const p of kids)
		p.kill('SIGKILL');
});

const failed = await run('remote.test.mjs', { timeoutMs: 90000 });
for (const p of [...kids])
	await stopKid(p);
if (servers.proxy)
	servers.proxy.close();
if (d)
	await d.stop();
if (tmp)
	fs.rmSync(tmp, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
