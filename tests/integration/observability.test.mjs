// observability.test.mjs: the rest of /metrics after real calls through
// real upstreams (scrape, call, scrape), metrics_listen, X-Request-Id,
// request and tool-call log lines, audit rows for an admin session and
// for tool calls (argument values only with audit_arguments = on),
// dataagentctl audit and its filters, retention, the alert rules
// (promtool) and the Grafana dashboard (no metric it queries may be
// unknown).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { Daemon, test, run, assert, eq, until, sleep, EVERYTHING, ROOT, NODE,
    jwt, now } from './lib.mjs';

const d = new Daemon({ workers: 1, uid_base: 72000, config: {
	metrics_listen: '127.0.0.1:0', tool_cache_ttl: 300 } });
await d.start();
const mport = (await until(() => d.logs.find((x) => x.msg === 'listening for metrics'),
    5000, 'the metrics listener')).port;
const tok = await d.tenant('ob', { everything: EVERYTHING,
	broken: ['/nonexistent/mcp-server'] });

// Prometheus text format 0.0.4: samples [{name, labels, value}], types.
function parse(text) {
	const type = {}, help = {}, samples = [];
	for (const line of text.split('\n')) {
		if (line === '')
			continue;
		let m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
		if (m) {
			(m[1] === 'TYPE' ? type : help)[m[2]] = m[3];
			continue;
		}
		m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		assert(m, `not a sample line: ${JSON.stringify(line)}`);
		const labels = {};
		for (const lm of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
			labels[lm[1]] = lm[2];
		samples.push({ name: m[1], labels, value: Number(m[3]) });
	}
	return { text, type, help, samples };
}

async function scrape(base = d.metricsBase) {
	const r = await d.fetch(`${base}/metrics`);
	eq(r.status, 200, 'scrape');
	return parse(await r.text());
}

// Sum of the samples of name whose labels include these.
function val(m, name, labels = {}) {
	return m.samples.filter((s) => s.name === name && Object.entries(labels)
	    .every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

const call = (tool, body, headers = {}) => d.fetch(`/api/v1/users/ob/tools/everything/${tool}`,
    { token: tok, method: 'POST', body, headers });

test('HELP and TYPE for every new family; the limit carries user_id', async () => {
	await call('echo', { message: 'warm' });
	const m = await scrape();
	const want = { mcp_connections_total: 'counter', mcp_connection_duration_seconds: 'histogram',
	    dataagent_worker_starts_total: 'counter', dataagent_auth_failures_total: 'counter',
	    dataagent_http_requests_total: 'counter', dataagent_upstream_restarts_total: 'counter',
	    dataagent_tenant_http_requests_total: 'counter', dataagent_tenant_cache_requests_total: 'counter',
	    dataagent_store_duration_seconds: 'histogram', dataagent_worker_log_lines_dropped_total: 'counter',
	    dataagent_audit_rows_dropped_total: 'counter', dataagent_store_requests_refused_total: 'counter' };
	for (const [n, t] of Object.entries(want)) {
		eq(m.type[n], t, `TYPE ${n}`);
		assert(m.help[n], `HELP ${n}`);
	}
	eq(val(m, 'dataagent_tenant_max_connections', { user_id: 'ob' }), 10);
	assert(m.samples.some((s) => s.name === 'mcp_connections_active' && s.labels.user_id === 'ob'),
	    'mcp_connections_active{user_id="ob"} beside it');
	assert(val(m, 'dataagent_worker_starts_total') >= 2, 'a spare and its replacement');
});

// Counts a worker has not sent yet (it sends once a second) must not
// land after the first scrape of a scrape-call-scrape.
const settle = () => sleep(1300);

test('tool calls move HTTP, connection, cache and store series exactly', async () => {
	await settle();
	const before = await scrape();
	for (let i = 0; i < 3; i++)
		eq((await call('echo', { message: `n${i}` })).status, 200);
	eq((await d.fetch('/api/v1/users/ob/tools', { token: tok })).status, 200);
	eq((await d.fetch('/api/v1/users/ob/tools', { token: tok })).status, 200);
	eq((await d.fetch('/health')).status, 200);
	let m;
	await until(async () => {
		m = await scrape();
		return val(m, 'dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tool_call', code: '200' }) -
		    val(before, 'dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tool_call', code: '200' }) === 3 &&
		    val(m, 'dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tools', code: '200' }) -
		    val(before, 'dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tools', code: '200' }) === 2;
	}, 5000, 'the worker\'s counters');
	await sleep(1200);	// no later batch may add to them
	m = await scrape();
	const delta = (name, l) => val(m, name, l) - val(before, name, l);
	eq(delta('dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tool_call', code: '200' }), 3,
	    'tool_call 200');
	eq(delta('dataagent_tenant_http_requests_total', { user_id: 'ob', route: 'tools', code: '200' }), 2, 'tools 200');
	eq(delta('dataagent_http_requests_total', { route: 'health', code: '200' }), 1, 'health 200 (supervisor)');
	// What a worker reports is its tenant's, never the host's own series.
	eq(delta('dataagent_http_requests_total', { route: 'tool_call', code: '200' }), 0, 'no worker count host-wide');
	// 2 listings × 2 servers: the broken one never caches, everything
	// was cached by the first listing or the warm-up call.
	assert(delta('dataagent_tenant_cache_requests_total', { user_id: 'ob', result: 'hit' }) >= 1, 'a cache hit');
	assert(delta('dataagent_tenant_cache_requests_total', { user_id: 'ob', result: 'miss' }) >= 2,
	    'the broken server misses');
	eq(val(m, 'mcp_connections_total', { user_id: 'ob', server_name: 'everything', status: 'success' }), 1,
	    'one connection to everything');
	assert(val(m, 'mcp_connections_total', { user_id: 'ob', server_name: 'broken', status: 'failed' }) >= 1,
	    'the broken server failed to connect');
	eq(val(m, 'mcp_connections_total', { user_id: 'ob', server_name: 'broken', status: 'success' }), 0);
	assert(val(m, 'dataagent_store_duration_seconds_count') > 10, 'store statements timed');
	assert(val(m, 'dataagent_store_duration_seconds_bucket', { le: '+Inf' }) ===
	    val(m, 'dataagent_store_duration_seconds_count'), '+Inf = count');
});

test('an upstream killed: one restart, one connection lifetime observed', async () => {
	const servers = await (await d.fetch('/api/v1/users/ob/mcp-servers', { token: tok })).json();
	const list = Array.isArray(servers) ? servers : servers.servers;
	const ev = list.find((s) => s.name === 'everything');
	assert(ev && ev.pid > 0, `everything runs: ${JSON.stringify(ev)}`);
	await settle();
	const before = await scrape();
	const l = { user_id: 'ob', server_name: 'everything' };
	process.kill(ev.pid, 'SIGKILL');
	await until(async () => {
		const s = await (await d.fetch('/api/v1/users/ob/mcp-servers', { token: tok })).json();
		return (Array.isArray(s) ? s : s.servers).find((x) => x.name === 'everything').pid !== ev.pid;
	}, 5000, 'the exit to be seen');
	await until(async () => (await call('echo', { message: 'again' })).status === 200, 15000,
	    'the server back');
	let m;
	await until(async () => {
		// The worker's counters reach the supervisor in batches: wait
		// for the restart and the new connection alike.
		m = await scrape();
		return val(m, 'dataagent_upstream_restarts_total', l) -
		    val(before, 'dataagent_upstream_restarts_total', l) === 1 &&
		    val(m, 'mcp_connections_total', { ...l, status: 'success' }) -
		    val(before, 'mcp_connections_total', { ...l, status: 'success' }) >= 1;
	}, 5000, 'the restart and the reconnection counted');
	eq(val(m, 'mcp_connection_duration_seconds_count', l) -
	    val(before, 'mcp_connection_duration_seconds_count', l), 1, 'one lifetime');
	eq(val(m, 'mcp_connection_duration_seconds_bucket', { ...l, le: '+Inf' }),
	    val(m, 'mcp_connection_duration_seconds_count', l), '+Inf = count');
	eq(val(m, 'mcp_connections_total', { ...l, status: 'success' }) -
	    val(before, 'mcp_connections_total', { ...l, status: 'success' }), 1, 'reconnected once');
});

test('authentication failures are counted by reason', async () => {
	const before = await scrape();
	await d.fetch('/api/v1/users/ob/tools');
	await d.fetch('/api/v1/users/ob/tools', { token: jwt({ sub: 'ob', exp: now() + 60 },
	    { key: 'another-key-that-is-long-enough-0123456789' }) });
	await d.fetch('/api/v1/users/ob/tools', { token: jwt({ sub: 'ob', exp: now() - 3600 }) });
	await d.fetch('/api/v1/users/other/tools', { token: tok });
	await d.fetch('/api/v1/users/ghost/tools', { token: jwt({ sub: 'ghost', exp: now() + 60 }) });
	const m = await scrape();
	const delta = (reason) => val(m, 'dataagent_auth_failures_total', { reason }) -
	    val(before, 'dataagent_auth_failures_total', { reason });
	eq(['missing_token', 'signature', 'expired', 'wrong_tenant', 'unknown_tenant'].map(delta),
	    [1, 1, 1, 1, 1], 'by reason');
	eq(val(m, 'dataagent_http_requests_total', { route: 'tools', code: '401' }) -
	    val(before, 'dataagent_http_requests_total', { route: 'tools', code: '401' }), 3, '401s');
	eq(val(m, 'dataagent_http_requests_total', { route: 'tools', code: '403' }) -
	    val(before, 'dataagent_http_requests_total', { route: 'tools', code: '403' }), 2, '403s');
});

test('promtool check metrics accepts a scrape with every family', async () => {
	const which = spawnSync('sh', ['-c', 'command -v promtool']);
	if (which.status !== 0)
		return { skip: 'promtool is not installed (Debian package prometheus; make deps)' };
	const { text } = await scrape();
	const r = spawnSync('promtool', ['check', 'metrics'], { input: text });
	eq(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
	eq(`${r.stdout}${r.stderr}`.trim(), '', 'no lint findings');
});

test('metrics_listen serves /metrics and /health to anyone, nothing else', async () => {
	const mbase = `http://127.0.0.1:${mport}`;
	const m = await scrape(mbase);
	assert(m.samples.some((s) => s.name === 'dataagent_build_info'), 'a whole scrape');
	eq((await d.fetch(`${mbase}/health`)).status, 200);
	eq((await d.fetch(`${mbase}/health/detailed`)).status, 200);
	eq((await d.fetch(`${mbase}/api/v1/users/ob/tools`, { token: tok })).status, 404,
	    'no API on the metrics port, even with a token');
	eq((await d.fetch(`${mbase}/metrics`, { method: 'POST', body: {} })).status, 405);
	const st = JSON.parse(await d.ctlOk(['--json', 'status']));
	assert(st, 'the daemon still answers');
});

test('X-Request-Id: a valid one is echoed, others replaced, none generated', async () => {
	const mine = 'req-1234.abc:XYZ_9';
	let r = await call('echo', { message: 'rid' }, { 'X-Request-Id': mine });
	eq(r.status, 200);
	eq(r.headers.get('x-request-id'), mine, 'worker echo');
	r = await d.fetch('/health', { headers: { 'X-Request-Id': mine } });
	eq(r.headers.get('x-request-id'), mine, 'supervisor echo');
	r = await d.fetch('/api/v1/users/ob/tools', { headers: { 'X-Request-Id': mine } });
	eq([r.status, r.headers.get('x-request-id')], [401, mine], 'on a refusal too');
	for (const bad of ['has space', 'x'.repeat(65), 'quote"d', 'semi;colon']) {
		r = await call('echo', { message: 'rid' }, { 'X-Request-Id': bad });
		assert(/^[0-9a-f]{32}$/.test(r.headers.get('x-request-id')),
		    `${bad} replaced: ${r.headers.get('x-request-id')}`);
		r = await d.fetch('/health', { headers: { 'X-Request-Id': bad } });
		assert(/^[0-9a-f]{32}$/.test(r.headers.get('x-request-id')), `${bad} (supervisor)`);
	}
	const a = (await call('echo', { message: 'a' })).headers.get('x-request-id');
	const b = (await call('echo', { message: 'b' })).headers.get('x-request-id');
	assert(/^[0-9a-f]{32}$/.test(a) && a !== b, `generated ${a} ${b}`);
});

test('log lines of requests and tool calls carry the fields', async () => {
	const rid = 'log-check-42';
	eq((await call('echo', { message: 'logged' }, { 'X-Request-Id': rid })).status, 200);
	const tc = await until(() => d.logs.find((x) => x.msg === 'tool call' && x.request_id === rid),
	    5000, 'the tool call line');
	eq([tc.tenant, tc.server, tc.tool, tc.status, typeof tc.duration_ms, tc.proc],
	    ['ob', 'everything', 'echo', 'success', 'number', 'worker']);
	const rq = await until(() => d.logs.find((x) => x.msg === 'request' && x.request_id === rid),
	    5000, 'the request line');
	eq([rq.tenant, rq.route, rq.status, typeof rq.duration_ms], ['ob', 'tool_call', 200, 'number']);
	assert(!JSON.stringify(tc).includes('logged'), 'no argument values in the log');
	eq([tc.level, rq.level], ['debug', 'debug'], 'one line per call only at debug');
});

test('at info, a "requests" line a second sums what the tenant answered', async () => {
	const from = d.logs.length;
	for (const m of ['s1', 's2', 's3'])
		eq((await call('echo', { message: m })).status, 200);
	const r = await call('not-a-tool', {});
	eq(r.status, 404);
	const sum = (k) => d.logs.slice(from).filter((x) => x.msg === 'requests' &&
	    x.tenant === 'ob').reduce((n, x) => n + x[k], 0);
	await until(() => sum('requests') >= 4 && sum('tool_calls') >= 3 &&
	    sum('client_errors') >= 1, 5000, 'requests lines summing the calls');
	const l = d.logs.slice(from).find((x) => x.msg === 'requests');
	eq([l.level, l.proc, typeof l.duration_ms_mean, typeof l.duration_ms_max,
	    typeof l.server_errors, typeof l.tool_call_errors],
	    ['info', 'worker', 'number', 'number', 'number', 'number']);
});

const audit = async (args) => JSON.parse(await d.ctlOk(['--json', 'audit', ...args]));

test('an admin session leaves one audit row per change, with the peer uid', async () => {
	const t0 = now();
	await d.ctlOk(['tenant', 'add', 'adm']);
	await d.ctlOk(['server', 'add', 'adm', 'mem', '--env', 'K=v', '--', NODE, '/nonexistent.js']);
	await d.ctlOk(['secret', 'set', 'adm', 'API_KEY'], 'super-secret-value');
	await d.ctlOk(['token', 'issue', 'adm', '--ttl', '5m']);
	await d.ctlOk(['tenant', 'set-limits', 'adm', 'pids_max=100']);
	await d.ctlOk(['tenant', 'disable', 'adm']);
	await d.ctlOk(['tenant', 'enable', 'adm']);
	await d.ctlOk(['secret', 'rm', 'adm', 'API_KEY']);
	await d.ctlOk(['server', 'remove', 'adm', 'mem']);
	await d.ctlOk(['tenant', 'list']);	// reads are not audited
	const rows = await audit(['--tenant', 'adm']);
	eq(rows.map((r) => r.action).reverse(), ['tenant.add', 'server.add', 'secret.set',
	    'token.issue', 'tenant.set-limits', 'tenant.disable', 'tenant.enable',
	    'secret.remove', 'server.remove'], 'actions in order');
	for (const r of rows) {
		eq([r.actor, r.tenant], ['control', 'adm']);
		const dt = JSON.parse(r.detail);
		eq(dt.peer_uid, 0, `${r.action} peer uid`);
		assert(dt.peer_pid > 0, `${r.action} peer pid`);
		assert(r.ts >= t0 - 1, 'ts');
	}
	assert(!JSON.stringify(rows).includes('super-secret-value'), 'no secret value');
	assert(!JSON.stringify(rows).includes('"v"'), 'no env value');
	// the human table
	const table = await d.ctlOk(['audit', '--tenant', 'adm', '--limit', '3']);
	const lines = table.trim().split('\n');
	eq(lines.length, 4, table);
	assert(/^TIME\s+ACTOR\s+TENANT\s+ACTION/.test(lines[0]), lines[0]);
	assert(/control\s+adm\s+server\.remove/.test(lines[1]), lines[1]);
});

test('tool calls are audited with their fields; no argument values by default', async () => {
	const rid = 'audit-rid-7';
	eq((await call('echo', { message: 'private-words' }, { 'X-Request-Id': rid })).status, 200);
	const c = await d.mcp('ob', tok);
	await c.callTool({ name: 'everything__echo', arguments: { message: 'sdk-words' } });
	await c.close();
	let rows;
	await until(async () => {
		rows = (await audit(['--tenant', 'ob', '--limit', '50'])).filter((r) => r.action === 'tool.call');
		return rows.some((r) => r.request_id === rid) && rows.some((r) => r.request_id !== rid &&
		    r.tool === 'echo' && r.arg_bytes === JSON.stringify({ message: 'sdk-words' }).length);
	}, 5000, 'the audit rows');
	const r = rows.find((x) => x.request_id === rid);
	eq([r.actor, r.tenant, r.server, r.tool, r.status, r.detail],
	    ['worker', 'ob', 'everything', 'echo', 'success', null]);
	eq(r.arg_bytes, JSON.stringify({ message: 'private-words' }).length, 'argument size');
	assert(r.duration_ms >= 0 && r.duration_ms < 30000, `duration ${r.duration_ms}`);
	assert(!JSON.stringify(rows).includes('private-words') &&
	    !JSON.stringify(rows).includes('sdk-words'), 'no values');
	const errs = (await audit(['--tenant', 'ob'])).filter((x) => x.tool === 'no-such-tool');
	eq(errs.length, 0);
	await call('no-such-tool', {});
	await until(async () => (await audit(['--tenant', 'ob'])).some((x) =>
	    x.tool === 'no-such-tool' && x.status === 'error'), 5000, 'an error row');
});

test('dataagentctl audit --json filters by tenant, time and count', async () => {
	const all = await audit(['--limit', '10000']);
	assert(all.some((r) => r.tenant === 'ob') && all.some((r) => r.tenant === 'adm'), 'both');
	for (let i = 1; i < all.length; i++)
		assert(all[i - 1].id > all[i].id, 'newest first');
	const ob = await audit(['--tenant', 'ob', '--limit', '10000']);
	assert(ob.length > 0 && ob.every((r) => r.tenant === 'ob'), '--tenant');
	eq((await audit(['--limit', '2'])).length, 2, '--limit');
	eq((await audit(['--since', '@' + (now() + 3600)])).length, 0, '--since the future');
	eq((await audit(['--since', '1h', '--limit', '10000'])).length, all.length, '--since 1h');
	const day = new Date().toISOString().slice(0, 10);
	eq((await audit(['--since', day, '--limit', '10000'])).length, all.length, '--since a date');
	const bad = await d.ctl(['audit', '--since', 'yesterday-ish']);
	eq(bad.code, 2, bad.stderr);
	const bad2 = await d.ctl(['audit', '--limit', '0']);
	eq(bad2.code, 2, bad2.stderr);
	const bad3 = await d.ctl(['audit', '--tenant', '../x']);
	eq(bad3.code, 1, bad3.stderr);
});

test('dataagentctl audit: its --help, and bash completion of the word and its options', async () => {
	const h = await d.ctl(['audit', '--help']);
	eq(h.code, 0);
	assert(h.stdout.includes('  audit [--tenant T] [--since TIME] [--limit N]') &&
	    !h.stdout.includes('  tenant add'), h.stdout);
	const complete = (words) => {
		const script = `source ${ROOT}/packaging/bash-completion/dataagentctl
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_dataagentctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
		return execFileSync('bash', ['-c', script], { env: { PATH:
		    `${path.join(ROOT, process.env.BUILD || 'build')}:${process.env.PATH}` } })
		    .toString().split('\n').filter(Boolean).sort();
	};
	eq(complete(['dataagentctl', 'au']), ['audit']);
	eq(complete(['dataagentctl', 'audit', '--s']), ['--since', '--socket']);
	eq(complete(['dataagentctl', '-s', d.sock, 'audit', '--tenant', 'o']), ['ob']);
});

test('retention: rows older than audit_retention go on reload, newer stay', async () => {
	const db = path.join(d.state, 'dataagent.db');
	const old = now() - 91 * 86400, recent = now() - 89 * 86400;
	execFileSync('sqlite3', [db, '.timeout 5000',
	    `INSERT INTO audit (ts, actor, action, tenant) VALUES (${old}, 'control', 'old.row', 'ob'), ` +
	    `(${recent}, 'control', 'recent.row', 'ob')`]);
	let rows = await audit(['--tenant', 'ob', '--limit', '10000']);
	eq(['old.row', 'recent.row'].map((a) => rows.some((r) => r.action === a)), [true, true]);
	await d.ctlOk(['reload']);
	await until(() => d.logs.find((x) => x.msg === 'audit rows pruned'), 5000, 'the prune');
	rows = await audit(['--tenant', 'ob', '--limit', '10000']);
	eq(['old.row', 'recent.row'].map((a) => rows.some((r) => r.action === a)), [false, true]);
});

test('audit_arguments = on: argument values in the row, bounded', async () => {
	const d2 = new Daemon({ workers: 1, uid_base: 72500, config: { audit_arguments: 'on' } });
	try {
		await d2.start();
		const t2 = await d2.tenant('arg', { everything: EVERYTHING });
		const p = (body, rid) => d2.fetch('/api/v1/users/arg/tools/everything/echo',
		    { token: t2, method: 'POST', body, headers: { 'X-Request-Id': rid } });
		eq((await p({ message: 'visible-words' }, 'with-args')).status, 200);
		eq((await p({ message: 'y'.repeat(5000) }, 'too-long')).status, 200);
		let rows;
		await until(async () => {
			rows = JSON.parse(await d2.ctlOk(['--json', 'audit', '--tenant', 'arg']));
			return rows.some((r) => r.request_id === 'with-args') &&
			    rows.some((r) => r.request_id === 'too-long');
		}, 5000, 'the rows');
		const r = rows.find((x) => x.request_id === 'with-args');
		eq(JSON.parse(r.detail), { arguments: { message: 'visible-words' } });
		const long = rows.find((x) => x.request_id === 'too-long');
		eq([long.detail, long.arg_bytes > 5000], [null, true], 'over 4096 bytes: size only');
	} finally {
		await d2.stop();
	}
});

test('alert rules: promtool check rules and test rules', async () => {
	const which = spawnSync('sh', ['-c', 'command -v promtool']);
	if (which.status !== 0)
		return { skip: 'promtool is not installed (Debian package prometheus; make deps)' };
	const dir = path.join(ROOT, 'packaging', 'prometheus');
	let r = spawnSync('promtool', ['check', 'rules', 'dataagent-alerts.yml'], { cwd: dir });
	eq(r.status, 0, `check rules: ${r.stdout}${r.stderr}`);
	// every rule of the file was read
	const nrules = (fs.readFileSync(path.join(dir, 'dataagent-alerts.yml'), 'utf8')
	    .match(/^\s*- (alert|record): /gm) || []).length;
	assert(nrules >= 9 && new RegExp(`SUCCESS: ${nrules} rules found`).test(r.stdout),
	    String(r.stdout));
	r = spawnSync('promtool', ['test', 'rules', 'dataagent-alerts.test.yml'], { cwd: dir });
	eq(r.status, 0, `test rules: ${r.stdout}${r.stderr}`);
	// every alert has a case that fires and one that does not
	const rules = fs.readFileSync(path.join(dir, 'dataagent-alerts.yml'), 'utf8');
	const tests = fs.readFileSync(path.join(dir, 'dataagent-alerts.test.yml'), 'utf8');
	for (const name of [...rules.matchAll(/- alert: (\S+)/g)].map((x) => x[1])) {
		const blocks = tests.split(/\n\s+- eval_time:/).filter((b) =>
		    new RegExp(`alertname: ${name}\\n`).test(b));
		assert(blocks.some((b) => /exp_alerts: \[\]/.test(b)), `${name}: a case that does not fire`);
		assert(blocks.some((b) => /exp_labels:/.test(b)), `${name}: a case that fires`);
	}
	// the limit alert divides two series with the same labels
	const m = await scrape();
	const keys = (n) => [...new Set(m.samples.filter((s) => s.name === n)
	    .map((s) => Object.keys(s.labels).sort().join(',')))];
	eq(keys('mcp_connections_active'), ['user_id']);
	eq(keys('dataagent_tenant_max_connections'), ['user_id']);
});

test('the Grafana dashboard is valid and queries only known metrics', async () => {
	const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'packaging', 'grafana',
	    'dataagent.json'), 'utf8'));
	assert(typeof dash.title === 'string' && dash.uid && Number.isInteger(dash.schemaVersion),
	    'title, uid, schemaVersion');
	const vars = dash.templating.list;
	const dsv = vars.find((v) => v.type === 'datasource');
	eq([dsv && dsv.query, dsv && dsv.name], ['prometheus', 'datasource'], 'a Prometheus datasource variable');
	const ids = new Set();
	const exprs = [];
	for (const p of dash.panels) {
		assert(Number.isInteger(p.id) && !ids.has(p.id), `panel id ${p.id}`);
		ids.add(p.id);
		const g = p.gridPos;
		assert(g && g.w > 0 && g.h > 0 && g.x + g.w <= 24, `gridPos of ${p.title}`);
		if (p.type === 'row')
			continue;
		assert(['timeseries', 'stat'].includes(p.type), p.type);
		eq(p.datasource.uid, '${datasource}', `${p.title} uses the variable`);
		assert(p.targets.length > 0, p.title);
		for (const t of p.targets) {
			eq(t.datasource.uid, '${datasource}');
			exprs.push(t.expr);
		}
	}
	for (const v of vars.filter((x) => x.type === 'query'))
		exprs.push(v.definition);
	// Metric names: identifiers not followed by "(" that are not PromQL
	// keywords, label names or template variables.
	const words = new Set();
	for (const e of exprs) {
		const bare = e.replace(/\{[^}]*\}/g, '{}').replace(/"[^"]*"/g, '""')
		    .replace(/\[[^\]]*\]/g, '[]').replace(/\$\w+/g, '')
		    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '')
		    .replace(/label_values\(([^,]+),[^)]*\)/g, '$1');
		for (const w of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
			const next = bare.slice(w.index + w[0].length).trimStart()[0];
			if (next !== '(' && !/^(by|on|without|ignoring)$/.test(w[0]))
				words.add(w[0]);
		}
	}
	const m = await scrape();
	const scraped = new Set(m.samples.map((s) => s.name));
	const man = fs.readFileSync(path.join(ROOT, 'man', 'dataagentd.8'), 'utf8');
	const metricsSection = man.slice(man.indexOf('.Sh METRICS'), man.indexOf('.Sh SIGNALS'));
	const documented = new Set([...metricsSection.matchAll(/^\.It Li ([a-z_:]+)/gm)].map((x) => x[1]));
	const base = (n) => n.replace(/_(bucket|sum|count)$/, '');
	const unknown = [...words].filter((w) => !scraped.has(w) && !documented.has(w) &&
	    !documented.has(base(w)));
	eq(unknown, [], 'metrics the dashboard queries that dataagentd does not export');
	assert(words.size >= 18, `the dashboard covers the series (${[...words].join(' ')})`);
	// and the other way round: every documented family is on the dashboard
	const missing = [...documented].filter((n) => ![...words].some((w) => base(w) === n));
	eq(missing, [], 'documented families without a panel');
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
