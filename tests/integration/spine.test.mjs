// spine.test.mjs: the request path end to end. Two tenants on one
// dataagentd; the official SDK client, fetch and raw sockets as clients;
// server-everything and server-memory as real stdio upstreams.
import fs from 'node:fs';
import net from 'node:net';
import { Daemon, test, run, assert, eq, jwt, now, processesOf, sdk, until,
    EVERYTHING, MEMORY, NODE, SECRET_KEY } from './lib.mjs';

const d = new Daemon({ workers: 2, uid_base: 62000, config: { header_timeout: 2,
    max_body_size: 65536 } });
await d.start();
const memEnv = (t) => ({ MEMORY_FILE_PATH: `${d.tenantHome(t)}/memory.jsonl` });
const alice = await d.tenant('alice', { everything: EVERYTHING,
    memory: { cmd: MEMORY, env: memEnv('alice') } });
const bob = await d.tenant('bob', { memory: { cmd: MEMORY, env: memEnv('bob') } });
const uidOf = async (t) => JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', t])).uid;

// What server-everything says about itself, straight over stdio.
async function directTools() {
	const { Client } = await sdk();
	const { StdioClientTransport } = await import(
	    `${process.env.PEERS_DIR || '/opt/dataagent-peers'}/node_modules/@modelcontextprotocol/sdk/dist/esm/client/stdio.js`);
	const c = new Client({ name: 'direct', version: '1' });
	await c.connect(new StdioClientTransport({ command: EVERYTHING[0],
	    args: EVERYTHING.slice(1), stderr: 'ignore' }));
	const t = await c.listTools();
	await c.close();
	return t.tools;
}

test('SDK client lists prefixed tools with schemas intact', async () => {
	const c = await d.mcp('alice', alice);
	const { tools } = await c.listTools();
	const names = tools.map((t) => t.name);
	assert(names.includes('everything__echo'), `names: ${names}`);
	assert(names.includes('everything__get-sum'), `names: ${names}`);
	assert(names.includes('memory__create_entities'), `names: ${names}`);
	assert(names.every((n) => /^(everything|memory)__/.test(n)), `names: ${names}`);
	const direct = await directTools();
	for (const t of direct) {
		const ours = tools.find((x) => x.name === `everything__${t.name}`);
		assert(ours, `missing everything__${t.name}`);
		eq(ours.inputSchema, t.inputSchema, `schema of ${t.name}`);
		eq(ours.description, t.description, `description of ${t.name}`);
	}
	await c.close();
});

test('SDK client calls echo, get-sum and a memory tool', async () => {
	const c = await d.mcp('alice', alice);
	const e = await c.callTool({ name: 'everything__echo', arguments: { message: 'hi there' } });
	eq(e.content[0].text, 'Echo: hi there');
	const s = await c.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 40 } });
	assert(/42/.test(s.content[0].text), JSON.stringify(s));
	await c.callTool({ name: 'memory__create_entities', arguments: { entities: [
	    { name: 'dataagent', entityType: 'project', observations: ['written in C'] }] } });
	const g = await c.callTool({ name: 'memory__read_graph', arguments: {} });
	assert(g.content[0].text.includes('written in C'), JSON.stringify(g));
	await c.close();
});

test('16 concurrent clients x 50 calls each get exactly their own answers', async () => {
	const clients = await Promise.all(Array.from({ length: 16 },
	    (_, i) => d.mcp('alice', alice, `c${i}`)));
	let wrong = 0, done = 0;
	await Promise.all(clients.map(async (c, i) => {
		for (let j = 0; j < 50; j++) {
			const msg = `client ${i} call ${j}`;
			const r = await c.callTool({ name: 'everything__echo', arguments: { message: msg } });
			if (r.content[0].text !== `Echo: ${msg}`)
				wrong++;
			done++;
		}
	}));
	await Promise.all(clients.map((c) => c.close()));
	eq([done, wrong], [800, 0], 'calls done, wrong answers');
});

test('tenant B cannot see or call tenant A', async () => {
	let r = await d.fetch('/api/v1/users/alice/tools', { token: bob });
	eq(r.status, 403);
	r = await d.fetch('/api/v1/users/alice/mcp', { token: bob, method: 'POST',
	    body: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
	    headers: { Accept: 'application/json, text/event-stream' } });
	eq(r.status, 403);
	const c = await d.mcp('bob', bob);
	const { tools } = await c.listTools();
	assert(tools.length > 0 && tools.every((t) => t.name.startsWith('memory__')),
	    tools.map((t) => t.name).join(','));
	const res = await c.callTool({ name: 'everything__echo', arguments: { message: 'x' } })
	    .then((x) => ({ ok: x }), (e) => ({ err: e }));
	assert(res.err || res.ok.isError, 'bob reached everything__echo');
	// bob's memory is his own file, in his own home
	const g = await c.callTool({ name: 'memory__read_graph', arguments: {} });
	assert(!g.content[0].text.includes('written in C'), 'bob sees alice memory');
	await c.close();
});

test('workers and upstreams run as the tenant UID', async () => {
	const ua = await uidOf('alice'), ub = await uidOf('bob');
	assert(ua !== ub && ua > 62000 && ub > 62000, `uids ${ua} ${ub}`);
	const pa = processesOf(ua), pb = processesOf(ub);
	assert(pa.some((p) => p.cmd.includes('dataagent-worker')), JSON.stringify(pa));
	assert(pa.some((p) => p.cmd.includes('server-everything')), JSON.stringify(pa));
	assert(pa.some((p) => p.cmd.includes('server-memory')), JSON.stringify(pa));
	assert(pb.some((p) => p.cmd.includes('server-memory')), JSON.stringify(pb));
	assert(!pb.some((p) => p.cmd.includes('server-everything')), JSON.stringify(pb));
	for (const p of [...pa, ...pb])
		assert(p.uids.every((u) => u === ua || u === ub), JSON.stringify(p));
	// no tenant process runs as root
	const st = fs.statSync(d.tenantHome('alice'));
	eq([st.uid, st.mode & 0o777], [ua, 0o700], 'alice home owner and mode');
});

test('bad, expired, alg none and wrong-key tokens get 401', async () => {
	const cases = {
		missing: undefined,
		garbage: 'not-a-token',
		expired: jwt({ sub: 'alice', exp: now() - 3600 }),
		none: jwt({ sub: 'alice', exp: now() + 3600 }, { header: { alg: 'none' }, sign: false }),
		hs512: jwt({ sub: 'alice', exp: now() + 3600 }, { header: { alg: 'HS512' } }),
		wrongkey: jwt({ sub: 'alice', exp: now() + 3600 }, { key: 'x'.repeat(40) }),
		noexp: jwt({ sub: 'alice' }),
		future: jwt({ sub: 'alice', exp: now() + 7200, nbf: now() + 3600 }),
	};
	for (const [name, tok] of Object.entries(cases)) {
		const r = await d.fetch('/api/v1/users/alice/tools', { token: tok });
		eq(r.status, 401, name);
		assert(/^Bearer/.test(r.headers.get('www-authenticate') || ''), `${name}: no WWW-Authenticate`);
		const body = await r.json();
		assert(body.error, `${name}: body ${JSON.stringify(body)}`);
	}
	const good = jwt({ sub: 'alice', exp: now() + 60 });
	eq((await d.fetch('/api/v1/users/alice/tools', { token: good })).status, 200, 'js-made token');
	// no token ever appears in a log line
	const logs = JSON.stringify(d.logs);
	for (const tok of [alice, bob, good, cases.expired])
		assert(!logs.includes(tok), 'a token was logged');
});

test('path not the token subject gets 403; unknown and disabled tenants 403', async () => {
	eq((await d.fetch('/api/v1/users/bob/mcp', { token: alice, method: 'POST', body: {} })).status, 403);
	const ghost = jwt({ sub: 'ghost', exp: now() + 60 });
	eq((await d.fetch('/api/v1/users/ghost/tools', { token: ghost })).status, 403);
	await d.ctlOk(['tenant', 'add', 'carol']);
	const carol = (await d.ctlOk(['token', 'issue', 'carol'])).trim();
	eq((await d.fetch('/api/v1/users/carol/tools', { token: carol })).status, 200, 'carol enabled');
	await d.ctlOk(['tenant', 'disable', 'carol']);
	// Disabling ends carol's worker and with it her open connections, so
	// ask on a fresh one.
	const r = await d.raw(`GET /api/v1/users/carol/tools HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${carol}\r\n\r\n`);
	eq(r.status, 403, 'carol disabled');
	await d.ctlOk(['tenant', 'enable', 'carol']);
	eq((await d.fetch('/api/v1/users/carol/tools', { token: carol })).status, 200, 'carol re-enabled');
});

test('one keep-alive connection carries requests of two tenants and the supervisor', async () => {
	// A pooling client or proxy reuses connections across tokens: the
	// worker hands such a request back to the supervisor, which routes it.
	const req = (tenant, tok, p) => `GET /api/v1/users/${tenant}${p} HTTP/1.1\r\n` +
	    `Host: localhost\r\nAuthorization: Bearer ${tok}\r\n\r\n`;
	const s = net.connect(d.port, '127.0.0.1');
	await new Promise((r) => s.on('connect', r));
	let buf = '';
	s.on('data', (x) => { buf += x.toString('latin1'); });
	const answer = async () => {
		const end = Date.now() + 10000;
		for (;;) {
			const i = buf.indexOf('\r\n\r\n');
			if (i >= 0) {
				const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, i))[1]);
				if (buf.length >= i + 4 + len) {
					const r = { status: Number(buf.slice(9, 12)),
					    body: JSON.parse(buf.slice(i + 4, i + 4 + len)) };
					buf = buf.slice(i + 4 + len);
					return r;
				}
			}
			if (Date.now() > end)
				throw new Error(`no answer: ${JSON.stringify(buf)}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	};
	s.write(req('alice', alice, '/mcp-servers'));
	let r = await answer();
	eq(r.status, 200);
	eq(r.body.servers.map((x) => x.name).sort(), ['everything', 'memory']);
	s.write(req('bob', bob, '/mcp-servers'));
	r = await answer();
	eq(r.status, 200, 'bob on the same connection');
	eq(r.body.servers.map((x) => x.name), ['memory']);
	// pipelined: two requests in one write, different tenants
	s.write(req('alice', alice, '/mcp-servers') + req('bob', bob, '/mcp-servers'));
	r = await answer();
	eq(r.body.servers.length, 2, 'alice, pipelined');
	r = await answer();
	eq(r.body.servers.length, 1, 'bob, pipelined');
	s.write('GET /health/detailed HTTP/1.1\r\nHost: localhost\r\n\r\n');
	r = await answer();
	eq(r.status, 200);
	assert(r.body.mcp, JSON.stringify(r.body));
	s.destroy();
});

test('oversized head gets 431, stalled head 408', async () => {
	const big = `GET /api/v1/users/alice/tools HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'a'.repeat(20000)}\r\n\r\n`;
	eq((await d.raw(big)).status, 431, 'oversized');
	const t0 = Date.now();
	const r = await d.raw('GET /api/v1/users/alice/tools HTTP/1.1\r\nHost: localhost\r\n', { ms: 10000 });
	eq(r.status, 408, 'stalled');
	assert(Date.now() - t0 < 9000, 'stalled head held too long');
	assert(r.closed, 'connection not closed after 408');
});

test('a chunked request body is read whole', async () => {
	const body = JSON.stringify({ message: 'chunked' });
	const a = body.slice(0, 7), b = body.slice(7);
	const r = await d.raw(`POST /api/v1/users/alice/tools/everything/echo HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${alice}\r\nContent-Type: application/json\r\n` +
	    `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
	    `${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`);
	eq(r.status, 200, r.raw);
	eq(JSON.parse(r.body).result.content[0].text, 'Echo: chunked');
});

test('oversized body gets 413', async () => {
	const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100000) } });
	const r = await d.raw(`POST /api/v1/users/alice/mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${alice}\r\n` +
	    `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
	eq(r.status, 413);
});

async function rpc(body, { token = alice, session, headers = {} } = {}) {
	const h = { Accept: 'application/json, text/event-stream', ...headers };
	if (session)
		h['Mcp-Session-Id'] = session;
	const r = await d.fetch('/api/v1/users/alice/mcp', { token, method: 'POST',
	    body, headers: h });
	const text = await r.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: r.status, headers: r.headers, text, json };
}

async function session() {
	const r = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
	    protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
	eq(r.status, 200, `initialize: ${r.text}`);
	eq(r.json.result.protocolVersion, '2025-06-18');
	const sid = r.headers.get('mcp-session-id');
	// node.<hex>, 64 characters: the host's node_name, then randomness
	assert(/^[a-z0-9-]{1,16}\.[0-9a-f]+$/.test(sid || '') && sid.length === 64,
	    `session id ${sid}`);
	eq((await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' }, { session: sid })).status, 202);
	return sid;
}

test('garbage JSON gets a JSON-RPC parse error', async () => {
	const sid = await session();
	const r = await rpc('{"jsonrpc": "2.0", "id": 1, "method": ', { session: sid,
	    headers: { 'Content-Type': 'application/json' } });
	eq(r.status, 400);
	eq(r.json.error.code, -32700);
	eq(r.json.id, null);
});

test('unknown tool gets a JSON-RPC error, not a hang', async () => {
	const sid = await session();
	for (const name of ['nosuch__tool', 'everything__nosuch', 'noprefix']) {
		const r = await rpc({ jsonrpc: '2.0', id: 7, method: 'tools/call',
		    params: { name, arguments: {} } }, { session: sid });
		eq(r.status, 200, name);
		const err = r.json.error || (r.json.result && r.json.result.isError && r.json.result);
		assert(err, `${name}: ${r.text}`);
	}
	const r = await rpc({ jsonrpc: '2.0', id: 8, method: 'no/such/method' }, { session: sid });
	eq(r.json.error.code, -32601);
});

test('sessions and protocol headers are checked', async () => {
	let r = await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
	eq(r.status, 400, 'no session');
	r = await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { session: 'f'.repeat(64) });
	eq(r.status, 404, 'unknown session');
	const sid = await session();
	r = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { session: sid,
	    headers: { 'MCP-Protocol-Version': '1999-01-01' } });
	eq(r.status, 400, 'bad protocol version');
	r = await rpc({ jsonrpc: '2.0', id: 3, method: 'ping' }, { session: sid,
	    headers: { Origin: 'http://evil.example' } });
	eq(r.status, 403, 'foreign origin');
	r = await rpc({ jsonrpc: '2.0', id: 4, method: 'ping' }, { session: sid,
	    headers: { Accept: 'text/event-stream' } });
	eq(r.status, 200);
	assert(r.headers.get('content-type').startsWith('text/event-stream'), 'sse');
	assert(/^event: message\ndata: \{.*"id":4/m.test(r.text), r.text);
	const del = await d.fetch('/api/v1/users/alice/mcp', { token: alice, method: 'DELETE',
	    headers: { 'Mcp-Session-Id': sid } });
	assert(del.status === 200 || del.status === 204, `delete ${del.status}`);
	r = await rpc({ jsonrpc: '2.0', id: 5, method: 'ping' }, { session: sid });
	eq(r.status, 404, 'deleted session');
});

test('REST: tools, a call, and server CRUD through the store', async () => {
	let r = await d.fetch('/api/v1/users/alice/tools', { token: alice });
	eq(r.status, 200);
	const tools = (await r.json()).tools;
	assert(tools.some((t) => t.name === 'everything__echo'), JSON.stringify(tools).slice(0, 300));
	r = await d.fetch('/api/v1/users/alice/tools/everything/echo', { token: alice,
	    method: 'POST', body: { message: 'rest' } });
	eq(r.status, 200);
	eq((await r.json()).result.content[0].text, 'Echo: rest');
	// A tool the server does not have is 404 naming it, like a server
	// that does not exist, not a 200 carrying isError.
	r = await d.fetch('/api/v1/users/alice/tools/everything/no_such_tool', { token: alice,
	    method: 'POST', body: {} });
	eq(r.status, 404, 'unknown tool');
	let b = await r.json();
	eq(b.tool, 'no_such_tool');
	eq(b.server, 'everything');
	assert(/no_such_tool/.test(b.error), JSON.stringify(b));
	r = await d.fetch('/api/v1/users/alice/tools/nowhere/echo', { token: alice,
	    method: 'POST', body: {} });
	eq(r.status, 404, 'unknown server');
	assert(/nowhere/.test((await r.json()).error), 'names the server');
	r = await d.fetch('/api/v1/users/alice/mcp-servers', { token: alice, method: 'POST',
	    body: { name: 'echo2', command: EVERYTHING[0], args: EVERYTHING.slice(1) } });
	eq(r.status, 201, 'create');
	r = await d.fetch('/api/v1/users/alice/mcp-servers/echo2', { token: alice });
	eq(r.status, 200, 'get');
	eq((await r.json()).command, NODE);
	r = await d.fetch('/api/v1/users/alice/tools/echo2/echo', { token: alice,
	    method: 'POST', body: { message: 'new server' } });
	eq(r.status, 200, 'call new server');
	const list = JSON.parse(await d.ctlOk(['--json', 'server', 'list', 'alice']));
	assert(list.some((s) => s.name === 'echo2'), 'not in the store');
	r = await d.fetch('/api/v1/users/alice/mcp-servers', { token: alice, method: 'POST',
	    body: { name: 'bad__name', command: 'x' } });
	eq(r.status, 400, 'invalid name');
	r = await d.fetch('/api/v1/users/alice/mcp-servers/echo2', { token: alice, method: 'DELETE' });
	eq(r.status, 204, 'delete');
	r = await d.fetch('/api/v1/users/alice/mcp-servers/echo2', { token: alice });
	eq(r.status, 404, 'gone');
});

// A stdio MCP server whose first tools/list has one tool and every later
// one two, and which never sends notifications/tools/list_changed.
const GROW = `
let lists = 0, buf = '';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const tool = (name) => ({ name, description: name, inputSchema: { type: 'object' } });
process.stdin.on('data', (d) => {
	buf += d;
	let i;
	while ((i = buf.indexOf('\\n')) >= 0) {
		let m;
		try { m = JSON.parse(buf.slice(0, i)); } catch { m = {}; }
		buf = buf.slice(i + 1);
		if (m.id === undefined || m.method === undefined)
			continue;
		if (m.method === 'initialize')
			send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
			    capabilities: { tools: {} }, serverInfo: { name: 'grow', version: '1' } } });
		else if (m.method === 'tools/list')
			send({ jsonrpc: '2.0', id: m.id, result: { tools: lists++ === 0 ?
			    [tool('first')] : [tool('first'), tool('later')] } });
		else if (m.method === 'tools/call')
			send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text',
			    text: 'called ' + m.params.name }] } });
		else
			send({ jsonrpc: '2.0', id: m.id, result: {} });
	}
});
process.stdin.on('end', () => process.exit(0));
`;

test('REST: a tool the cached list does not have yet is looked up again before 404', async () => {
	let r = await d.fetch('/api/v1/users/alice/mcp-servers', { token: alice, method: 'POST',
	    body: { name: 'grow', command: NODE, args: ['-e', GROW] } });
	eq(r.status, 201, 'create');
	try {
		const names = await until(async () => {
			const t = await d.fetch('/api/v1/users/alice/tools', { token: alice });
			const n = (await t.json()).tools.map((x) => x.name);
			return n.includes('grow__first') && n;
		}, 10000, 'grow__first in /tools');
		assert(!names.includes('grow__later'), `the cache holds the first list: ${names}`);
		r = await d.fetch('/api/v1/users/alice/tools/grow/later', { token: alice,
		    method: 'POST', body: {} });
		eq(r.status, 200, 'a tool the server has now');
		eq((await r.json()).result.content[0].text, 'called later');
		r = await d.fetch('/api/v1/users/alice/tools/grow/never', { token: alice,
		    method: 'POST', body: {} });
		eq(r.status, 404, 'a tool it still does not have');
		eq((await r.json()).tool, 'never');
	} finally {
		r = await d.fetch('/api/v1/users/alice/mcp-servers/grow', { token: alice,
		    method: 'DELETE' });
		eq(r.status, 204, 'delete');
	}
});

test('health and detailed health', async () => {
	let r = await d.fetch('/health');
	eq(r.status, 200);
	eq((await r.json()).status, 'healthy');
	r = await d.fetch('/health/detailed');
	const h = await r.json();
	assert(h.mcp && typeof h.mcp.capacity_usage === 'number', JSON.stringify(h));
	assert(h.workers && h.tenants >= 2, JSON.stringify(h));
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
