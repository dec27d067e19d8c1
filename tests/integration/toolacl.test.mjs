// toolacl.test.mjs: tool allow/deny lists, per server and per tenant, end
// to end: server-everything as the real upstream, dataagentctl to set
// the lists, the official SDK client and raw JSON-RPC on the aggregated
// and the passthrough endpoints, REST, and the audit rows. Lists change
// under a running worker without restarting it or the server.
import { Daemon, test, run, assert, eq, until, EVERYTHING } from './lib.mjs';

const d = new Daemon({ uid_base: 63000 });
await d.start();
const alice = await d.tenant('alice', { everything: EVERYTHING });

const names = async (c) => (await c.listTools()).tools.map((t) => t.name).sort();
const showJson = async (...w) => JSON.parse(await d.ctlOk(['--json', ...w]));
const workerPid = async () => (await showJson('tenant', 'show', 'alice')).worker?.pid;
async function serverPid() {
	const r = await d.fetch('/api/v1/users/alice/mcp-servers/everything', { token: alice });
	return (await r.json()).pid;
}

// Raw JSON-RPC on one endpoint (/mcp or /mcp/everything), in a session.
async function rawSession(rest) {
	const headers = { Accept: 'application/json, text/event-stream' };
	const post = async (body, sid) => {
		const r = await d.fetch(`/api/v1/users/alice${rest}`, { token: alice,
		    method: 'POST', body, headers: sid ? { ...headers,
			'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' } : headers });
		const text = await r.text();
		// JSON, or the one message of an SSE answer
		const m = /^data: (.*)$/m.exec(text);
		let json;
		try {
			json = JSON.parse(m ? m[1] : text);
		} catch {
			json = undefined;
		}
		return { status: r.status, headers: r.headers, text, json };
	};
	const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
	    protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
	eq(init.status, 200, init.text);
	const sid = init.headers.get('mcp-session-id');
	assert(sid, 'a session id');
	eq((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sid)).status, 202);
	let id = 10;
	return (method, params = {}) => post({ jsonrpc: '2.0', id: id++, method, params }, sid);
}

async function auditRows() {
	return showJson('audit', '--tenant', 'alice', '--limit', '200');
}

let full, pids;

test('without lists every tool is there; the lists start empty', async () => {
	const c = await d.mcp('alice', alice);
	full = await names(c);
	await c.close();
	assert(full.includes('everything__echo') && full.includes('everything__get-sum'),
	    full.join(','));
	assert(full.some((n) => !/^everything__(get|echo)/.test(n)), 'tools beyond get* and echo');
	const s = await showJson('server', 'show', 'alice', 'everything');
	eq([s.allow_tools, s.deny_tools], [[], []]);
	const t = await showJson('tenant', 'show', 'alice');
	eq([t.allow_tools, t.deny_tools], [[], []]);
	pids = [await workerPid(), await serverPid()];
	assert(pids[0] > 0 && pids[1] > 0, `worker and server running: ${pids}`);
});

test('server set: bad patterns are a usage error, good ones are stored and shown', async () => {
	for (const bad of ['a b', 'x,,y', 'ec[ho', 'a\\*', 'é'.repeat(3), 'x'.repeat(129)]) {
		const r = await d.ctl(['server', 'set', 'alice', 'everything', '--deny-tools', bad]);
		eq(r.code, 2, `${bad}: ${r.stderr}`);
	}
	let r = await d.ctl(['server', 'set', 'alice', 'everything']);
	eq(r.code, 2, 'set without a list');
	r = await d.ctl(['server', 'set', 'alice', 'nosuch', '--deny-tools', 'echo']);
	eq(r.code, 1, r.stderr);
	assert(/no such server/.test(r.stderr), r.stderr);
	r = await d.ctl(['tenant', 'list', '--deny-tools', 'echo']);
	eq(r.code, 2, 'the option belongs to set and add');
	const out = await d.ctlOk(['server', 'set', 'alice', 'everything',
	    '--allow-tools', 'get*, getX', '--deny-tools', 'echo']);
	assert(/allow tools: get\*,getX/.test(out) && /deny tools: +echo/.test(out), out);
	const s = await showJson('server', 'show', 'alice', 'everything');
	eq([s.allow_tools, s.deny_tools], [['get*', 'getX'], ['echo']]);
	const text = await d.ctlOk(['server', 'show', 'alice', 'everything']);
	assert(/allow tools: get\*,getX\n/.test(text), text);
	const list = await d.ctlOk(['tenant', 'show', 'alice']);
	assert(/allow tools: get\*,getX/.test(list) && /deny tools: +echo/.test(list), list);
	const lj = await showJson('server', 'list', 'alice');
	eq(lj[0].deny_tools, ['echo']);
});

test('tools/list leaves the refused tools out: SDK client, aggregated and passthrough', async () => {
	const want = full.filter((n) => /^everything__get/.test(n));
	const c = await d.mcp('alice', alice);
	await until(async () => JSON.stringify(await names(c)) === JSON.stringify(want),
	    5000, `the aggregated list to be ${want}`);
	await c.close();
	const { Client, StreamableHTTPClientTransport } = await (await import('./lib.mjs')).sdk();
	const p = new Client({ name: 'pass', version: '1' });
	await p.connect(new StreamableHTTPClientTransport(new URL(d.url('alice', '/mcp/everything')),
	    { requestInit: { headers: { Authorization: `Bearer ${alice}` } } }));
	eq(await names(p), want.map((n) => n.slice('everything__'.length)), 'passthrough');
	await p.close();
	const rest = await (await d.fetch('/api/v1/users/alice/tools', { token: alice })).json();
	eq(rest.tools.map((t) => t.name).sort(), want, 'GET /tools');
});

test('tools/call of a refused tool is a JSON-RPC error naming it, on both endpoints', async () => {
	const c = await d.mcp('alice', alice);
	let err;
	try {
		await c.callTool({ name: 'everything__echo', arguments: { message: 'no' } });
	} catch (e) {
		err = e;
	}
	assert(err, 'the SDK call throws');
	eq(err.code, -32602, String(err));
	assert(/tool everything__echo is not allowed for this tenant/.test(err.message), err.message);
	// an allowed one still works
	const s = await c.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 40 } });
	assert(/42/.test(JSON.stringify(s)), JSON.stringify(s));
	await c.close();

	const agg = await rawSession('/mcp');
	let r = await agg('tools/call', { name: 'everything__echo', arguments: { message: 'x' } });
	eq(r.status, 200, r.text);
	eq(r.json.error.code, -32602, r.text);
	eq(r.json.error.message, 'tool everything__echo is not allowed for this tenant');
	eq(r.json.error.data, { server: 'everything', tool: 'echo', policy: 'server deny' });
	// not in the allow list (and never asked of the server)
	const other = full.find((n) => !/^everything__(get|echo)/.test(n));
	r = await agg('tools/call', { name: other, arguments: {} });
	eq(r.json.error.data.policy, 'server allow', r.text);
	// a name the server does not even have is refused the same way
	r = await agg('tools/call', { name: 'everything__nosuch', arguments: {} });
	eq(r.json.error.data.policy, 'server allow', r.text);

	const pass = await rawSession('/mcp/everything');
	r = await pass('tools/call', { name: 'echo', arguments: { message: 'x' } });
	eq(r.json.error.code, -32602, r.text);
	eq(r.json.error.message, 'tool echo is not allowed for this tenant');
	r = await pass('tools/list');
	assert(r.json.result.tools.every((t) => t.name.startsWith('get')), r.text);
	r = await pass('tools/call', { name: 'get-sum', arguments: { a: 1, b: 2 } });
	assert(/3/.test(JSON.stringify(r.json.result)), r.text);
});

test('REST: a refused tool is 403 naming tool and server', async () => {
	let r = await d.fetch('/api/v1/users/alice/tools/everything/echo', { token: alice,
	    method: 'POST', body: { message: 'x' } });
	eq(r.status, 403);
	eq(await r.json(), { error: 'tool echo is not allowed for this tenant',
	    server: 'everything', tool: 'echo', policy: 'server deny' });
	r = await d.fetch('/api/v1/users/alice/tools/everything/get-sum', { token: alice,
	    method: 'POST', body: { a: 5, b: 5 } });
	eq(r.status, 200);
	// the lists of a server as the tenant's REST API shows them
	r = await d.fetch('/api/v1/users/alice/mcp-servers/everything', { token: alice });
	const s = await r.json();
	eq([s.allow_tools, s.deny_tools], [['get*', 'getX'], ['echo']]);
});

test('each refusal is an audit row that says the tool lists refused it', async () => {
	await until(async () => (await auditRows()).filter((a) => a.status === 'refused').length >= 6,
	    5000, 'the refusals in the audit');
	const rows = (await auditRows()).filter((a) => a.status === 'refused');
	const echo = rows.filter((a) => a.tool === 'echo' && a.server === 'everything');
	eq(echo.length, 4, 'SDK, raw aggregated, raw passthrough, REST');
	for (const a of rows) {
		eq(a.action, 'tool.call');
		eq(a.actor, 'worker');
		const det = JSON.parse(a.detail);
		eq(det.refused, 'tool policy');
		assert(['server deny', 'server allow'].includes(det.policy), a.detail);
	}
	const text = await d.ctlOk(['audit', '--tenant', 'alice']);
	assert(/everything\/echo refused/.test(text), text);
});

test('tenant set: the tenant\'s lists apply over its servers\', shown in tenant show', async () => {
	let r = await d.ctl(['tenant', 'set', 'alice']);
	eq(r.code, 2);
	r = await d.ctl(['tenant', 'set', 'alice', '--deny-tools', 'bad pattern']);
	eq(r.code, 2);
	r = await d.ctl(['tenant', 'set', 'nobody', '--deny-tools', 'x']);
	eq(r.code, 1);
	const out = await d.ctlOk(['tenant', 'set', 'alice', '--deny-tools=get-sum']);
	assert(/deny tools: +get-sum/.test(out), out);
	const t = await showJson('tenant', 'show', 'alice');
	eq([t.allow_tools, t.deny_tools], [[], ['get-sum']]);
	assert(/deny tools: +get-sum/.test(await d.ctlOk(['tenant', 'show', 'alice'])));
	const c = await d.mcp('alice', alice);
	const got = await names(c);
	assert(!got.includes('everything__get-sum') && got.length > 0, got.join(','));
	let err;
	try {
		await c.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 1 } });
	} catch (e) {
		err = e;
	}
	eq(err && err.code, -32602);
	await c.close();
	r = await d.fetch('/api/v1/users/alice/tools/everything/get-sum', { token: alice,
	    method: 'POST', body: { a: 5, b: 5 } });
	eq(r.status, 403);
	eq((await r.json()).policy, 'tenant deny');
	// a tenant allow list narrows further
	await d.ctlOk(['tenant', 'set', 'alice', '--allow-tools', 'get-t*', '--deny-tools', '']);
	const c2 = await d.mcp('alice', alice);
	const narrowed = await names(c2);
	await c2.close();
	eq(narrowed, full.filter((n) => /^everything__get-t/.test(n)));
	// Rows reach the store in batches: wait for them.
	await until(async () => (await auditRows()).filter((a) =>
	    a.status === 'refused' && JSON.parse(a.detail).policy ===
	    'tenant deny').length >= 2, 10000, 'tenant-deny refusals audited');
});

test('clearing the lists brings every tool back; no restart of the worker or the server', async () => {
	await d.ctlOk(['tenant', 'set', 'alice', '--allow-tools', '', '--deny-tools', '']);
	await d.ctlOk(['server', 'set', 'alice', 'everything', '--allow-tools', '', '--deny-tools', '']);
	const c = await d.mcp('alice', alice);
	eq(await names(c), full);
	const e = await c.callTool({ name: 'everything__echo', arguments: { message: 'back' } });
	eq(e.content[0].text, 'Echo: back');
	await c.close();
	eq([await workerPid(), await serverPid()], pids, 'same worker and server processes');
});

test('the tenant\'s REST API sets a server\'s lists; the supervisor checks them', async () => {
	const srv = (await showJson('server', 'show', 'alice', 'everything'));
	const body = { command: srv.command, args: srv.args, env: srv.env,
	    deny_tools: 'echo,get-*' };
	let r = await d.fetch('/api/v1/users/alice/mcp-servers/everything', { token: alice,
	    method: 'PUT', body: { ...body, deny_tools: 'ok,not ok' } });
	eq(r.status, 400);
	assert(/deny_tools/.test((await r.json()).error));
	r = await d.fetch('/api/v1/users/alice/mcp-servers/everything', { token: alice,
	    method: 'PUT', body: { ...body, allow_tools: [1] } });
	eq(r.status, 400);
	r = await d.fetch('/api/v1/users/alice/mcp-servers/everything', { token: alice,
	    method: 'PUT', body });
	eq(r.status, 200);
	eq((await r.json()).deny_tools, ['echo', 'get-*']);
	const s = await showJson('server', 'show', 'alice', 'everything');
	eq(s.deny_tools, ['echo', 'get-*']);
	const c = await d.mcp('alice', alice);
	const got = await names(c);
	await c.close();
	eq(got, full.filter((n) => n !== 'everything__echo' && !/^everything__get-/.test(n)));
	// server add keeps lists too
	await d.ctlOk(['server', 'add', 'alice', 'two', '--deny-tools', '*', '--', ...EVERYTHING]);
	const two = await showJson('server', 'show', 'alice', 'two');
	eq(two.deny_tools, ['*']);
	const c2 = await d.mcp('alice', alice);
	assert(!(await names(c2)).some((n) => n.startsWith('two__')), 'a server with every tool denied');
	await c2.close();
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
