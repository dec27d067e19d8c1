// A remote upstream spoken to in the stateless 2026-07-28 revision
// (options.protocol): tenant "front" reaches tenant "back"'s aggregated
// endpoint of the same daemon as its server "inner"; back's server side
// checks every header and _meta key a stateless client must send, and
// never sees an initialize.
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Daemon, test, run, assert, eq, until, sdk, EVERYTHING, ROOT } from './lib.mjs';

const UID_BASE = 77000;
let d, tokenFront, tokenBack;

test('setup: back with server-everything, front with a stateless remote to back', async () => {
	// Tenant front's remote server is this gateway (and test servers) on
	// the host's loopback, which egress (the default) refuses by design:
	// tenant_network = host, chosen here on purpose.
	d = new Daemon({ uid_base: UID_BASE, config: { tenant_network: 'host' } });
	await d.start();
	tokenBack = await d.tenant('back', { everything: EVERYTHING });
	tokenFront = await d.tenant('front');
	await d.ctlOk(['secret', 'set', 'front', 'BACKTOK'], tokenBack);
	const added = await d.ctlOk(['--json', 'server', 'add', 'front',
	    'inner', '--url',
	    `http://127.0.0.1:${d.port}/api/v1/users/back/mcp`,
	    '--protocol', '2026-07-28', '--header',
	    'Authorization: Bearer ${secret:BACKTOK}']);
	assert(added.includes('2026-07-28'), `server add answered ${added}`);
});

test('tools of a stateless remote are listed and callable, no initialize reaches it', async () => {
	const client = await d.mcp('front', tokenFront);
	try {
		const { tools } = await client.listTools();
		const names = tools.map((t) => t.name);
		assert(names.includes('inner__everything__echo'),
		    `inner__everything__echo missing from ${names.join(' ')}`);
		const r = await client.callTool({ name: 'inner__everything__echo',
		    arguments: { message: 'hi through a stateless hop' } });
		assert(!r.isError, JSON.stringify(r));
		assert(JSON.stringify(r.content).includes(
		    'hi through a stateless hop'), JSON.stringify(r.content));
	} finally {
		await client.close();
	}
	// front's own (stateful) client started a session on front; the
	// stateless client in front's worker never starts one on back: an
	// initialize reaching back would log one there
	assert(d.logs.some((l) => l.msg === 'mcp session started' &&
	    l.tenant === 'front'), 'front logged no session of its own client');
	const backSessions = d.logs.filter((l) =>
	    l.msg === 'mcp session started' && l.tenant === 'back');
	eq(backSessions.length, 0, `sessions on back: ${JSON.stringify(backSessions)}`);
	const ready = await until(() => d.logs.find((l) =>
	    l.msg === 'upstream ready' && l.tenant === 'front' &&
	    l.server === 'inner'), 5000, 'front/inner ready');
	eq(ready.protocol, '2026-07-28', 'protocol of front/inner');
	const st = await (await d.fetch(d.url('front', '/mcp-servers'),
	    { token: tokenFront })).json();
	const inner = st.servers.find((s) => s.name === 'inner');
	eq(inner.state, 'ready', JSON.stringify(inner));
});

// A raw 2026-07-28 POST to tenant's path.
async function modern(tenant, token, rest, method, params = {}, id = 1) {
	const r = await d.fetch(d.url(tenant, rest), { token, method: 'POST',
	    headers: { Accept: 'application/json, text/event-stream',
		'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': method,
		...(params.name ? { 'Mcp-Name': params.name } : {}) },
	    body: { jsonrpc: '2.0', id, method, params: { ...params, _meta: {
		'io.modelcontextprotocol/protocolVersion': '2026-07-28',
		'io.modelcontextprotocol/clientCapabilities': {} } } } });
	return { status: r.status, body: await r.json() };
}

test('a stateful client on the passthrough endpoint of a stateless remote: no ping reaches it', async () => {
	// back is a 2026-07-28 server: ping is gone there, so a gateway that
	// pinged it to start a client's session would fail that session
	const ping = await modern('back', tokenBack, '/mcp', 'ping', {}, 7);
	eq(ping.status, 404, `ping on back: ${JSON.stringify(ping.body)}`);
	eq([ping.body.id, ping.body.error.code], [7, -32601]);
	const { Client, StreamableHTTPClientTransport } = await sdk();
	const client = new Client({ name: 'stateful-on-inner', version: '1.0.0' });
	await client.connect(new StreamableHTTPClientTransport(
	    new URL(d.url('front', '/mcp/inner')), { requestInit: {
		headers: { Authorization: `Bearer ${tokenFront}` } } }));
	try {
		// the initialize result comes from back's server/discover
		eq(client.getServerVersion().name, 'dataagent');
		assert(client.getServerCapabilities().tools,
		    JSON.stringify(client.getServerCapabilities()));
		const { tools } = await client.listTools();
		assert(tools.some((t) => t.name === 'everything__echo'),
		    tools.map((t) => t.name).join(' '));
		const r = await client.callTool({ name: 'everything__echo',
		    arguments: { message: 'stateful to stateless' } });
		eq(r.content[0].text, 'Echo: stateful to stateless');
		// the SDK's own ping is answered by the gateway
		await client.ping();
	} finally {
		await client.close();
	}
});

test('a 2026-07-28 upstream\'s resultType reaches a 2026-07-28 client as it was sent', async () => {
	const calls = [];
	const srv = http.createServer((req, res) => {
		let body = '';
		req.on('data', (b) => { body += b; });
		req.on('end', () => {
			const m = JSON.parse(body);
			if (m.method === 'tools/call')
				calls.push(m.params);
			if (m.id === undefined) {
				res.writeHead(202);
				res.end();
				return;
			}
			const results = {
				'server/discover': { supportedVersions: ['2026-07-28'],
				    capabilities: { tools: {} }, resultType: 'complete' },
				'tools/call': { resultType: 'input_required',
				    inputRequests: { ask: { method: 'elicitation/create',
					params: { mode: 'form', message: 'name?',
					    requestedSchema: { type: 'object', properties: {} } } } },
				    requestState: 'opaque-1' },
				'tools/list': { tools: [{ name: 'asks',
				    inputSchema: { type: 'object' } }] },
			};
			if (m.method === 'tools/call' && m.params.name === 'needs') {
				res.writeHead(400, { 'Content-Type': 'application/json' });
				res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: {
				    code: -32021, message: 'sampling needed', data: {
					requiredCapabilities: { sampling: {} } } } }));
				return;
			}
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id,
			    result: results[m.method] ?? {} }));
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	try {
		await d.ctlOk(['server', 'add', 'front', 'asker', '--url',
		    `http://127.0.0.1:${srv.address().port}/mcp`,
		    '--protocol', '2026-07-28']);
		const r = await d.fetch(d.url('front', '/mcp'), { token: tokenFront,
		    method: 'POST', headers: { Accept: 'application/json',
			'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call',
			'Mcp-Name': 'asker__asks' },
		    body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: {
			name: 'asker__asks', arguments: {}, _meta: {
			    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
			    'io.modelcontextprotocol/clientCapabilities': {} } } } });
		const j = await r.json();
		eq(r.status, 200, JSON.stringify(j));
		eq(j.result.resultType, 'input_required');
		eq(j.result.requestState, 'opaque-1');
		eq(Object.keys(j.result.inputRequests), ['ask']);
		// a result without one is still "complete"
		const e = await modern('front', tokenFront, '/mcp', 'tools/call',
		    { name: 'inner__everything__echo', arguments: { message: 'x' } });
		eq(e.body.result.resultType, 'complete', JSON.stringify(e.body));
		// the server's -32021 is a 400 to the client too
		const n = await modern('front', tokenFront, '/mcp', 'tools/call',
		    { name: 'asker__needs', arguments: {} }, 9);
		eq([n.status, n.body.id, n.body.error.code], [400, 9, -32021],
		    JSON.stringify(n.body));
		eq(n.body.error.data, { requiredCapabilities: { sampling: {} } });
		// what the client can do reaches the server only through the
		// passthrough endpoint: elsewhere the gateway asks, and it
		// can do none of it
		const caps = 'io.modelcontextprotocol/clientCapabilities';
		calls.length = 0;
		for (const [rest, name] of [['/mcp/asker', 'asks'], ['/mcp', 'asker__asks']]) {
			const r2 = await d.fetch(d.url('front', rest), { token: tokenFront,
			    method: 'POST', headers: { Accept: 'application/json',
				'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call',
				'Mcp-Name': name },
			    body: { jsonrpc: '2.0', id: 4, method: 'tools/call', params: {
				name, arguments: {}, _meta: {
				    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
				    [caps]: { elicitation: {} } } } } });
			eq((await r2.json()).result.resultType, 'input_required', rest);
		}
		eq(calls.map((p) => p._meta[caps]), [{ elicitation: {} }, {}]);
	} finally {
		await d.ctl(['server', 'remove', 'front', 'asker']);
		srv.closeAllConnections();
		srv.close();
	}
});

test('options.protocol is checked: only 2026-07-28, only over http', async () => {
	const base = ['server', 'add', 'front', 'bad', '--url',
	    'http://127.0.0.1:1/mcp'];
	for (const extra of [['--protocol', '2025-06-18'],
	    ['--protocol', ''],
	    ['--transport', 'sse', '--protocol', '2026-07-28'],
	    ['--header', 'Mcp-Method: tools/call']]) {
		const r = await d.ctl([...base, ...extra]);
		assert(r.code !== 0, `accepted: ${extra.join(' ')}`);
	}
	for (const options of [{ protocol: 'stateless' }, { protocol: 20260728 }]) {
		const r = await d.fetch(d.url('front', '/mcp-servers'), {
		    token: tokenFront, method: 'POST', body: { name: 'bad',
			transport: 'http', url: 'http://127.0.0.1:1/mcp',
			options } });
		eq(r.status, 400, `REST accepted ${JSON.stringify(options)}`);
	}
	const list = await d.ctlOk(['--json', 'server', 'list', 'front']);
	assert(!list.includes('"bad"'), `a bad server was stored: ${list}`);
	const h = await d.ctl(['--help']);
	assert(h.stdout.includes('[--protocol 2026-07-28]'), h.stdout);
	// bash completion knows the option and its one value
	const complete = (words) => execFileSync('bash', ['-c', `source \
${ROOT}/packaging/bash-completion/dataagentctl
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_dataagentctl; printf '%s\\n' "\${COMPREPLY[@]}"`], { env: { PATH:
	    `${path.join(ROOT, process.env.BUILD || 'build')}:${process.env.PATH}` } })
	    .toString().split('\n')
	    .filter(Boolean).sort();
	eq(complete(['dataagentctl', 'server', 'add', 't', 'n', '--pro']),
	    ['--protocol']);
	eq(complete(['dataagentctl', 'server', 'add', 't', 'n', '--protocol',
	    '']), ['2026-07-28']);
});

test('a stateless server that refuses: its JSON-RPC error is the reason, headers and _meta as sent', async () => {
	const seen = [];
	const srv = http.createServer((req, res) => {
		let body = '';
		req.on('data', (b) => { body += b; });
		req.on('end', () => {
			seen.push({ method: req.method, headers: req.headers,
			    body: body ? JSON.parse(body) : null });
			const id = body ? JSON.parse(body).id : null;
			res.writeHead(400, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ jsonrpc: '2.0', id, error: {
			    code: -32022, message: 'Unsupported protocol version '
			    + 'from the fake' } }));
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	try {
		await d.ctlOk(['server', 'add', 'front', 'refuser', '--url',
		    `http://127.0.0.1:${srv.address().port}/mcp`,
		    '--protocol', '2026-07-28']);
		const r = await d.fetch(d.url('front', '/tools/refuser/echo'), {
		    token: tokenFront, method: 'POST', body: { message: 'x' } });
		assert(r.status >= 400, `tool call answered ${r.status}`);
		const st = await until(async () => {
			const j = await (await d.fetch(d.url('front',
			    '/mcp-servers'), { token: tokenFront })).json();
			const s = j.servers.find((x) => x.name === 'refuser');
			return s && s.last_error ? s : null;
		}, 10000, 'refuser to fail');
		assert(st.last_error.includes('server/discover failed') &&
		    st.last_error.includes('from the fake'),
		    `last_error: ${st.last_error}`);
		assert(seen.length >= 1, 'the fake saw nothing');
		for (const q of seen)
			eq(q.method, 'POST', 'only POSTs (no GET stream, no DELETE)');
		const q = seen[0];
		eq(q.body.method, 'server/discover');
		eq(q.headers['mcp-protocol-version'], '2026-07-28');
		eq(q.headers['mcp-method'], 'server/discover');
		eq(q.headers['mcp-session-id'], undefined);
		const meta = q.body.params._meta;
		eq(meta['io.modelcontextprotocol/protocolVersion'], '2026-07-28');
		eq(meta['io.modelcontextprotocol/clientInfo'].name, 'dataagent');
		assert(typeof meta['io.modelcontextprotocol/clientCapabilities']
		    === 'object', JSON.stringify(meta));
		assert(!seen.some((x) => x.body && x.body.method === 'initialize'),
		    'an initialize was sent');
	} finally {
		await d.ctl(['server', 'remove', 'front', 'refuser']);
		srv.closeAllConnections();
		srv.close();
	}
});

test('Mcp-Name of a name that is not plain ASCII goes as base64, every request with its _meta', async () => {
	const seen = [];
	const results = {
		'server/discover': { supportedVersions: ['2026-07-28'],
		    capabilities: { tools: {} },
		    serverInfo: { name: 'fake', version: '1' } },
		'tools/list': { tools: [{ name: 'grüße',
		    inputSchema: { type: 'object' } }] },
		'tools/call': { content: [{ type: 'text', text: 'called' }] },
	};
	const srv = http.createServer((req, res) => {
		let body = '';
		req.on('data', (b) => { body += b; });
		req.on('end', () => {
			const m = body ? JSON.parse(body) : {};
			seen.push({ method: req.method, headers: req.headers,
			    body: m });
			if (m.id === undefined) {
				res.writeHead(202);
				res.end();
				return;
			}
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify(results[m.method] ? { jsonrpc: '2.0',
			    id: m.id, result: results[m.method] } : { jsonrpc: '2.0',
			    id: m.id, error: { code: -32601,
			    message: 'Method not found' } }));
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	const client = await d.mcp('front', tokenFront);
	try {
		await d.ctlOk(['server', 'add', 'front', 'fake', '--url',
		    `http://127.0.0.1:${srv.address().port}/mcp`,
		    '--protocol', '2026-07-28']);
		const { tools } = await client.listTools();
		assert(tools.some((t) => t.name === 'fake__grüße'),
		    tools.map((t) => t.name).join(' '));
		const r = await client.callTool({ name: 'fake__grüße',
		    arguments: {} });
		assert(!r.isError && JSON.stringify(r.content).includes('called'),
		    JSON.stringify(r));
		const call = seen.find((q) => q.body.method === 'tools/call');
		assert(call, `no tools/call among ${seen.map((q) => q.body.method)}`);
		eq(call.headers['mcp-method'], 'tools/call');
		eq(call.headers['mcp-name'], '=?base64?' +
		    Buffer.from('grüße').toString('base64') + '?=');
		eq(call.body.params.name, 'grüße');
		const list = seen.find((q) => q.body.method === 'tools/list');
		eq(list.headers['mcp-name'], undefined, 'Mcp-Name on tools/list');
		for (const q of seen) {
			eq(q.method, 'POST');
			eq(q.headers['mcp-protocol-version'], '2026-07-28');
			eq(q.headers['mcp-session-id'], undefined);
			if (q.body.id !== undefined)
				eq(q.body.params._meta[
				    'io.modelcontextprotocol/protocolVersion'],
				    '2026-07-28', JSON.stringify(q.body));
		}
		assert(!seen.some((q) => q.body.method === 'initialize' ||
		    q.body.method === 'notifications/initialized'),
		    'a handshake was sent');
	} finally {
		await client.close();
		await d.ctl(['server', 'remove', 'front', 'fake']);
		srv.closeAllConnections();
		srv.close();
	}
});

const failed = await run('stateless.test.mjs', { timeoutMs: 90000 });
if (d)
	await d.stop();
process.exit(failed ? 1 : 0);
