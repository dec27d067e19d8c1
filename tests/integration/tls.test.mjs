// tls.test.mjs: the TLS listener. A test CA and server certificates are
// made with the openssl CLI in a temporary directory; curl, openssl
// s_client, node:tls/https and the official SDK client talk to the
// supervisor's TLS port, which relays to the tenant's worker.
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Daemon, test, run, assert, eq, until, sleep, EVERYTHING, NODE, PEERS,
    BUILD, SECRET_KEY } from './lib.mjs';

const sh = (cmd, args, opts = {}) => new Promise((resolve) => {
	const p = execFile(cmd, args, { timeout: 30000, maxBuffer: 1 << 22, ...opts },
	    (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0,
		stdout, stderr }));
	if (opts.input !== undefined)
		p.stdin.end(opts.input);
});

// ------------------------------------------------------------ certificates

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-tls-'));
const f = (n) => path.join(dir, n);

async function ossl(...args) {
	const r = await sh('openssl', args);
	if (r.code !== 0)
		throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
	return r.stdout;
}

async function makeCA(name) {
	await ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
	    '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2',
	    '-subj', `/CN=dataagent test ${name}`);
}

async function makeServer(name, ca) {
	fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' +
	    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
	await ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
	    '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
	await ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey',
	    f(`${ca}.key`), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2',
	    '-extfile', f('ext.cnf'));
	fs.chmodSync(f(`${name}.key`), 0o600);
}

await makeCA('ca');
await makeCA('otherca');
await makeServer('srv1', 'ca');
await makeServer('srv2', 'ca');
// The daemon reads tls.pem / tls.key: a reload swaps what they hold.
fs.copyFileSync(f('srv1.pem'), f('tls.pem'));
fs.copyFileSync(f('srv1.key'), f('tls.key'));
fs.chmodSync(f('tls.key'), 0o600);

const fingerprint = (pemFile) =>
	new X509Certificate(fs.readFileSync(pemFile)).fingerprint256;
const fp1 = fingerprint(f('srv1.pem'));
const fp2 = fingerprint(f('srv2.pem'));
const ca = fs.readFileSync(f('ca.pem'));

// A port nobody listens on now (the daemon binds it next).
async function freePort() {
	const s = net.createServer();
	await new Promise((r) => s.listen(0, '127.0.0.1', r));
	const p = s.address().port;
	await new Promise((r) => s.close(r));
	return p;
}

const tlsPort = await freePort();
const d = new Daemon({ workers: 1, uid_base: 71000, config: {
	tls_port: tlsPort, tls_cert_file: f('tls.pem'), tls_key_file: f('tls.key'),
	header_timeout: 3 } });
await d.start();
const tok = await d.tenant('tt', { everything: EVERYTHING });
const tok2 = await d.tenant('tu', {});
const base = `https://localhost:${tlsPort}`;

const curl = (args) => sh('curl', ['-sS', '--max-time', '20', ...args]);

// The certificate a new TLS connection is served: its SHA-256 fingerprint.
function servedCert() {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost',
		    ca: fs.readFileSync(f('ca.pem')) }, () => {
			const c = s.getPeerCertificate();
			s.end();
			resolve(c.fingerprint256);
		});
		s.on('error', reject);
	});
}

// One request on an https agent; resolves { status, body, reused }.
function hreq(agent, p, { method = 'GET', body, token = tok, headers = {} } = {}) {
	return new Promise((resolve, reject) => {
		const h = { ...headers };
		if (token)
			h.Authorization = `Bearer ${token}`;
		if (body !== undefined) {
			h['Content-Type'] = 'application/json';
			h['Content-Length'] = Buffer.byteLength(body);
		}
		const req = https.request({ host: '127.0.0.1', port: tlsPort, servername: 'localhost',
		    path: p, method, headers: h, agent, ca }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode,
			    headers: res.headers, body: Buffer.concat(chunks).toString(),
			    reused: req.reusedSocket, socket: req.socket }));
		});
		req.on('error', reject);
		if (body !== undefined)
			req.write(body);
		req.end();
	});
}

test('curl --cacert: REST over TLS reaches the tenant\'s worker', async () => {
	const r = await curl(['--cacert', f('ca.pem'), '-H', `Authorization: Bearer ${tok}`,
	    '-w', '\n%{http_code} %{ssl_verify_result} %{http_version}',
	    `${base}/api/v1/users/tt/mcp-servers`]);
	eq(r.code, 0, `curl: ${r.stderr}`);
	const lines = r.stdout.trim().split('\n');
	eq(lines.pop(), '200 0 1.1', 'status, verification, HTTP version');
	eq(JSON.parse(lines.join('\n')).servers.map((s) => s.name), ['everything']);
	const h = await curl(['--cacert', f('ca.pem'), `${base}/health`]);
	eq(JSON.parse(h.stdout), { status: 'healthy' }, 'health from the supervisor over TLS');
});

test('curl --cacert: MCP initialize over TLS', async () => {
	const r = await curl(['--cacert', f('ca.pem'), '-i', '-H', `Authorization: Bearer ${tok}`,
	    '-H', 'Content-Type: application/json',
	    '-H', 'Accept: application/json, text/event-stream',
	    '-d', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
		protocolVersion: '2025-06-18', capabilities: {},
		clientInfo: { name: 'curl', version: '1' } } }),
	    `${base}/api/v1/users/tt/mcp`]);
	eq(r.code, 0, `curl: ${r.stderr}`);
	assert(/^HTTP\/1\.1 200/.test(r.stdout), r.stdout.slice(0, 200));
	assert(/mcp-session-id: \S+/i.test(r.stdout), 'a session id');
	const m = /"protocolVersion":"([^"]+)"/.exec(r.stdout);
	eq(m && m[1], '2025-06-18', 'negotiated version');
});

test('a client trusting another CA fails verification', async () => {
	const r = await curl(['--cacert', f('otherca.pem'), `${base}/health`]);
	eq(r.code, 60, `curl exit (60: peer certificate cannot be authenticated): ${r.stderr}`);
	// and the daemon is none the worse for it
	const ok = await curl(['--cacert', f('ca.pem'), `${base}/health`]);
	eq(ok.code, 0, ok.stderr);
});

test('TLS 1.1 is refused, TLS 1.2 and 1.3 are served, ALPN says http/1.1', async () => {
	const conn = (args) => sh('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`,
	    '-servername', 'localhost', '-CAfile', f('ca.pem'), ...args], { input: '' });
	const old = await conn(['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
	assert(old.code !== 0, `TLS 1.1 handshake succeeded: ${old.stdout.slice(0, 300)}`);
	assert(/Cipher is \(NONE\)/.test(old.stdout), `no TLS 1.1 session: ${old.stdout}`);
	assert(/protocol version|no protocols available|unsupported protocol/i
	    .test(old.stderr), `refused for its version: ${old.stderr}`);
	const t12 = await conn(['-tls1_2', '-alpn', 'http/1.1']);
	eq(t12.code, 0, t12.stderr);
	assert(/Protocol\s*:\s*TLSv1\.2/.test(t12.stdout), 'TLS 1.2');
	assert(/ALPN protocol: http\/1\.1/.test(t12.stdout), 'ALPN http/1.1');
	assert(/Verify return code: 0/.test(t12.stdout), 'verified');
	const t13 = await conn(['-tls1_3']);
	eq(t13.code, 0, t13.stderr);
	assert(/TLSv1\.3/.test(t13.stdout), 'TLS 1.3');
	const h2only = await conn(['-tls1_2', '-alpn', 'h2']);
	assert(h2only.code !== 0 || !/ALPN protocol: h2/.test(h2only.stdout), 'h2 is not agreed');
});

test('plain HTTP on the TLS port fails cleanly', async () => {
	const s = net.connect(tlsPort, '127.0.0.1');
	const chunks = [];
	const t0 = Date.now();
	const closed = await new Promise((resolve) => {
		const t = setTimeout(() => resolve(false), 8000);
		s.on('data', (c) => chunks.push(c));
		s.on('close', () => { clearTimeout(t); resolve(true); });
		s.on('error', () => {});
		s.on('connect', () => s.write(`GET /api/v1/users/tt/tools HTTP/1.1\r\n` +
		    `Host: localhost\r\nAuthorization: Bearer ${tok}\r\n\r\n`));
	});
	s.destroy();
	assert(closed, 'the connection was closed');
	assert(Date.now() - t0 < 5000, 'closed at once, not after a timeout');
	assert(!/^HTTP\/1\.1 200/.test(Buffer.concat(chunks).toString('latin1')),
	    'nothing was served in the clear');
	const ok = await curl(['--cacert', f('ca.pem'), `${base}/health`]);
	eq(ok.code, 0, 'still serving');
});

test('the SDK client initializes and calls a tool over TLS', async () => {
	const script = `
		const { Client } = await import('${PEERS}/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js');
		const { StreamableHTTPClientTransport } = await import('${PEERS}/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js');
		const c = new Client({ name: 'tls-test', version: '1.0.0' });
		await c.connect(new StreamableHTTPClientTransport(new URL('${base}/api/v1/users/tt/mcp'),
		    { requestInit: { headers: { Authorization: 'Bearer ${tok}' } } }));
		const tools = await c.listTools();
		const r = await c.callTool({ name: 'everything__echo', arguments: { message: 'over tls' } });
		const s = await c.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 3 } });
		console.log(JSON.stringify({ n: tools.tools.length, echo: r.content[0].text,
		    sum: s.content[0].text }));
		await c.close();`;
	const r = await sh(NODE, ['--input-type=module', '-e', script],
	    { env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: f('ca.pem') } });
	eq(r.code, 0, `sdk over tls: ${r.stderr}`);
	const o = JSON.parse(r.stdout.trim().split('\n').pop());
	assert(o.n > 3, `tools: ${o.n}`);
	eq(o.echo, 'Echo: over tls');
	assert(/5/.test(o.sum), o.sum);
});

test('keep-alive over TLS: one connection, many requests, then a handback', async () => {
	const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
	let sock;
	for (let i = 0; i < 5; i++) {
		const r = await hreq(agent, '/api/v1/users/tt/mcp-servers');
		eq(r.status, 200, `request ${i}`);
		eq(r.reused, i > 0, `request ${i} on the kept connection`);
		if (i === 0)
			sock = r.socket;
		else
			assert(r.socket === sock, 'same socket');
	}
	// Another tenant's token on the same connection: the worker hands
	// the connection back, the supervisor routes it to the other worker.
	let r = await hreq(agent, '/api/v1/users/tu/mcp-servers', { token: tok2 });
	eq(r.status, 200, 'other tenant on the kept connection');
	eq(r.reused, true, 'still the same connection');
	eq(JSON.parse(r.body).servers, [], 'tu has no servers');
	// A path the supervisor serves, on the same connection.
	r = await hreq(agent, '/health/detailed', { token: null });
	eq(r.status, 200, 'health on the kept connection');
	eq(r.reused, true, 'the health request reused it');
	assert(JSON.parse(r.body).workers, 'detailed health');
	agent.destroy();
	// pipelined raw: two requests in one TLS write, two tenants
	const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca });
	await new Promise((res, rej) => { s.on('secureConnect', res); s.on('error', rej); });
	let buf = '';
	s.on('data', (x) => { buf += x.toString('latin1'); });
	const q = (t, k) => `GET /api/v1/users/${t}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${k}\r\n\r\n`;
	s.write(q('tt', tok) + q('tu', tok2) + q('tt', tok));
	await until(() => (buf.match(/HTTP\/1\.1 200/g) || []).length === 3, 10000,
	    'three pipelined answers');
	const bodies = buf.split(/HTTP\/1\.1 200[^]*?\r\n\r\n/).slice(1)
	    .map((b) => JSON.parse(b).servers.length);
	eq(bodies, [1, 0, 1], 'answers in order, each from its tenant');
	s.destroy();
});

// The worker's count of the tenant's client connections.
async function workerConns() {
	const t = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'tt']));
	return t.worker ? t.worker.connections : -1;
}

test('closing either side closes the other', async () => {
	await until(async () => (await workerConns()) === 0, 10000, 'no connections left');
	// the client goes away: the worker's end closes
	const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca });
	await new Promise((res, rej) => { s.on('secureConnect', res); s.on('error', rej); });
	let buf = '';
	s.on('data', (x) => { buf += x.toString('latin1'); });
	s.write(`GET /api/v1/users/tt/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`);
	await until(() => /HTTP\/1\.1 200/.test(buf), 10000, 'the answer');
	await until(async () => (await workerConns()) === 1, 10000, 'the worker holds it');
	s.destroy();
	await until(async () => (await workerConns()) === 0, 10000,
	    'the worker\'s end closed after the client');
	// the worker closes (Connection: close): the client sees the end
	const c = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca });
	await new Promise((res, rej) => { c.on('secureConnect', res); c.on('error', rej); });
	let got = '';
	c.on('data', (x) => { got += x.toString('latin1'); });
	const ended = new Promise((r) => c.on('end', r));
	c.write(`GET /api/v1/users/tt/mcp-servers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`);
	const t = await Promise.race([ended.then(() => 'ended'), sleep(10000).then(() => 'open')]);
	eq(t, 'ended', 'the client saw the close');
	assert(/^HTTP\/1\.1 200[^]*Connection: close/.test(got), got.slice(0, 200));
	c.destroy();
});

test('a large body goes through the relay both ways (backpressure)', async () => {
	// 600 KiB of arguments: more than the relay's buffer each way.
	const big = 'x'.repeat(600 * 1024);
	const agent = new https.Agent({ keepAlive: false, ca });
	const r = await hreq(agent, '/api/v1/users/tt/tools/everything/echo',
	    { method: 'POST', body: JSON.stringify({ message: big }) });
	eq(r.status, 200, r.body.slice(0, 200));
	const out = JSON.parse(r.body);
	eq(out.result.content[0].text.length, big.length + 'Echo: '.length, 'echo length');
	agent.destroy();
});

test('a stalled head over TLS gets 408', async () => {
	const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca });
	await new Promise((res, rej) => { s.on('secureConnect', res); s.on('error', rej); });
	let buf = '';
	s.on('data', (x) => { buf += x.toString('latin1'); });
	const closed = new Promise((r) => s.on('close', r));
	s.write('GET /api/v1/users/tt/tools HTTP/1.1\r\nHost: localhost\r\n');
	await Promise.race([closed, sleep(10000)]);
	assert(/^HTTP\/1\.1 408/.test(buf), `got ${JSON.stringify(buf.slice(0, 80))}`);
	s.destroy();
	// a handshake that never starts is dropped as well
	const raw = net.connect(tlsPort, '127.0.0.1');
	const t0 = Date.now();
	await new Promise((r) => { raw.on('close', r); raw.on('error', () => {}); });
	assert(Date.now() - t0 < 8000, 'silent client dropped after header_timeout');
});

test('one tenant holds at most tls_max_conns_per_tenant TLS connections; another tenant is still served', async () => {
	const reload = async (line) => {
		fs.appendFileSync(d.confPath, line);
		const n = d.logs.length;
		d.proc.kill('SIGHUP');
		await until(() => d.logs.slice(n).find((l) => l.msg === 'configuration reloaded'),
		    10000, 'reload');
	};
	const tv = await d.tenant('tv', {});
	// A kept-alive TLS connection with one request answered: a relay.
	const open = async (tenant, k) => {
		const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca });
		await new Promise((res, rej) => { s.on('secureConnect', res); s.on('error', rej); });
		const c = { s, buf: '' };
		s.on('data', (x) => { c.buf += x.toString('latin1'); });
		s.on('error', () => {});
		s.write(`GET /api/v1/users/${tenant}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
		    `Authorization: Bearer ${k}\r\n\r\n`);
		await until(() => /^HTTP\/1\.1 \d{3}[^]*\r\n\r\n/.test(c.buf), 10000, 'an answer');
		return c;
	};
	const refused = async () => Number(/^dataagent_tls_refused_total\{scope="tenant"\} (\d+)$/m
	    .exec(await (await d.metrics()).text())[1]);
	await reload('tls_max_conns_per_tenant = 2\n');
	const before = await refused();
	const held = [await open('tv', tv), await open('tv', tv)];
	for (const c of held)
		assert(c.buf.startsWith('HTTP/1.1 200'), c.buf.slice(0, 80));
	const third = await open('tv', tv);
	assert(third.buf.startsWith('HTTP/1.1 503'), third.buf.slice(0, 80));
	assert(third.buf.includes('{"error":"too many TLS connections for this tenant"}'), third.buf);
	const other = await open('tu', tok2);
	assert(other.buf.startsWith('HTTP/1.1 200'), 'another tenant is served');
	eq(await refused(), before + 1, 'counted');
	assert(d.logs.find((l) => l.msg === 'TLS connection refused: the tenant holds its share' &&
	    l.tenant === 'tv'), 'logged');
	for (const c of [...held, third, other])
		c.s.destroy();
	await reload('tls_max_conns_per_tenant = 512\n');
});

test('SIGHUP serves a new certificate; a bad one keeps the old', async () => {
	eq(await servedCert(), fp1, 'first certificate');
	// a kept-alive connection made before the reload goes on working
	const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
	eq((await hreq(agent, '/api/v1/users/tt/mcp-servers')).status, 200);
	fs.copyFileSync(f('srv2.pem'), f('tls.pem'));
	fs.copyFileSync(f('srv2.key'), f('tls.key'));
	const n = d.logs.length;
	d.proc.kill('SIGHUP');
	await until(() => d.logs.slice(n).find((l) => l.msg === 'configuration reloaded'),
	    10000, 'reload');
	eq(await servedCert(), fp2, 'new connections get the new certificate');
	const again = await hreq(agent, '/api/v1/users/tt/mcp-servers');
	eq(again.status, 200, 'old connection still served');
	eq(again.reused, true, 'on the old connection');
	agent.destroy();
	// A certificate that does not match its key: logged, old one kept.
	fs.copyFileSync(f('srv1.pem'), f('tls.pem'));
	const m = d.logs.length;
	d.proc.kill('SIGHUP');
	const l = await until(() => d.logs.slice(m).find((x) =>
	    x.msg === 'reload: keeping the running TLS certificate'), 10000, 'refusal');
	assert(/does not match|mismatch/.test(l.error), l.error);
	eq(await servedCert(), fp2, 'still the second certificate');
	fs.writeFileSync(f('tls.pem'), 'not a certificate\n');
	const k = d.logs.length;
	d.proc.kill('SIGHUP');
	await until(() => d.logs.slice(k).find((x) =>
	    x.msg === 'reload: keeping the running TLS certificate'), 10000, 'refusal 2');
	eq(await servedCert(), fp2, 'still the second certificate after garbage');
	fs.copyFileSync(f('srv2.pem'), f('tls.pem'));
});

test('dataagentd -t checks the TLS certificate and key', async () => {
	const conf = (extra) => {
		const p = path.join(dir, 't.conf');
		fs.writeFileSync(p, fs.readFileSync(d.confPath, 'utf8') + extra);
		return p;
	};
	const t = (p) => sh(path.join(BUILD, 'dataagentd'), ['-t', '--config', p],
	    { env: { PATH: process.env.PATH, SECRET_KEY } });
	let r = await t(conf(''));
	eq(r.code, 0, `good: ${r.stderr}`);
	r = await t(conf(`tls_key_file = ${f('srv1.key')}\n`));
	eq(r.code, 1, 'mismatched key');
	assert(/does not match|mismatch/.test(r.stderr), r.stderr);
	fs.chmodSync(f('srv1.key'), 0o644);
	r = await t(conf(`tls_key_file = ${f('srv1.key')}\ntls_cert_file = ${f('srv1.pem')}\n`));
	eq(r.code, 1, 'world-readable key');
	assert(/accessible to others/.test(r.stderr), r.stderr);
	fs.chmodSync(f('srv1.key'), 0o600);
	r = await t(conf(`tls_cert_file = ${f('nope.pem')}\n`));
	eq(r.code, 1, 'missing certificate');
	assert(/tls_cert_file/.test(r.stderr), r.stderr);
});

test('SIGTERM drains a request in flight over TLS', async () => {
	const agent = new https.Agent({ keepAlive: false, ca });
	const p = hreq(agent, '/api/v1/users/tt/tools/everything/trigger-long-running-operation',
	    { method: 'POST', body: JSON.stringify({ duration: 2, steps: 2 }) });
	await sleep(700);
	d.proc.kill('SIGTERM');
	const r = await p;
	eq(r.status, 200, `in-flight answer: ${r.body.slice(0, 200)}`);
	assert(/Long running operation completed/.test(r.body), r.body.slice(0, 200));
	const x = await d.exited;
	eq(x.code, 0, 'clean exit');
});

const failed = await run(import.meta.url);
await d.stop();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
