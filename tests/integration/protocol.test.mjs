// protocol.test.mjs: the client-facing MCP protocol with server-everything
// (twice) and server-memory behind one tenant: resources and templates
// aggregated under dataagent:{server}: URIs (valid ones, checked with a
// URI parser), prompts and completion under {server}__ names, pagination
// across servers, progress and cancellation through the gateway, the GET
// stream (list changes, logs), sampling relayed to a client, the
// stateless 2026-07-28 revision with its header checks, the passthrough
// endpoint, and the official SDK v1 and v2 clients.
import http from 'node:http';
import { Daemon, test, run, assert, eq, until, sleep, sdk, PEERS, NODE,
    EVERYTHING, MEMORY } from './lib.mjs';

const types = await import(`${PEERS}/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js`);

const d = new Daemon({ workers: 1, uid_base: 74000 });
await d.start();

// A shim in front of one server-everything that reports on its stderr
// (logged by the worker) every tools/call, tools/list and cancellation it
// receives, with the ids the server sees; an echo of "emit:METHOD" makes
// it send notification METHOD as the server (server-everything has no
// way to announce list changes of its own).
// (Given with -e: the servers' view of the filesystem has no test dir.)
const shim = `
const { spawn } = require('child_process');
const p = spawn(process.execPath, ${JSON.stringify(EVERYTHING.slice(1))},
    { stdio: ['pipe', 'pipe', 'inherit'] });
const pending = [];
let obuf = '';
p.stdout.on('data', (d) => {
	obuf += d;
	let i;
	while ((i = obuf.indexOf('\\n')) >= 0) {
		process.stdout.write(obuf.slice(0, i + 1));
		obuf = obuf.slice(i + 1);
		while (pending.length)
			process.stdout.write(pending.shift());
	}
});
let buf = '';
process.stdin.on('data', (d) => {
	buf += d;
	let i;
	while ((i = buf.indexOf('\\n')) >= 0) {
		const line = buf.slice(0, i); buf = buf.slice(i + 1);
		try {
			const m = JSON.parse(line);
			if (m.method === 'tools/call')
				process.stderr.write('SHIM call ' + JSON.stringify({ id: m.id, name: m.params.name, token: m.params._meta && m.params._meta.progressToken }) + '\\n');
			if (m.method === 'tools/list')
				process.stderr.write('SHIM list ' + JSON.stringify({ id: m.id }) + '\\n');
			const msg = m.method === 'tools/call' && m.params.arguments && m.params.arguments.message;
			if (typeof msg === 'string' && msg.startsWith('emit:'))
				pending.push(JSON.stringify({ jsonrpc: '2.0', method: msg.slice(5) }) + '\\n');
			if (m.method === 'notifications/cancelled')
				process.stderr.write('SHIM cancel ' + JSON.stringify(m.params) + '\\n');
		} catch {}
	}
	p.stdin.write(d);
});
process.stdin.on('end', () => p.stdin.end());
p.on('exit', (c) => process.exit(c ?? 0));
`;

const tok = await d.tenant('proto', {
	ev: [NODE, '-e', shim],
	ev2: EVERYTHING,
	mem: MEMORY,
});
const auth = { Authorization: `Bearer ${tok}` };

async function client(opts = {}, rest = '/mcp') {
	const { Client, StreamableHTTPClientTransport } = await sdk();
	const c = new Client({ name: opts.name || 'proto-test', version: '1.0.0' },
	    { capabilities: opts.capabilities || {} });
	await c.connect(new StreamableHTTPClientTransport(new URL(d.url('proto', rest)),
	    { requestInit: { headers: auth } }));
	return c;
}

async function allPages(fn, key) {
	const items = [], cursors = [];
	let cursor;
	do {
		const r = await fn(cursor ? { cursor } : {});
		items.push(...r[key]);
		cursor = r.nextCursor;
		if (cursor)
			cursors.push(cursor);
	} while (cursor && cursors.length < 20);
	return { items, cursors };
}

// An RFC 3986 URI as clients check one: a scheme of ALPHA *( ALPHA /
// DIGIT / "+" / "-" / "." ) and what WHATWG's URL parser accepts.
function validUri(u) {
	if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(u))
		return false;
	try {
		return new URL(u).protocol === u.slice(0, u.indexOf(':') + 1).toLowerCase();
	} catch {
		return false;
	}
}
// RFC 6570 level 1-2 expansion of every {var} / {+var} with value.
const expand = (tpl, value) => tpl.replace(/\{\+?[A-Za-z0-9_.]+\}/g, value);

test('resources, templates and prompts: listed and read under dataagent:{server}: URIs and {server}__ names', async () => {
	assert(!validUri('ev__demo://resource/1'), 'the checker refuses the old form');
	const c = await client();
	const { items } = await allPages((p) => c.listResources(p), 'resources');
	const uris = items.map((r) => r.uri);
	const doc = 'demo://resource/static/document/architecture.md';
	assert(uris.includes(`dataagent:ev:${doc}`) && uris.includes(`dataagent:ev2:${doc}`),
	    `both servers' resources: ${uris.join(' ')}`);
	eq(new Set(uris).size, uris.length, 'no URI twice');
	assert(uris.every((u) => /^dataagent:(ev|ev2|mem):/.test(u)), `every URI namespaced: ${uris}`);
	const bad = uris.filter((u) => !validUri(u));
	eq(bad, [], 'aggregated URIs that are not URIs');
	eq(new URL(`dataagent:ev2:${doc}`).pathname, `ev2:${doc}`, 'the original whole in the path');
	const read = await c.readResource({ uri: `dataagent:ev2:${doc}` });
	eq(read.contents[0].uri, `dataagent:ev2:${doc}`, 'the read answer names the namespaced URI');
	assert(read.contents[0].text.length > 0, 'contents');
	// what a client of an earlier version kept still reads
	const old = await c.readResource({ uri: `ev2__${doc}` });
	eq(old.contents[0].text, read.contents[0].text, 'the earlier form reads the same');
	eq(old.contents[0].uri, `dataagent:ev2:${doc}`);

	const t = (await allPages((p) => c.listResourceTemplates(p), 'resourceTemplates')).items;
	const tpl = t.map((x) => x.uriTemplate);
	assert(tpl.includes('dataagent:ev:demo://resource/dynamic/text/{resourceId}'), `templates: ${tpl}`);
	eq(tpl.filter((x) => !validUri(expand(x, '3'))), [], 'templates whose expansion is no URI');
	const dyn = await c.readResource({ uri: expand('dataagent:ev:demo://resource/dynamic/text/{resourceId}', '3') });
	eq(dyn.contents[0].uri, 'dataagent:ev:demo://resource/dynamic/text/3');
	const comp2 = await c.complete({ ref: { type: 'ref/resource',
	    uri: 'dataagent:ev:demo://resource/dynamic/text/{resourceId}' },
	    argument: { name: 'resourceId', value: '1' } });
	assert(Array.isArray(comp2.completion.values), `resource completion: ${JSON.stringify(comp2)}`);

	const prompts = (await allPages((p) => c.listPrompts(p), 'prompts')).items.map((p) => p.name);
	for (const p of ['ev__simple-prompt', 'ev__args-prompt', 'ev2__simple-prompt'])
		assert(prompts.includes(p), `prompt ${p} in ${prompts}`);
	const g = await c.getPrompt({ name: 'ev__args-prompt', arguments: { city: 'Lisbon', state: 'PT' } });
	assert(JSON.stringify(g.messages).includes('Lisbon'), 'prompt arguments reached the server');

	const comp = await c.complete({ ref: { type: 'ref/prompt', name: 'ev__completable-prompt' },
	    argument: { name: 'department', value: 'Eng' } });
	assert(comp.completion.values.includes('Engineering'), `completion: ${JSON.stringify(comp)}`);

	for (const bad of [() => c.readResource({ uri: 'nosuch__demo://x' }),
	    () => c.readResource({ uri: 'dataagent:nosuch:demo://x' }),
	    () => c.readResource({ uri: 'dataagent:ev' }),
	    () => c.getPrompt({ name: 'simple-prompt' })]) {
		const e = await bad().then(() => null, (x) => x);
		assert(e && e.code === -32602, `unknown item: ${e && e.message}`);
	}
	await c.close();
});

test('pagination: one cursor per server page, ours only, per method', async () => {
	const c = await client();
	const first = await c.listResources();
	assert(first.nextCursor, 'a next cursor after the first server');
	assert(first.resources.every((r) => r.uri.startsWith('dataagent:ev:')), 'first page is the first server');
	const second = await c.listResources({ cursor: first.nextCursor });
	assert(second.resources.length > 0 && second.resources.every((r) => r.uri.startsWith('dataagent:ev2:')),
	    'second page is the second server');
	const { cursors } = await allPages((p) => c.listResources(p), 'resources');
	assert(cursors.length >= 1 && cursors.length < 5, `pages: ${cursors.length}`);
	const c0 = first.nextCursor;
	const tampered = c0.slice(0, 4) + (c0[4] === 'A' ? 'B' : 'A') + c0.slice(5);
	for (const [what, p] of [['tampered', () => c.listResources({ cursor: tampered })],
	    ['made up', () => c.listResources({ cursor: 'eyJpIjowfQ==.00' })],
	    ['another method', () => c.listPrompts({ cursor: c0 })]]) {
		const e = await p().then(() => null, (x) => x);
		assert(e && e.code === -32602, `${what} cursor: ${e && e.message}`);
	}
	await c.close();
});

function shimLines(kind, server = 'ev') {
	return d.logs.filter((l) => l.msg === 'upstream stderr' && l.server === server &&
	    typeof l.line === 'string' && l.line.startsWith(`SHIM ${kind} `))
	    .map((l) => JSON.parse(l.line.slice(`SHIM ${kind} `.length)));
}

test('progress from a long-running tool reaches each SDK client with its own token', async () => {
	const a = await client({ name: 'a' }), b = await client({ name: 'b' });
	const got = { a: [], b: [] };
	const call = (c, who) => c.callTool({ name: 'ev__trigger-long-running-operation',
	    arguments: { duration: 2, steps: 4 } }, undefined,
	    { onprogress: (p) => got[who].push(p), timeout: 20000 });
	const [ra, rb] = await Promise.all([call(a, 'a'), call(b, 'b')]);
	assert(!ra.isError && !rb.isError, 'calls succeed');
	eq(got.a.map((p) => p.progress), [1, 2, 3, 4], 'client a progress');
	eq(got.b.map((p) => p.progress), [1, 2, 3, 4], 'client b progress');
	const calls = shimLines('call').filter((x) => x.name === 'trigger-long-running-operation');
	assert(calls.length >= 2, 'the server saw both calls');
	const toks = calls.slice(-2).map((x) => x.token);
	assert(toks[0] !== toks[1] && toks.every((t) => /^dataagent-/.test(t)),
	    `the server saw tokens of ours, distinct: ${toks}`);
	await a.close();
	await b.close();
});

test('cancelling a call reaches the upstream with the upstream\'s own id', async () => {
	const c = await client();
	const ac = new AbortController();
	const p = c.callTool({ name: 'ev__trigger-long-running-operation',
	    arguments: { duration: 20, steps: 20 } }, undefined,
	    { signal: ac.signal, timeout: 30000, onprogress: () => {} }).then(() => null, (e) => e);
	const before = shimLines('call').length;
	await until(() => shimLines('call').length > before, 10000, 'the call to reach the server');
	const sent = shimLines('call').at(-1);
	await sleep(500);
	ac.abort('test cancels');
	const e = await p;
	assert(e, 'the call was aborted');
	const cancel = await until(() => shimLines('cancel').find((x) => x.requestId === sent.id),
	    10000, 'notifications/cancelled at the server');
	assert(Number.isInteger(cancel.requestId), 'an id of the gateway\'s');
	// The gateway is free for the next call at once.
	const r = await c.callTool({ name: 'ev__echo', arguments: { message: 'after cancel' } });
	eq(r.content[0].text, 'Echo: after cancel');
	await c.close();
});

test('the GET stream: a configuration change sends tools/list_changed, server logs arrive', async () => {
	const c = await client();
	const changed = [], logs = [];
	c.setNotificationHandler(types.ToolListChangedNotificationSchema, (n) => changed.push(n));
	c.setNotificationHandler(types.LoggingMessageNotificationSchema, (n) => logs.push(n));
	await sleep(500);	// the SDK opens its GET stream after initialize
	await d.ctlOk(['server', 'add', 'proto', 'mem2', '--', ...MEMORY]);
	await until(() => changed.length > 0, 10000, 'notifications/tools/list_changed');
	const names = (await c.listTools()).tools.map((t) => t.name);
	assert(names.some((n) => n.startsWith('mem2__')), 'the new server is listed');
	await c.callTool({ name: 'ev__toggle-simulated-logging', arguments: {} });
	try {
		await until(() => logs.length > 0, 15000, 'notifications/message');
		assert(logs[0].params.level && logs[0].params.data !== undefined, 'a log message');
	} finally {
		await c.callTool({ name: 'ev__toggle-simulated-logging', arguments: {} });
	}
	await d.ctlOk(['server', 'remove', 'proto', 'mem2']);
	await c.close();
});

test('list_changed from an upstream: caches dropped, forwarded to GET streams', async () => {
	const c = await client();
	const seen = { tools: 0, prompts: 0, resources: 0 };
	c.setNotificationHandler(types.ToolListChangedNotificationSchema, () => seen.tools++);
	c.setNotificationHandler(types.PromptListChangedNotificationSchema, () => seen.prompts++);
	c.setNotificationHandler(types.ResourceListChangedNotificationSchema, () => seen.resources++);
	await sleep(300);
	await c.listTools();
	const lists = shimLines('list').length;
	await c.listTools();
	eq(shimLines('list').length, lists, 'the second tools/list came from the cache');
	for (const kind of ['tools', 'prompts', 'resources'])
		await c.callTool({ name: 'ev__echo', arguments: { message: `emit:notifications/${kind}/list_changed` } });
	await until(() => seen.tools && seen.prompts && seen.resources, 10000,
	    `all three list changes (${JSON.stringify(seen)})`);
	await c.listTools();
	await until(() => shimLines('list').length > lists, 5000, 'tools/list to reach the server again');
	await c.close();
});

test('sampling: relayed to a client that declared it, refused to the server otherwise', async () => {
	const c = await client({ capabilities: { sampling: {} } });
	let asked = null;
	c.setRequestHandler(types.CreateMessageRequestSchema, async (req) => {
		asked = req.params;
		return { model: 'test-model', role: 'assistant',
		    content: { type: 'text', text: 'an answer from the client' } };
	});
	const r = await c.callTool({ name: 'ev2__trigger-sampling-request',
	    arguments: { prompt: 'hello' } }, undefined, { timeout: 20000 });
	assert(asked && JSON.stringify(asked.messages).includes('hello'), 'the client was asked');
	assert(r.content[0].text.includes('an answer from the client'), `result: ${r.content[0].text}`);
	await c.close();

	const plain = await client();
	const r2 = await plain.callTool({ name: 'ev2__trigger-sampling-request',
	    arguments: { prompt: 'hello' } }, undefined, { timeout: 20000 }).then((x) => x, (e) => ({ e }));
	assert(r2.e || r2.isError, `a client without sampling: an error, got ${JSON.stringify(r2)}`);
	await plain.close();
});

test('elicitation: relayed to the client on the call\'s own stream, its answer back', async () => {
	const c = await client({ capabilities: { elicitation: {} } });
	let asked = null;
	c.setRequestHandler(types.ElicitRequestSchema, async (req) => {
		asked = req.params;
		return { action: 'decline' };
	});
	const r = await c.callTool({ name: 'ev__trigger-elicitation-request', arguments: {} },
	    undefined, { timeout: 20000 });
	assert(asked && asked.requestedSchema, 'the client was asked with a form');
	assert(JSON.stringify(r.content).includes('declined'), `result: ${JSON.stringify(r.content)}`);
	await c.close();
});

test('resource subscriptions: updates arrive with the namespaced URI', async () => {
	const c = await client();
	const updated = [];
	c.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => updated.push(n.params.uri));
	await sleep(300);
	const uri = 'dataagent:ev:demo://resource/static/document/features.md';
	await c.subscribeResource({ uri });
	await c.callTool({ name: 'ev__toggle-subscriber-updates', arguments: {} });
	try {
		await until(() => updated.length > 0, 15000, 'notifications/resources/updated');
		assert(updated.includes(uri), `updated: ${updated}`);
	} finally {
		await c.callTool({ name: 'ev__toggle-subscriber-updates', arguments: {} });
		await c.unsubscribeResource({ uri });
	}
	await c.close();
});

// ------------------------------------------------------------- 2026-07-28

const V = '2026-07-28';
function modern(method, params = {}, headers = {}, id = 1, at = '/mcp') {
	const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: {
	    'io.modelcontextprotocol/protocolVersion': V,
	    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
	    'io.modelcontextprotocol/clientCapabilities': {},
	    ...(params._meta || {}) } } };
	const h = { Accept: 'application/json, text/event-stream',
	    'MCP-Protocol-Version': V, 'Mcp-Method': method, ...headers };
	for (const k of Object.keys(h))
		if (h[k] === null)
			delete h[k];
	return d.fetch(d.url('proto', at).replace(d.base, ''), { token: tok, method: 'POST', body, headers: h });
}

test('2026-07-28: no handshake, server/discover, results in the new shape', async () => {
	let r = await modern('server/discover');
	eq(r.status, 200, 'discover status');
	let j = await r.json();
	assert(j.result.supportedVersions.includes(V), 'supportedVersions');
	eq(j.result.resultType, 'complete');
	assert(j.result.capabilities.tools && j.result.capabilities.resources, 'capabilities');
	eq(j.result._meta['io.modelcontextprotocol/serverInfo'].name, 'dataagent');
	assert(r.headers.get('mcp-session-id') === null, 'no session');

	r = await modern('tools/list');
	j = await r.json();
	assert(j.result.tools.some((t) => t.name === 'ev__echo'), 'tools');
	eq(j.result.cacheScope, 'private');
	assert(Number.isInteger(j.result.ttlMs), 'ttlMs');

	r = await modern('tools/call', { name: 'ev__echo', arguments: { message: 'stateless' } },
	    { 'Mcp-Name': 'ev__echo' });
	j = await r.json();
	eq(j.result.content[0].text, 'Echo: stateless');
	const b64 = Buffer.from('ev__get-sum').toString('base64');
	r = await modern('tools/call', { name: 'ev__get-sum', arguments: { a: 2, b: 3 } },
	    { 'Mcp-Name': `=?base64?${b64}?=` });
	j = await r.json();
	assert(JSON.stringify(j.result.content).includes('5'), 'base64 Mcp-Name accepted');

	r = await modern('resources/read', { uri: 'dataagent:ev:demo://resource/dynamic/text/1' },
	    { 'Mcp-Name': 'dataagent:ev:demo://resource/dynamic/text/1' });
	j = await r.json();
	eq(j.result.contents[0].uri, 'dataagent:ev:demo://resource/dynamic/text/1');
	eq(j.result.resultType, 'complete');
});

test('2026-07-28: headers that disagree with the body are a 400 with -32020', async () => {
	const cases = [
		['Mcp-Method missing', 'tools/list', {}, { 'Mcp-Method': null }],
		['Mcp-Method differs', 'tools/list', {}, { 'Mcp-Method': 'prompts/list' }],
		['Mcp-Name missing', 'tools/call', { name: 'ev__echo', arguments: { message: 'x' } }, {}],
		['Mcp-Name differs', 'tools/call', { name: 'ev__echo', arguments: { message: 'x' } },
		    { 'Mcp-Name': 'ev2__echo' }],
		['MCP-Protocol-Version differs', 'tools/list', {}, { 'MCP-Protocol-Version': '2026-08-01' }],
	];
	const before = shimLines('call').length;
	for (const [what, method, params, headers] of cases) {
		const r = await modern(method, params, headers);
		eq(r.status, 400, what);
		const j = await r.json();
		eq(j.error && j.error.code, -32020, `${what}: code`);
		eq(j.id, 1, `${what}: id`);
	}
	eq(shimLines('call').length, before, 'no mismatched call reached a server');
	let r = await modern('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
	    { 'MCP-Protocol-Version': '2099-01-01' });
	eq(r.status, 400, 'unsupported version');
	let j = await r.json();
	eq(j.error.code, -32022);
	assert(j.error.data.supported.includes(V), 'supported versions named');
	r = await modern('no/such-method');
	eq(r.status, 404, 'unknown method');
	eq((await r.json()).error.code, -32601);
});

test('2026-07-28: errors carry the request id; a header that differs is -32020 before the version is judged', async () => {
	const meta = (v) => ({ _meta: { 'io.modelcontextprotocol/protocolVersion': v } });
	// the header says 2026-07-28, the body another version: a mismatch
	let r = await modern('server/discover', meta('v999.0.0'), {}, 302);
	eq(r.status, 400);
	let j = await r.json();
	eq([j.id, j.error.code], [302, -32020]);
	// both say a version we do not know (not even a date): unsupported,
	// in the 2026-07-28 shape, with the id
	for (const at of ['/mcp', '/mcp/ev']) {
		r = await modern('server/discover', meta('v999.0.0'),
		    { 'MCP-Protocol-Version': 'v999.0.0' }, 301, at);
		eq(r.status, 400, at);
		j = await r.json();
		eq(j.id, 301, `${at}: id`);
		eq(j.error.code, -32022, `${at}: code`);
		eq(j.error.data, { supported: [V, '2025-11-25', '2025-06-18', '2025-03-26'],
		    requested: 'v999.0.0' }, `${at}: data`);
	}
	// a _meta without the version: -32602 with the id
	r = await modern('server/discover', meta(undefined), {}, 101);
	j = await r.json();
	eq([r.status, j.id, j.error.code], [400, 101, -32602]);
	// a stateful request without its session: the error names its id
	r = await d.fetch(d.url('proto', '/mcp').replace(d.base, ''), { token: tok,
	    method: 'POST', body: { jsonrpc: '2.0', id: 'q-7', method: 'tools/list' },
	    headers: { Accept: 'application/json', 'MCP-Protocol-Version': '2025-06-18' } });
	j = await r.json();
	eq([r.status, j.id], [400, 'q-7'], 'no session');
});

test('2026-07-28: removed and unknown methods are 404 with -32601, aggregated and passthrough', async () => {
	for (const at of ['/mcp', '/mcp/ev']) {
		for (const m of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe',
		    'resources/unsubscribe', 'unknown/method']) {
			const r = await modern(m, m.startsWith('resources/') ?
			    { uri: 'demo://resource/static/document/architecture.md' } :
			    m === 'logging/setLevel' ? { level: 'debug' } : {}, {}, 500, at);
			eq(r.status, 404, `${at} ${m}: status`);
			const j = await r.json();
			eq([j.id, j.error.code], [500, -32601], `${at} ${m}`);
		}
	}
});

test('2026-07-28: a server asking for sampling the client did not declare is -32021, and the call is cancelled', async () => {
	// a server of its own: its stderr (the shim's report) is not
	// rationed with ev's, which the other cases fill
	await d.ctlOk(['server', 'add', 'proto', 'samp', '--', NODE, '-e', shim]);
	try {
		for (const [at, name] of [['/mcp', 'samp__trigger-sampling-request'],
		    ['/mcp/samp', 'trigger-sampling-request']]) {
			const before = shimLines('cancel', 'samp').length;
			const r = await modern('tools/call', { name, arguments: { prompt: 'hi' } },
			    { 'Mcp-Name': name }, 401, at);
			eq(r.status, 400, `${at}: status`);
			const j = await r.json();
			eq(j.id, 401, `${at}: id`);
			eq(j.error.code, -32021, `${at}: code`);
			eq(j.error.data, { requiredCapabilities: { sampling: {} } }, `${at}: data`);
			await until(() => shimLines('cancel', 'samp').length > before, 5000,
			    `${at}: the server to hear the cancellation`);
		}
		// the server still answers the next call
		const r = await modern('tools/call', { name: 'samp__echo', arguments: { message: 'after' } },
		    { 'Mcp-Name': 'samp__echo' });
		eq((await r.json()).result.content[0].text, 'Echo: after');
	} finally {
		await d.ctl(['server', 'remove', 'proto', 'samp']);
	}
});

test('2026-07-28: subscriptions/listen tells resource updates by the URI the client named, in either form', async () => {
	const a = 'demo://resource/static/document/architecture.md';
	const b = 'demo://resource/static/document/features.md';
	const wanted = [`dataagent:ev2:${a}`, `ev2__${b}`];
	const body = JSON.stringify({ jsonrpc: '2.0', id: 'l-1', method: 'subscriptions/listen',
	    params: { notifications: { resourceSubscriptions: wanted }, _meta: {
		'io.modelcontextprotocol/protocolVersion': V,
		'io.modelcontextprotocol/clientCapabilities': {} } } });
	const frames = [];
	const req = http.request({ host: '127.0.0.1', port: d.port, method: 'POST',
	    path: d.url('proto', '/mcp').replace(d.base, ''), headers: { ...auth,
		Accept: 'text/event-stream', 'Content-Type': 'application/json',
		'MCP-Protocol-Version': V, 'Mcp-Method': 'subscriptions/listen',
		'Content-Length': Buffer.byteLength(body) } }, (res) => {
		let buf = '';
		res.on('data', (c) => {
			buf += c;
			let i;
			while ((i = buf.indexOf('\n\n')) >= 0) {
				const ev = buf.slice(0, i);
				buf = buf.slice(i + 2);
				const data = ev.split('\n').find((l) => l.startsWith('data: '));
				if (data)
					frames.push(JSON.parse(data.slice(6)));
			}
		});
		res.on('error', () => {});
	});
	req.on('error', () => {});
	req.end(body);
	const c = await client();
	try {
		await until(() => frames.length > 0, 5000, 'the acknowledgement');
		eq(frames[0].params.notifications.resourceSubscriptions, wanted, 'acknowledged as named');
		await c.callTool({ name: 'ev2__toggle-subscriber-updates', arguments: {} });
		await until(() => wanted.every((u) => frames.some((f) =>
		    f.method === 'notifications/resources/updated' && f.params.uri === u)),
		    15000, `updates for ${wanted}`);
		const others = frames.filter((f) => f.method === 'notifications/resources/updated' &&
		    !wanted.includes(f.params.uri));
		eq(others, [], 'updates named otherwise');
	} finally {
		await c.callTool({ name: 'ev2__toggle-subscriber-updates', arguments: {} });
		await c.close();
		req.destroy();
	}
});

test('2026-07-28: progress streams on the request\'s own answer', async () => {
	const r = await modern('tools/call', { name: 'ev__trigger-long-running-operation',
	    arguments: { duration: 1, steps: 2 }, _meta: { progressToken: 'mine-7' } },
	    { 'Mcp-Name': 'ev__trigger-long-running-operation' });
	eq(r.status, 200);
	assert(r.headers.get('content-type').startsWith('text/event-stream'), 'streamed');
	const events = (await r.text()).split('\n').filter((l) => l.startsWith('data: '))
	    .map((l) => JSON.parse(l.slice(6)));
	const prog = events.filter((e) => e.method === 'notifications/progress');
	eq(prog.map((e) => e.params.progressToken), ['mine-7', 'mine-7'], 'the client\'s token');
	eq(events.at(-1).id, 1, 'the answer last');
	eq(events.at(-1).result.resultType, 'complete');
});

// ------------------------------------------------------------ passthrough

test('passthrough: /mcp/{server} is that server, unchanged', async () => {
	const c = await client({}, '/mcp/ev2');
	eq(c.getServerVersion().name, 'mcp-servers/everything', 'the server\'s own identity');
	const names = (await c.listTools()).tools.map((t) => t.name);
	assert(names.includes('echo') && !names.some((n) => n.includes('__')), `names: ${names}`);
	const r = await c.callTool({ name: 'echo', arguments: { message: 'direct' } });
	eq(r.content[0].text, 'Echo: direct');
	const res = await c.listResources();
	assert(res.resources.some((x) => x.uri === 'demo://resource/static/document/architecture.md'),
	    'resources unchanged');
	const got = [];
	await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
	    undefined, { onprogress: (p) => got.push(p.progress) });
	eq(got, [1, 2], 'progress through the passthrough');
	await c.close();

	let s = await d.fetch(d.url('proto', '/mcp/nosuch').replace(d.base, ''), { token: tok,
	    method: 'POST', body: { jsonrpc: '2.0', id: 1, method: 'ping' },
	    headers: { Accept: 'application/json' } });
	eq(s.status, 404, 'an unknown server');
	// A session of the aggregated endpoint is not one of the server's.
	const agg = await d.fetch(d.url('proto', '/mcp').replace(d.base, ''), { token: tok,
	    method: 'POST', headers: { Accept: 'application/json' }, body: { jsonrpc: '2.0', id: 1,
	    method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {},
	    clientInfo: { name: 'x', version: '1' } } } });
	const sid = agg.headers.get('mcp-session-id');
	s = await d.fetch(d.url('proto', '/mcp/ev').replace(d.base, ''), { token: tok,
	    method: 'POST', body: { jsonrpc: '2.0', id: 2, method: 'tools/list' },
	    headers: { Accept: 'application/json', 'Mcp-Session-Id': sid } });
	eq(s.status, 404, 'the aggregated session on the passthrough endpoint');
});

// ---------------------------------------------------------------- clients

test('SDK v2 client (@modelcontextprotocol/client) works unchanged', async () => {
	const v2 = await import(`${PEERS}/node_modules/@modelcontextprotocol/client/dist/index.mjs`);
	const c = new v2.Client({ name: 'v2-test', version: '1.0.0' });
	await c.connect(new v2.StreamableHTTPClientTransport(new URL(d.url('proto', '/mcp')),
	    { requestInit: { headers: auth } }));
	const tools = (await c.listTools()).tools.map((t) => t.name);
	assert(tools.includes('ev__echo') && tools.includes('mem__read_graph'), `tools: ${tools}`);
	const r = await c.callTool({ name: 'ev__echo', arguments: { message: 'v2' } });
	eq(r.content[0].text, 'Echo: v2');
	const res = await c.listResources();
	assert(res.resources.some((x) => x.uri.startsWith('dataagent:ev:')), 'resources');
	const ver = typeof c.getNegotiatedProtocolVersion === 'function' ?
	    c.getNegotiatedProtocolVersion() : undefined;
	console.log(`# SDK v2 negotiated ${ver}`);
	await c.close();
});

test('SDK v2 client negotiating (versionNegotiation auto) speaks 2026-07-28 statelessly', async () => {
	const v2 = await import(`${PEERS}/node_modules/@modelcontextprotocol/client/dist/index.mjs`);
	const seen = [];
	const c = new v2.Client({ name: 'v2-auto', version: '1.0.0' },
	    { versionNegotiation: { mode: 'auto' } });
	await c.connect(new v2.StreamableHTTPClientTransport(new URL(d.url('proto', '/mcp')), {
	    requestInit: { headers: auth },
	    fetch: (url, init) => {
		const h = new Headers(init && init.headers);
		seen.push({ method: h.get('mcp-method'), version: h.get('mcp-protocol-version'),
		    session: h.get('mcp-session-id') });
		return fetch(url, init);
	    } }));
	eq(c.getNegotiatedProtocolVersion(), V, 'negotiated');
	const tools = (await c.listTools()).tools.map((t) => t.name);
	assert(tools.includes('ev__echo'), 'tools');
	const r = await c.callTool({ name: 'ev2__echo', arguments: { message: 'modern' } });
	eq(r.content[0].text, 'Echo: modern');
	const p = await c.getPrompt({ name: 'ev__simple-prompt' });
	assert(p.messages.length > 0, 'prompt');
	assert(seen.some((x) => x.method === 'server/discover'), 'probed with server/discover');
	assert(seen.every((x) => x.session === null), 'no session header ever');
	assert(seen.filter((x) => x.method === 'tools/call').every((x) => x.version === V), 'headers');
	await c.close();

	// subscriptions/listen: change notifications on a stream of their own.
	const l = new v2.Client({ name: 'v2-listen', version: '1.0.0' },
	    { versionNegotiation: { mode: 'auto' } });
	await l.connect(new v2.StreamableHTTPClientTransport(new URL(d.url('proto', '/mcp')),
	    { requestInit: { headers: auth } }));
	let changes = 0;
	l.setNotificationHandler('notifications/prompts/list_changed', () => changes++);
	const sub = await l.listen({ promptsListChanged: true });
	eq(sub.honoredFilter, { promptsListChanged: true }, 'acknowledged filter');
	await l.callTool({ name: 'ev__echo', arguments: { message: 'emit:notifications/prompts/list_changed' } });
	await until(() => changes > 0, 10000, 'prompts/list_changed on the listen stream');
	await sub.close();
	await l.close();

	// The passthrough endpoint too: the server's own names, statelessly.
	const p2 = new v2.Client({ name: 'v2-auto-pass', version: '1.0.0' },
	    { versionNegotiation: { mode: 'auto' } });
	await p2.connect(new v2.StreamableHTTPClientTransport(new URL(d.url('proto', '/mcp/ev2')),
	    { requestInit: { headers: auth } }));
	eq(p2.getNegotiatedProtocolVersion(), V, 'negotiated on the passthrough');
	const e = await p2.callTool({ name: 'echo', arguments: { message: 'pass' } });
	eq(e.content[0].text, 'Echo: pass');
	await p2.close();
});

test('SDK v1 client: tools listed and called across servers', async () => {
	const c = await client();
	const tools = (await c.listTools()).tools.map((t) => t.name);
	assert(tools.includes('ev__echo') && tools.includes('ev2__echo') &&
	    tools.includes('mem__read_graph'), 'tools of all three servers');
	const r = await c.callTool({ name: 'mem__read_graph', arguments: {} });
	assert(!r.isError, 'memory answers');
	await c.close();
});

const failed = await run('protocol.test.mjs', { timeoutMs: 60000 });
await d.stop();
process.exit(failed ? 1 : 0);
