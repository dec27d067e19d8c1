// upstream.test.mjs: stdio upstreams as a tenant sees them: the
// environment they get, one process shared by every session, the call
// timeout, the per-tenant process limit, stderr in the log, and a server
// that cannot start.
import { Daemon, test, run, assert, eq, until, sleep, processesOf,
    EVERYTHING, CANARY } from './lib.mjs';

const d = new Daemon({ workers: 1, uid_base: 66000,
    config: { connection_timeout: 2, max_connections_per_user: 1 } });
await d.start();
const tok = await d.tenant('ups', {
	one: { cmd: EVERYTHING, env: { GREETING: 'hello from the config' } },
	two: EVERYTHING,
	broken: ['/nonexistent/mcp-server', '--flag'],
});
const uid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'ups'])).uid;
const upstreams = () => processesOf(uid).filter((p) => p.cmd.includes('server-everything'));

async function call(server, tool, args, client) {
	return client.callTool({ name: `${server}__${tool}`, arguments: args },
	    undefined, { timeout: 20000 }).then((r) => ({ r }), (e) => ({ e }));
}

test('an upstream gets only PATH, HOME and its configured env', async () => {
	const c = await d.mcp('ups', tok);
	const { r, e } = await call('one', 'get-env', {}, c);
	assert(r, `get-env failed: ${e}`);
	const env = JSON.parse(r.content[0].text);
	eq(Object.keys(env).sort(), ['CANARY', 'GREETING', 'HOME', 'PATH'], 'variables');
	eq(env.CANARY, CANARY, 'the tenant secret, resolved for the server');
	eq(env.GREETING, 'hello from the config');
	eq(env.HOME, d.tenantHome('ups'));
	assert(!JSON.stringify(env).includes('SECRET_KEY'), 'the daemon environment leaked');
	await c.close();
});

test('sessions share one process per server', async () => {
	const a = await d.mcp('ups', tok, 'a'), b = await d.mcp('ups', tok, 'b');
	const [x, y] = await Promise.all([call('one', 'echo', { message: 'a' }, a),
	    call('one', 'echo', { message: 'b' }, b)]);
	eq([x.r.content[0].text, y.r.content[0].text], ['Echo: a', 'Echo: b']);
	eq(upstreams().length, 1, 'server-everything processes');
	await a.close();
	await b.close();
});

test('max_connections_per_user bounds running upstreams; the idle one makes room', async () => {
	const c = await d.mcp('ups', tok);
	for (const s of ['one', 'two', 'one', 'two']) {
		const { r, e } = await call(s, 'echo', { message: s }, c);
		assert(r, `${s}: ${e}`);
		eq(r.content[0].text, `Echo: ${s}`);
		await until(() => upstreams().length <= 1, 5000, 'at most one upstream');
	}
	await c.close();
});

test('a call past connection_timeout gets a JSON-RPC error, the next call works', async () => {
	const c = await d.mcp('ups', tok);
	const t0 = Date.now();
	const { r, e } = await call('one', 'trigger-long-running-operation', { duration: 8, steps: 2 }, c);
	const took = Date.now() - t0;
	assert(e || r.isError, `no error: ${JSON.stringify(r)}`);
	assert(e && e.code === -32001 && /timed out/.test(e.message), `error: ${e && e.message}`);
	assert(took >= 1500 && took < 7000, `took ${took} ms`);
	const next = await call('one', 'echo', { message: 'after timeout' }, c);
	eq(next.r && next.r.content[0].text, 'Echo: after timeout');
	await c.close();
});

test('a server that cannot start: an error that says why, no hang', async () => {
	const c = await d.mcp('ups', tok);
	const { r, e } = await call('broken', 'anything', {}, c);
	assert(e || r.isError, 'no error');
	assert(/not found|No such file/i.test(e ? e.message : JSON.stringify(r)), `message: ${e && e.message}`);
	const list = (await c.listTools()).tools.map((t) => t.name);
	assert(list.some((n) => n.startsWith('one__')) && !list.some((n) => n.startsWith('broken__')),
	    'tools/list must still list the working servers');
	const st = await (await d.fetch('/api/v1/users/ups/mcp-servers/broken', { token: tok })).json();
	eq(st.state, 'failed');
	assert(/not found/i.test(st.last_error), JSON.stringify(st));
	await c.close();
});

test("an upstream's stderr is in the log, tagged with tenant and server", async () => {
	await until(() => d.logs.find((l) => l.msg === 'upstream stderr' && l.tenant === 'ups' &&
	    (l.server === 'one' || l.server === 'two') && /STDIO/.test(l.line)), 5000, 'stderr line');
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
