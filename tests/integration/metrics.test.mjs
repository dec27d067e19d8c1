// metrics.test.mjs: GET /metrics after real tool calls. One dataagentd
// listening on every address (so a non-loopback client can be tried),
// one tenant with server-everything; calls over REST and the SDK, then
// the scrape must count exactly those calls.
import { Daemon, test, run, assert, eq, until, sleep, EVERYTHING, cgroupsOff } from './lib.mjs';

const METRICS_TOKEN = 'scrape-' + 'm'.repeat(40);
const d = new Daemon({ workers: 1, uid_base: 63500, config: { metrics_token: METRICS_TOKEN } });
await d.start();
const tok = await d.tenant('mt', { everything: EVERYTHING });

// Prometheus text format 0.0.4 into { help, type, samples: [{name, labels, value}] }.
function parse(text) {
	const help = {}, type = {}, samples = [];
	for (const line of text.split('\n')) {
		if (line === '')
			continue;
		let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
		if (m) {
			(m[1] === 'HELP' ? help : type)[m[2]] = m[3];
			continue;
		}
		m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		assert(m, `not a sample line: ${JSON.stringify(line)}`);
		const labels = {};
		const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)",?/gy;
		let lm, end = 0;
		while (m[2] !== undefined && (lm = re.exec(m[2])) !== null) {
			labels[lm[1]] = lm[2].replace(/\\(["\\n])/g,
			    (_, c) => (c === 'n' ? '\n' : c));
			end = re.lastIndex;
		}
		assert(m[2] === undefined || end === m[2].length, `bad labels: ${line}`);
		samples.push({ name: m[1], labels, value: Number(m[3]) });
	}
	return { help, type, samples };
}

async function scrape() {
	const r = await d.metrics();
	eq(r.status, 200, 'scrape status');
	const text = await r.text();
	return { text, ctype: r.headers.get('content-type'), ...parse(text) };
}

// The value of the one sample with exactly these labels (among others).
function value(m, name, labels) {
	const hits = m.samples.filter((s) => s.name === name &&
	    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
	assert(hits.length <= 1, `${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
	return hits.length ? hits[0].value : undefined;
}

const calls = (tool, body) => d.fetch(`/api/v1/users/mt/tools/everything/${tool}`,
    { token: tok, method: 'POST', body });
const execs = (m, tool, status) => value(m, 'mcp_tool_executions_total',
    { user_id: 'mt', server_name: 'everything', tool_name: tool, status });

test('a scrape has HELP and TYPE for every family and the right content type', async () => {
	const m = await scrape();
	eq(m.ctype, 'text/plain; version=0.0.4; charset=utf-8');
	const want = { mcp_connections_active: 'gauge', mcp_tool_executions_total: 'counter',
	    mcp_tool_duration_seconds: 'histogram', dataagent_workers: 'gauge',
	    dataagent_worker_deaths_total: 'counter', dataagent_handoffs_total: 'counter',
	    dataagent_tenant_max_connections: 'gauge', dataagent_build_info: 'gauge' };
	for (const [n, t] of Object.entries(want)) {
		eq(m.type[n], t, `TYPE of ${n}`);
		assert(m.help[n], `HELP of ${n}`);
	}
	const version = JSON.parse(await d.ctlOk(['--json', 'status'])).version;
	eq(value(m, 'dataagent_build_info', { version }), 1, 'build_info');
	// per tenant with a worker, labelled like mcp_connections_active
	assert(m.samples.filter((x) => x.name === 'dataagent_tenant_max_connections')
	    .every((x) => Object.keys(x.labels).join() === 'user_id'), 'limit labels');
	for (const cause of ['clean', 'exit', 'signal', 'seccomp', 'oom', 'killed'])
		assert(typeof value(m, 'dataagent_worker_deaths_total', { cause }) === 'number', cause);
	assert(value(m, 'dataagent_workers', { state: 'spare' }) >= 0, 'workers by state');
	eq(execs(m, 'echo', 'success'), undefined, 'no calls yet');
});

test('tool calls are counted exactly: success, error, histogram', async () => {
	for (let i = 0; i < 3; i++) {
		const r = await calls('echo', { message: `m${i}` });
		eq(r.status, 200, 'echo over REST');
	}
	const c = await d.mcp('mt', tok);
	const e = await c.callTool({ name: 'everything__echo', arguments: { message: 'sdk' } });
	eq(e.content[0].text, 'Echo: sdk');
	await c.close();
	for (let i = 0; i < 2; i++) {
		const r = await calls('no-such-tool', {});
		assert(r.status !== 200 || (await r.json()).result?.isError, `unknown tool: ${r.status}`);
	}
	let m;
	await until(async () => {
		m = await scrape();
		return execs(m, 'echo', 'success') === 4 && execs(m, 'no-such-tool', 'error') === 2;
	}, 5000, 'the worker\'s batch');
	await sleep(1500);	// a later batch must not add anything
	m = await scrape();
	eq([execs(m, 'echo', 'success'), execs(m, 'echo', 'error'),
	    execs(m, 'no-such-tool', 'success'), execs(m, 'no-such-tool', 'error')],
	    [4, 0, 0, 2], 'echo ok/err, unknown ok/err');
	for (const [tool, n] of [['echo', 4], ['no-such-tool', 2]]) {
		const l = { user_id: 'mt', server_name: 'everything', tool_name: tool };
		eq(value(m, 'mcp_tool_duration_seconds_count', l), n, `${tool} _count`);
		const sum = value(m, 'mcp_tool_duration_seconds_sum', l);
		assert(sum >= 0 && sum < 60, `${tool} _sum ${sum}`);
		const les = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1',
		    '2.5', '5', '10', '30', '+Inf'];
		let prev = 0;
		for (const le of les) {
			const b = value(m, 'mcp_tool_duration_seconds_bucket', { ...l, le });
			assert(b >= prev, `${tool} bucket ${le} = ${b} < ${prev}`);
			prev = b;
		}
		eq(prev, n, `${tool} +Inf bucket`);
	}
	assert(value(m, 'dataagent_handoffs_total', {}) >= 6, 'handoffs');
	assert(value(m, 'dataagent_workers', { state: 'active' }) >= 1, 'an active worker');
	assert(typeof value(m, 'mcp_connections_active', { user_id: 'mt' }) === 'number',
	    'mcp_connections_active for the tenant');
	eq(value(m, 'dataagent_tenant_max_connections', { user_id: 'mt' }), 10,
	    'max connections default, for the tenant');
});

test('a tool name that cannot be a label value is counted as "other"', async () => {
	// The worker passes the decoded name upstream, which refuses it; the
	// supervisor must not render a quote, a backslash or a newline.
	for (const name of ['bad%22quote', 'bad%5Cslash', 'bad%0Aline'])
		await calls(name, {});
	let m;
	await until(async () => {
		m = await scrape();
		return execs(m, 'other', 'error') === 3;
	}, 5000, 'the "other" series');
	assert(!m.samples.some((s) => /bad/.test(s.labels.tool_name || '')), 'no raw names');
});

test('a tenant has at most 200 tool series; the rest count as "other"', async () => {
	// 3 series so far (echo, no-such-tool, other): 197 more fill the cap.
	const N = 210;
	for (let i = 0; i < N; i += 15)
		await Promise.all(Array.from({ length: Math.min(15, N - i) },
		    (_, j) => calls(`cap-${i + j}`, {})));
	let m;
	await until(async () => {
		m = await scrape();
		return execs(m, 'other', 'error') === 3 + N - 197;
	}, 10000, 'the capped series');
	const tools = new Set(m.samples.filter((s) => s.name === 'mcp_tool_executions_total' &&
	    s.labels.user_id === 'mt').map((s) => s.labels.tool_name));
	eq(tools.size, 200, 'distinct tool_name values');
	const capped = m.samples.filter((s) => s.name === 'mcp_tool_executions_total' &&
	    /^cap-/.test(s.labels.tool_name) && s.labels.status === 'error');
	eq([capped.length, capped.reduce((a, s) => a + s.value, 0)], [197, 197],
	    'the first 197 have their own series');
	assert(m.text.length > 200000, `a long answer is written whole (${m.text.length} bytes)`);
});

// promtool check metrics on a full scrape: observability.test.mjs.

test("the tenant's cgroup usage: memory, pids, OOM kills", async () => {
	const health = await (await d.fetch('/health/detailed')).json();
	if (health.cgroups === 'off')
		return cgroupsOff();
	eq((await calls('echo', { message: 'usage' })).status, 200);
	const m = await scrape();
	const mem = value(m, 'dataagent_tenant_memory_bytes', { user_id: 'mt' });
	const pids = value(m, 'dataagent_tenant_pids', { user_id: 'mt' });
	// a worker, its launcher and node: some memory, a few tasks at least
	assert(mem > 1024 * 1024, `memory ${mem}`);
	assert(pids >= 3, `pids ${pids}`);
	eq(value(m, 'dataagent_tenant_oom_kills_total', { user_id: 'mt' }), 0);
	eq(m.type.dataagent_tenant_memory_bytes, 'gauge');
});

test('POST /metrics is 405', async () => {
	const r = await d.metrics({ method: 'POST', body: {} });
	eq(r.status, 405, 'POST /metrics');
});

// A tenant's server may be a loopback peer of the gateway (tenant_network
// = host), so loopback opens nothing: the main port takes metrics_token.
test('the gateway\'s own port: /metrics is 404 to a loopback client, 200 only with metrics_token', async () => {
	const notFound = { status: 404, body: { error: 'not found' } };
	const got = async (headers) => {
		const r = await d.fetch('/metrics', { headers });
		return r.status === 200 ? { status: 200, text: await r.text() } :
		    { status: r.status, body: await r.json() };
	};
	eq(await got({}), notFound, 'no credential');
	eq(await got({ Authorization: `Bearer ${METRICS_TOKEN}x` }), notFound, 'a longer token');
	eq(await got({ Authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` }), notFound, 'a shorter token');
	eq(await got({ Authorization: `Bearer ${tok}` }), notFound, 'a tenant\'s token');
	const ok = await got({ Authorization: `Bearer ${METRICS_TOKEN}` });
	eq(ok.status, 200);
	assert(/^dataagent_build_info\{/m.test(ok.text), 'not a scrape');
	const r = await d.fetch('/metrics', { method: 'POST', body: {},
	    headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
	eq(r.status, 405, 'POST with the token');
});

test('without metrics_token the gateway\'s port never serves /metrics', async () => {
	const d2 = new Daemon({ workers: 0, uid_base: 63600, config: { metrics_listen: null } });
	await d2.start();
	try {
		for (const headers of [{}, { Authorization: 'Bearer ' }, { Authorization: `Bearer ${METRICS_TOKEN}` }]) {
			const r = await d2.fetch('/metrics', { headers });
			eq([r.status, await r.json()], [404, { error: 'not found' }], JSON.stringify(headers));
		}
	} finally {
		await d2.stop();
	}
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
