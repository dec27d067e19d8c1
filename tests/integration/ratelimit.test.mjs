// ratelimit.test.mjs: the request rate per tenant (new connections,
// which the supervisor charges, and keep-alive requests, which the worker
// asks the supervisor for), the connection rate per client address, the
// back-off after failed authentications, and their counters in /metrics.
import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import { Daemon, test, run, assert, eq, until, sleep, jwt, now } from './lib.mjs';

// rate_limit null: the built-in default (100 requests a minute).
const d = new Daemon({ workers: 1, uid_base: 71000, config: { rate_limit: null } });
await d.start();
const tokA = await d.tenant('ra', {});
const tokB = await d.tenant('rb', {});
const tokC = await d.tenant('rc', {});

// A request on an agent (keep-alive when the agent keeps them):
// { status, headers, body (parsed when JSON), reused }.
function req(agent, p, { token, method = 'GET', body, close = false } = {}) {
	return new Promise((resolve, reject) => {
		const h = {};
		if (token)
			h.Authorization = `Bearer ${token}`;
		if (close)
			h.Connection = 'close';
		if (body !== undefined) {
			h['Content-Type'] = 'application/json';
			h.Accept = 'application/json, text/event-stream';
			h['Content-Length'] = Buffer.byteLength(body);
		}
		const r = http.request({ host: '127.0.0.1', port: d.port, path: p, method,
		    headers: h, agent }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString();
				let parsed = text;
				try {
					parsed = JSON.parse(text);
				} catch {
					// not JSON
				}
				resolve({ status: res.statusCode, headers: res.headers, body: parsed,
				    reused: r.reusedSocket });
			});
		});
		r.on('error', reject);
		r.end(body);
	});
}
const fresh = (p, o = {}) => req(false, p, { ...o, close: true });

async function scrape(daemon = d) {
	const text = await (await daemon.metrics()).text();
	const out = {};
	for (const m of text.matchAll(/^dataagent_rate_limited_total\{scope="(\w+)"\} (\d+)$/gm))
		out[m[1]] = Number(m[2]);
	return out;
}

const initBody = (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {},
	clientInfo: { name: 'rl', version: '1' } } });

test('default 100/min: 100 requests pass, new connections and keep-alive alike; the 101st is 429', async () => {
	const before = await scrape();
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const t0 = Date.now();
	let passed = 0, first429 = null, i = 0;
	// alternate five on new connections with five on the kept one
	for (; i < 200 && first429 === null; i++) {
		const r = (Math.floor(i / 5) % 2 === 0) ?
		    await fresh('/api/v1/users/ra/mcp-servers', { token: tokA }) :
		    await req(agent, '/api/v1/users/ra/mcp-servers', { token: tokA });
		if (r.status === 200)
			passed++;
		else
			first429 = r;
	}
	const elapsed = Date.now() - t0;
	assert(first429, 'no 429 at all');
	eq(first429.status, 429, JSON.stringify(first429.body));
	// Tokens come back at 100 a minute, one per 600 ms: a run slower
	// than that has earned them.
	const earned = Math.floor(elapsed / 600);
	assert(passed >= 100 && passed <= 100 + earned,
	    `${passed} passed in ${elapsed} ms (at most ${100 + earned})`);
	if (elapsed < 600)
		eq(passed, 100, 'exactly 100');
	// Right after, both paths refuse.
	const nc = await fresh('/api/v1/users/ra/mcp-servers', { token: tokA });
	eq(nc.status, 429, 'new connection');
	const ka = await req(agent, '/api/v1/users/ra/mcp-servers', { token: tokA });
	eq(ka.status, 429, 'keep-alive');
	const ra = Number(ka.headers['retry-after']);
	assert(ra >= 1 && ra <= 1, `Retry-After ${ka.headers['retry-after']} (600 ms per token)`);
	eq(ka.body, { error: 'rate limit exceeded', retry_after: ra }, 'REST body');
	// other tenants are not touched
	eq((await fresh('/api/v1/users/rb/mcp-servers', { token: tokB })).status, 200, 'rb');
	// /health is not a tenant's request
	eq((await fresh('/health')).status, 200, 'health');
	const after = await scrape();
	eq(after.tenant - (before.tenant || 0), 3, 'three refusals counted');
	const show = await d.ctlOk(['tenant', 'show', 'ra']);
	assert(/rate 100\/min/.test(show), show);
	agent.destroy();
	console.log(`# default rate: ${passed} passed in ${elapsed} ms`);
});

test('rate=6: the 7th request is 429 on both paths; MCP gets a JSON-RPC error with its id', async () => {
	await d.ctlOk(['tenant', 'set-limits', 'rb', 'rate=6']);
	const lim = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'rb'])).limits;
	eq(lim.rate_per_minute, 6, 'shown limit');
	// rb spent one above, under the default rate; the new rate keeps
	// what is left, up to its burst of 6.
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const got = [];
	for (let i = 0; i < 6; i++) {
		const r = i % 2 ? await req(agent, '/api/v1/users/rb/mcp-servers', { token: tokB }) :
		    await fresh('/api/v1/users/rb/mcp-servers', { token: tokB });
		got.push(r.status);
	}
	eq(got, Array(6).fill(200), 'six pass');
	// MCP on the kept connection: the worker has the body, the id is there.
	const mk = await req(agent, '/api/v1/users/rb/mcp', { token: tokB, method: 'POST',
	    body: initBody('kept-7') });
	eq(mk.status, 429, 'keep-alive MCP');
	eq(mk.body.jsonrpc, '2.0');
	eq(mk.body.id, 'kept-7', 'the request id');
	eq(mk.body.error.code, -32000);
	assert(Number(mk.headers['retry-after']) >= 1, 'Retry-After');
	// MCP on a new connection, head and body in one write: the
	// supervisor has the body at hand.
	const raw = await d.raw(`POST /api/v1/users/rb/mcp HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tokB}\r\nContent-Type: application/json\r\n` +
	    `Accept: application/json, text/event-stream\r\n` +
	    `Content-Length: ${Buffer.byteLength(initBody(42))}\r\n\r\n${initBody(42)}`);
	eq(raw.status, 429, 'new connection MCP');
	const rb = JSON.parse(raw.body);
	eq([rb.id, rb.error.code, rb.error.message], [42, -32000, 'rate limit exceeded']);
	const wait = Number(/retry-after: (\d+)/i.exec(raw.head)[1]);
	assert(wait >= 1 && wait <= 10, `Retry-After ${wait} (10 s per token)`);
	agent.destroy();
});

test('rate=6 refills one token every 10 s, no sooner', async () => {
	// Empty the bucket, then time the next token.
	for (let i = 0; i < 10; i++)
		await fresh('/api/v1/users/rb/mcp-servers', { token: tokB });
	const r0 = await fresh('/api/v1/users/rb/mcp-servers', { token: tokB });
	eq(r0.status, 429, 'empty');
	const t0 = Date.now();
	const wait = Number(r0.headers['retry-after']);
	assert(wait >= 1 && wait <= 10, `Retry-After ${wait}`);
	// Half-way through the wait: still refused.
	await sleep(Math.max(0, wait * 1000 / 2 - (Date.now() - t0)));
	eq((await fresh('/api/v1/users/rb/mcp-servers', { token: tokB })).status, 429,
	    'before the token is back');
	// After Retry-After: exactly one passes (a keep-alive request).
	await sleep(Math.max(0, wait * 1000 + 100 - (Date.now() - t0)));
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const ok = await fresh('/api/v1/users/rb/mcp-servers', { token: tokB });
	eq(ok.status, 200, 'the refilled token');
	const again = await fresh('/api/v1/users/rb/mcp-servers', { token: tokB });
	eq(again.status, 429, 'only one');
	const ra = Number(again.headers['retry-after']);
	assert(ra >= 9 && ra <= 10, `next in about 10 s: ${ra}`);
	agent.destroy();
});

test('rate=0 lifts the limit; rate=default restores it; bad values are refused', async () => {
	await d.ctlOk(['tenant', 'set-limits', 'rb', 'rate=0']);
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	for (let i = 0; i < 30; i++)
		eq((await req(agent, '/api/v1/users/rb/mcp-servers', { token: tokB })).status, 200,
		    `unlimited ${i}`);
	agent.destroy();
	assert(/rate unlimited/.test(await d.ctlOk(['tenant', 'show', 'rb'])), 'shown');
	await d.ctlOk(['tenant', 'set-limits', 'rb', 'rate=default']);
	eq(JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'rb'])).limits.rate_per_minute,
	    100, 'back to the configured rate');
	for (const bad of ['rate=-1', 'rate=abc', 'rate=2000000', 'rate=5M'])
		eq((await d.ctl(['tenant', 'set-limits', 'rb', bad])).code, 1, bad);
});

test('keep-alive requests in a burst: exactly the tokens there are, in order', async () => {
	await d.ctlOk(['tenant', 'set-limits', 'rc', 'rate=10']);
	// pipelined on one connection: 15 requests in one write
	const q = `GET /api/v1/users/rc/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tokC}\r\n\r\n`;
	const s = net.connect(d.port, '127.0.0.1');
	await new Promise((r) => s.on('connect', r));
	let buf = '';
	s.on('data', (x) => { buf += x.toString('latin1'); });
	s.write(q.repeat(15));
	await until(() => (buf.match(/HTTP\/1\.1 \d{3}/g) || []).length >= 15, 10000,
	    '15 answers');
	const codes = [...buf.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
	s.destroy();
	eq(codes, [...Array(10).fill(200), ...Array(5).fill(429)], 'ten, then refusals');
});

// ---------------------------------------------------- per address

const e = new Daemon({ workers: 1, uid_base: 71500, config: { rate_limit: null,
	ip_connection_rate: 60, ip_connection_burst: 5, auth_fail_limit: 3,
	auth_fail_block: 2 } });
await e.start();
const tokE = await e.tenant('re', {});

const eraw = (bytes) => e.raw(bytes, { ms: 3000 });
const ehealth = () => eraw('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
const etools = (tok) => eraw(`GET /api/v1/users/re/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
    `Authorization: Bearer ${tok}\r\n\r\n`);

test('connections per address: the burst passes, the next is 429, tokens come back', async () => {
	// The daemon's own start-up used none of these (dataagentctl speaks
	// over the control socket).
	const got = [];
	for (let i = 0; i < 8; i++)
		got.push(await ehealth());
	eq(got.slice(0, 5).map((r) => r.status), [200, 200, 200, 200, 200], 'burst of 5');
	// Over the rate: answered 429 and closed before the request is read
	// (a reset may overtake the answer, so some may show as closed).
	const over = got.slice(5);
	assert(over.every((r) => r.status === 429 || r.status === 0),
	    `over: ${over.map((r) => r.status)}`);
	const answered = over.filter((r) => r.status === 429);
	assert(answered.length >= 1, 'at least one 429 read');
	for (const r of answered) {
		assert(/retry-after: 1/i.test(r.head), r.head);
		eq(Number(/content-length: (\d+)/i.exec(r.head)[1]), Buffer.byteLength(r.body),
		    'Content-Length');
		eq(JSON.parse(r.body), { error: 'too many connections from this address' });
	}
	await sleep(1100);		/* 60 a minute: one a second */
	const m = await scrape(e);
	eq(m.ip, 3, `ip refusals counted: ${JSON.stringify(m)}`);
	await sleep(1100);
	eq((await ehealth()).status, 200, 'a token came back');
});

test('failed authentications back the address off, doubling', async () => {
	await sleep(5000);	/* the connection bucket refills to 5 */
	const bad = jwt({ sub: 're', exp: now() + 600 }, { key: 'x'.repeat(40) });
	for (let i = 0; i < 3; i++)
		eq((await etools(bad)).status, 401, `bad token ${i}`);
	// the third failure started a 2 s back-off: even a good token waits
	let r = await etools(tokE);
	eq(r.status, 429, 'backed off');
	eq(Number(/retry-after: (\d+)/i.exec(r.head)[1]), 2, 'Retry-After');
	eq(JSON.parse(r.body).error, 'rate limit exceeded');
	await sleep(2100);
	eq((await etools(tokE)).status, 200, 'after the back-off');
	// one more failure: backed off again, twice as long
	eq((await etools(bad)).status, 401, 'another failure');
	r = await etools(tokE);
	eq(r.status, 429, 'backed off again');
	const ra = Number(/retry-after: (\d+)/i.exec(r.head)[1]);
	assert(ra === 4 || ra === 3, `doubled: ${ra}`);
	await sleep(1100);
	const m = await scrape(e);
	assert(m.auth >= 2, `auth refusals counted: ${JSON.stringify(m)}`);
	assert(e.logs.find((l) => l.msg === 'authentication failures: address backed off' &&
	    l.address === '127.0.0.1'), 'logged');
});

test('rate_limit_exempt (reloaded) lets an address through', async () => {
	fs.appendFileSync(e.confPath, 'rate_limit_exempt = 127.0.0.0/8, ::1\n');
	const n = e.logs.length;
	e.proc.kill('SIGHUP');
	await until(() => e.logs.slice(n).find((l) => l.msg === 'configuration reloaded'),
	    10000, 'reload');
	const got = [];
	for (let i = 0; i < 12; i++)
		got.push((await ehealth()).status);
	eq(got, Array(12).fill(200), 'no connection limit');
	eq((await etools(tokE)).status, 200, 'no back-off');
});

// trusted_proxies: the test's own address plays the proxy.
const f = new Daemon({ workers: 1, uid_base: 71700, config: {
    trusted_proxies: '127.0.0.0/8' } });
await f.start();
const tokF = await f.tenant('rf', {});
const fraw = (tok, xff, extra = '') => f.raw(`GET /api/v1/users/rf/mcp-servers HTTP/1.1\r\n` +
    `Host: localhost\r\nAuthorization: Bearer ${tok}\r\n` +
    (xff ? `X-Forwarded-For: ${xff}\r\n` : '') + extra + '\r\n');
const badF = jwt({ sub: 'rf', exp: now() + 600 }, { key: 'y'.repeat(40) });

test('from a trusted proxy: 30 bad tokens back off the X-Forwarded-For client, not the proxy nor another client', async () => {
	// A client's own X-Forwarded-For entry is not believed: the
	// right-most address the proxy added is.
	for (let i = 0; i < 30; i++)
		eq((await fraw(badF, `198.51.100.9, 203.0.113.5`)).status, 401, `bad token ${i}`);
	const r = await fraw(tokF, '198.51.100.9, 203.0.113.5');
	eq(r.status, 429, 'that client is backed off');
	assert(f.logs.find((l) => l.msg === 'authentication failures: address backed off' &&
	    l.address === '203.0.113.5'), 'the back-off names the client');
	assert(f.logs.find((l) => l.msg === 'authentication failed' &&
	    l.remote === '203.0.113.5'), 'the log names the client');
	eq((await fraw(badF, '203.0.113.6')).status, 401, 'another client is not backed off');
	eq((await fraw(tokF, '203.0.113.6')).status, 200, "another client's good token");
	eq((await fraw(tokF, '')).status, 200, 'the proxy itself');
	// X-User-ID never decides anything: the token does.
	eq((await fraw(tokF, '203.0.113.6', 'X-User-ID: someone-else\r\n')).status, 200);
	eq((await fraw(badF, '203.0.113.6', 'X-User-ID: rf\r\n')).status, 401);
});

test('from a peer that is not a trusted proxy, X-Forwarded-For is ignored', async () => {
	fs.appendFileSync(f.confPath, 'trusted_proxies = 192.0.2.1\n');
	const n = f.logs.length;
	f.proc.kill('SIGHUP');
	await until(() => f.logs.slice(n).find((l) => l.msg === 'configuration reloaded'),
	    10000, 'reload');
	for (let i = 0; i < 30; i++)
		eq((await fraw(badF, `203.0.113.${10 + i}`)).status, 401, `bad token ${i}`);
	eq((await fraw(tokF, '203.0.113.99')).status, 429, 'the peer is backed off, whatever the header says');
	assert(f.logs.find((l) => l.msg === 'authentication failures: address backed off' &&
	    l.address === '127.0.0.1'), 'the back-off names the peer');
});

const failed = await run(import.meta.url);
await d.stop();
await e.stop();
await f.stop();
process.exit(failed ? 1 : 0);
