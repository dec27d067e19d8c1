// pool.test.mjs: upstream connection slots and resilience. A worker asks
// dataagentd for a slot before it starts a server; the host has
// max_total_connections of them, a tenant max_connections_per_user. Past
// either, the call fails at once with the limit named (JSON-RPC error over
// MCP, 503 + Retry-After over REST); slots come back when a server goes
// idle and when a worker dies. A server that fails to start is retried
// with back-off while the call waits, then is failed and retried by
// itself. The limits are small here so a few cheap servers reach them.
import fs from 'node:fs';
import { Daemon, UID_SHIFT, test, run, assert, eq, until, sleep, processesOf,
    EVERYTHING, MEMORY } from './lib.mjs';

const UID_BASE = 76000;
const d = new Daemon({ workers: 2, uid_base: UID_BASE, config: {
	max_total_connections: 3, max_connections_per_user: 2,
	connection_timeout: 20, idle_timeout: 4,
	max_retries: 2, retry_delay: 1, reconnect_interval: 6 } });
await d.start();
const tok = {
	pa: await d.tenant('pa', { a1: EVERYTHING, a2: EVERYTHING, a3: MEMORY }),
	pb: await d.tenant('pb', { b1: EVERYTHING, b2: MEMORY }),
	pf: await d.tenant('pf', { bad: ['/bin/sh', '-c', 'echo cannot start >&2; exit 3'],
	    ok: EVERYTHING }),
};
const uidOf = async (t) => JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', t])).uid;
const uids = { pa: await uidOf('pa'), pb: await uidOf('pb'), pf: await uidOf('pf') };
// The tenant's MCP servers: its processes other than the worker and the
// launcher (node or sh).
const servers = (t) => processesOf(uids[t]).filter((p) => /server-|\/bin\/sh/.test(p.cmd));

async function metrics() {
	const text = await (await d.metrics()).text();
	const num = (re) => Number((re.exec(text) || [])[1]);
	return {
		used: num(/^dataagent_pool_slots\{state="used"\} (\d+)$/m),
		total: num(/^dataagent_pool_slots\{state="total"\} (\d+)$/m),
		host: num(/^dataagent_pool_slots_refused_total\{scope="host"\} (\d+)$/m),
		tenant: num(/^dataagent_pool_slots_refused_total\{scope="tenant"\} (\d+)$/m),
	};
}

async function call(client, name, args, timeout = 30000) {
	return client.callTool({ name, arguments: args }, undefined, { timeout })
	    .then((r) => ({ r }), (e) => ({ e }));
}

// A call that keeps server s of tenant t busy for `secs` seconds.
async function busy(client, s, secs) {
	return call(client, `${s}__trigger-long-running-operation`, { duration: secs, steps: 2 });
}

async function restCall(t, s, tool, args) {
	const r = await d.fetch(d.url(t, `/tools/${s}/${tool}`), { token: tok[t],
	    method: 'POST', body: args });
	let body = null;
	try {
		body = await r.json();
	} catch {
		// not JSON
	}
	return { status: r.status, retry: r.headers.get('retry-after'), body };
}

async function serverState(t, s) {
	const r = await d.fetch(d.url(t, '/mcp-servers'), { token: tok[t] });
	eq(r.status, 200);
	return (await r.json()).servers.find((x) => x.name === s);
}

// Every test ends with the pool empty and no server process left: the
// idle ones are stopped after idle_timeout, their slots come back.
async function settle() {
	await until(async () => (await metrics()).used === 0 &&
	    Object.keys(uids).every((t) => servers(t).length === 0), 30000,
	    'an empty pool and no server process');
}

test('the defaults are max_connections_per_user 10 and max_total_connections 100', async () => {
	const dd = new Daemon({ workers: 0, uid_base: UID_BASE + 500 });
	await dd.start();
	try {
		const t = await dd.tenant('pdef', {});
		eq((await dd.fetch(dd.url('pdef', '/mcp-servers'), { token: t })).status, 200);
		const text = await (await dd.metrics()).text();
		assert(/^dataagent_pool_slots\{state="total"\} 100$/m.test(text), 'total 100');
		assert(/^dataagent_tenant_max_connections\{user_id="pdef"\} 10$/m.test(text),
		    'per tenant 10');
	} finally {
		await dd.stop();
	}
});

test("the tenant's third concurrent server: refused, naming max_connections_per_user (MCP and REST)", async () => {
	const before = await metrics();
	eq(before.total, 3);
	const c = await d.mcp('pa', tok.pa);
	try {
		const long = [busy(c, 'a1', 8), busy(c, 'a2', 8)];
		await until(async () => (await metrics()).used === 2, 15000, 'two slots in use');
		const t0 = Date.now();
		const { r, e } = await call(c, 'a3__read_graph', {});
		assert(e, `no error: ${JSON.stringify(r)}`);
		eq(e.code, -32003, e.message);
		assert(/max_connections_per_user \(2\)/.test(e.message), e.message);
		assert(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
		await sleep(200);	// past the worker's short hold of a refusal
		const rr = await restCall('pa', 'a3', 'read_graph', {});
		eq(rr.status, 503, JSON.stringify(rr.body));
		assert(Number(rr.retry) >= 1, `Retry-After ${rr.retry}`);
		assert(/max_connections_per_user/.test(rr.body.error), JSON.stringify(rr.body));
		eq(rr.body.scope, 'tenant');
		const after = await metrics();
		assert(after.tenant >= before.tenant + 2, `tenant refusals ${before.tenant} -> ${after.tenant}`);
		eq(after.host, before.host, 'no host refusal');
		for (const x of await Promise.all(long))
			assert(x.r && !x.r.isError, `busy call: ${x.e}`);
	} finally {
		await c.close();
	}
	// Once a1 and a2 are idle, a3 makes room by stopping one.
	const rr = await restCall('pa', 'a3', 'read_graph', {});
	eq(rr.status, 200, JSON.stringify(rr.body));
	await settle();
});

test("the host's fourth connection: refused, naming max_total_connections; health and metrics show the pool full", async () => {
	const before = await metrics();
	const ca = await d.mcp('pa', tok.pa), cb = await d.mcp('pb', tok.pb);
	try {
		const long = [busy(ca, 'a1', 8), busy(ca, 'a2', 8), busy(cb, 'b1', 8)];
		await until(async () => (await metrics()).used === 3, 15000, 'three slots in use');
		const h = await (await d.fetch('/health/detailed')).json();
		eq(h.mcp.total_connections, 3);
		eq(h.mcp.capacity_usage, 1);
		const { r, e } = await call(cb, 'b2__read_graph', {});
		assert(e, `no error: ${JSON.stringify(r)}`);
		eq(e.code, -32003);
		assert(/max_total_connections \(3\)/.test(e.message), e.message);
		await sleep(200);
		const rr = await restCall('pb', 'b2', 'read_graph', {});
		eq(rr.status, 503);
		assert(Number(rr.retry) >= 1, `Retry-After ${rr.retry}`);
		assert(/max_total_connections/.test(rr.body.error), JSON.stringify(rr.body));
		eq(rr.body.scope, 'host');
		const after = await metrics();
		assert(after.host >= before.host + 2, `host refusals ${before.host} -> ${after.host}`);
		eq(after.used, 3);
		for (const x of await Promise.all(long))
			assert(x.r && !x.r.isError, `busy call: ${x.e}`);
	} finally {
		await ca.close();
		await cb.close();
	}
	await settle();
});

test('slots come back when servers go idle: another tenant then gets one', async () => {
	const ca = await d.mcp('pa', tok.pa);
	try {
		eq((await call(ca, 'a1__echo', { message: 'x' })).r.content[0].text, 'Echo: x');
		eq((await call(ca, 'a2__echo', { message: 'y' })).r.content[0].text, 'Echo: y');
	} finally {
		await ca.close();
	}
	const rb = await restCall('pb', 'b1', 'echo', { message: 'z' });
	eq(rb.status, 200);
	eq((await metrics()).used, 3);
	const refused = await restCall('pb', 'b2', 'read_graph', {});
	eq(refused.status, 503, 'full while the others are not idle yet');
	// idle_timeout (4 s): every server stops and gives its slot back.
	await until(async () => (await metrics()).used === 0, 20000, 'the slots back');
	const h = await (await d.fetch('/health/detailed')).json();
	eq(h.mcp.total_connections, 0);
	eq((await restCall('pb', 'b2', 'read_graph', {})).status, 200);
	await settle();
});

test("a killed worker's slots go back to the host", async () => {
	const ca = await d.mcp('pa', tok.pa), cb = await d.mcp('pb', tok.pb);
	const long = [busy(ca, 'a1', 15), busy(ca, 'a2', 15)];
	try {
		await until(async () => (await metrics()).used === 2, 15000, 'two slots in use');
		const b1 = busy(cb, 'b1', 3);
		await until(async () => (await metrics()).used === 3, 15000, 'three slots in use');
		eq((await call(cb, 'b2__read_graph', {})).e.code, -32003, 'the host is full');
		const w = processesOf(uids.pa).find((p) => p.cmd.includes('dataagent-worker') &&
		    p.uids[0] === uids.pa);
		assert(w, 'the worker of pa');
		process.kill(w.pid, 'SIGKILL');
		await until(async () => (await metrics()).used <= 1, 10000, "pa's slots back");
		await sleep(200);
		const { r, e } = await call(cb, 'b2__read_graph', {});
		assert(r && !r.isError, `b2 after the kill: ${e}`);
		await b1;
		// Its servers went with it.
		await until(() => servers('pa').length === 0, 10000, "pa's servers gone");
	} finally {
		await Promise.allSettled(long);
		await ca.close().catch(() => {});
		await cb.close();
	}
	await settle();
});

test('a server that cannot start: retried with back-off while the call waits, then failed, then tried by itself', async () => {
	const exits = () => d.logs.filter((l) => l.msg === 'upstream exited' && l.tenant === 'pf' &&
	    l.server === 'bad').length;
	const n0 = exits();
	const t0 = Date.now();
	const rr = await restCall('pf', 'bad', 'anything', {});
	const took = Date.now() - t0;
	assert(rr.status >= 500 && rr.status !== 503, `status ${rr.status}`);
	assert(/exit status 3/.test(rr.body.error), JSON.stringify(rr.body));
	// The first attempt and max_retries (2) more, 1 s then 2 s apart.
	// The worker's lines reach the daemon's log through the supervisor's
	// pipe, which may come after the answer: wait for the third.
	await until(() => exits() - n0 >= 3, 5000, 'the third attempt logged').catch(() => {});
	eq(exits() - n0, 3, 'attempts');
	eq(d.logs.filter((l) => l.msg === 'upstream start failed, retrying' &&
	    l.tenant === 'pf' && l.server === 'bad').slice(-2).map((l) => l.delay_ms), [1000, 2000]);
	assert(took >= 2500 && took < 15000, `took ${took} ms`);
	let st = await serverState('pf', 'bad');
	eq([st.state, st.status], ['failed', 'failed']);
	assert(/exit status 3/.test(st.last_error), st.last_error);
	eq(st.last_connected, null);
	eq(st.attempts, 3);
	// While failed, a call fails at once, saying when the next attempt is.
	const t1 = Date.now();
	const again = await restCall('pf', 'bad', 'anything', {});
	assert(Date.now() - t1 < 2000, `took ${Date.now() - t1} ms`);
	assert(/next attempt in \d+ s/.test(again.body.error), JSON.stringify(again.body));
	eq(exits() - n0, 3, 'no attempt for that call');
	// reconnect_interval (6 s) later it is tried again by itself (a
	// long call on the other server keeps the worker from retiring).
	const c = await d.mcp('pf', tok.pf);
	const keep = busy(c, 'ok', 12);
	await until(() => exits() - n0 >= 4, 20000, 'an attempt of its own');
	eq((await keep).r.isError, undefined, 'the other server works meanwhile');
	await c.close();
	st = await serverState('pf', 'bad');
	eq(st.status, 'failed');
	assert(st.restarts >= 3, `restarts ${st.restarts}`);
	await d.ctlOk(['server', 'remove', 'pf', 'bad']);
	await settle();
});

test('a remote server that refuses connections: retried while the call waits, then failed', async () => {
	// A loopback port nothing listens on.
	const net = await import('node:net');
	const srv = net.createServer();
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	const port = srv.address().port;
	await new Promise((r) => srv.close(r));
	await d.ctlOk(['server', 'add', 'pf', 'gone', '--url', `http://127.0.0.1:${port}/mcp`]);
	const tries = () => d.logs.filter((l) => l.msg === 'upstream unreachable' &&
	    l.tenant === 'pf' && l.server === 'gone').length;
	const n0 = tries();
	const t0 = Date.now();
	const rr = await restCall('pf', 'gone', 'echo', { message: 'x' });
	const took = Date.now() - t0;
	assert(rr.status >= 500 && rr.status !== 503, `status ${rr.status}`);
	assert(/connect to .*refused/i.test(rr.body.error), JSON.stringify(rr.body));
	eq(tries() - n0, 3, 'attempts');
	assert(took >= 2500 && took < 15000, `took ${took} ms`);
	const st = await serverState('pf', 'gone');
	eq([st.status, st.attempts], ['failed', 3]);
	eq((await metrics()).used, 0, 'no slot kept by a failed server');
	await d.ctlOk(['server', 'remove', 'pf', 'gone']);
	await settle();
});

test('GET mcp-servers: status, last_error, last_connected, tools, restarts', async () => {
	const c = await d.mcp('pb', tok.pb);
	try {
		let st = await serverState('pb', 'b1');
		eq(st.status, 'idle');
		const tools = (await c.listTools()).tools.filter((t) => t.name.startsWith('b1__'));
		assert(tools.length > 0, 'b1 tools');
		st = await serverState('pb', 'b1');
		eq(st.status, 'connected');
		eq(st.tools, tools.length);
		eq(st.last_error, null);
		assert(typeof st.restarts === 'number', JSON.stringify(st));
		const when = Date.parse(st.last_connected);
		assert(Math.abs(Date.now() - when) < 60000, `last_connected ${st.last_connected}`);
		// Killed under it: it comes back on the next call, a restart.
		const p = servers('pb').find((x) => x.cmd.includes('server-everything'));
		process.kill(p.pid, 'SIGKILL');
		await until(async () => (await serverState('pb', 'b1')).status !== 'connected',
		    10000, 'b1 seen down');
		st = await serverState('pb', 'b1');
		assert(/exited|killed/.test(st.last_error), JSON.stringify(st));
		const { r, e } = await call(c, 'b1__echo', { message: 'back' });
		assert(r && r.content[0].text === 'Echo: back', `after the kill: ${e}`);
		st = await serverState('pb', 'b1');
		eq(st.status, 'connected');
		assert(st.restarts >= 1, `restarts ${st.restarts}`);
	} finally {
		await c.close();
	}
	await until(async () => (await serverState('pb', 'b1')).status === 'idle', 20000, 'idle again');
	await settle();
});

test('after the test no upstream process is left behind', async () => {
	await d.stop();
	const left = [];
	for (let uid = UID_BASE + UID_SHIFT; uid < UID_BASE + UID_SHIFT + 20; uid++)
		left.push(...processesOf(uid));
	eq(left.map((p) => p.cmd), [], 'tenant processes');
});

const failed = await run(import.meta.url);
process.exit(failed ? 1 : 0);
