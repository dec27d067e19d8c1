// badworker.test.mjs: a compromised worker. The daemon runs
// tests/probe/badworker as its worker; each tenant's name makes it break
// the IPC protocol one way. The supervisor must kill that worker, log why
// and keep serving.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, BUILD } from './lib.mjs';

const d = new Daemon({ workers: 1, uid_base: 68000 });
// The worker binary is set after the temporary directory exists.
// Bounds small enough for the floods below to meet each of them.
d.opts.config = { worker_path: '/nonexistent', worker_log_rate: 10, worker_log_burst: 50,
    tenant_store_rate: 5, tenant_store_burst: 20, tenant_max_servers: 10, tenant_max_secrets: 5,
    secret_max_size: 1024, tenant_audit_rate: 100, tenant_audit_queue: 150 };
const dirHook = d.start.bind(d);
d.start = async () => {
	const tmp = fs.mkdtempSync('/tmp/dataagent-badworker-');
	fs.chmodSync(tmp, 0o755);
	const bin = path.join(tmp, 'badworker');
	fs.copyFileSync(path.join(BUILD, 'tests', 'badworker'), bin);
	fs.chmodSync(bin, 0o755);
	d.opts.config.worker_path = bin;
	d.tmpBin = tmp;
	return dirHook();
};
await d.start();

async function misbehave(name) {
	await d.ctlOk(['tenant', 'add', name]);
	const tok = (await d.ctlOk(['token', 'issue', name])).trim();
	const r = await d.raw(`GET /api/v1/users/${name}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 10000 });
	const v = await until(() => d.logs.find((l) => l.msg.startsWith('protocol violation') &&
	    l.tenant === name), 10000, `a protocol violation logged for ${name}`);
	const pid = v.worker_pid;
	const died = await until(() => d.logs.find((l) => l.worker_pid === pid &&
	    (l.msg === 'worker died' || l.msg === 'worker exited')), 10000,
	    `worker ${pid} to be gone`);
	eq([died.msg, died.cause], ['worker died', 'killed'], JSON.stringify(died));
	assert(!fs.existsSync(`/proc/${pid}/status`) ||
	    / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')), `worker ${pid} still runs`);
	assert(r.status === 503 || r.status === 0, `client got ${r.status}`);
	const h = await d.fetch('/health');
	eq(h.status, 200, 'the supervisor still answers');
	return v;
}

for (const [name, what] of [
	['badlen', 'a header longer than the maximum'],
	['badtype', 'a message type no worker may send'],
	['badjson', 'a payload that is not JSON'],
	['fdpass', 'an fd with a message that carries none'],
	['othertenant', "an ack for another tenant's id"],
	['flood', '50000 messages, then a bad one'],
	['ratehog', 'a request for a billion rate tokens'],
]) {
	test(`compromised worker sends ${what}: killed, logged, supervisor serves on`, async () => {
		await misbehave(name);
	});
}

test('compromised worker sends tool counts that do not add up: killed, only its valid report counted, for itself', async () => {
	await misbehave('badtoolstats');
	const text = await (await d.metrics()).text();
	const lines = text.split('\n').filter((l) => l.startsWith('mcp_tool_executions_total{'));
	eq(lines.filter((l) => l.includes('tool_name="spoof"')), [
	    'mcp_tool_executions_total{user_id="badtoolstats",server_name="s",tool_name="spoof",status="success"} 1',
	    'mcp_tool_executions_total{user_id="badtoolstats",server_name="s",tool_name="spoof",status="error"} 0'],
	    'the valid report');
	eq(lines.filter((l) => l.includes('spoof2')), [], 'the malformed report');
});

test('compromised worker sends a counters report with an unknown route: killed, only its valid report counted', async () => {
	await misbehave('badcounters');
	const text = await (await d.metrics()).text();
	eq(text.split('\n').filter((l) => l.includes('user_id="badcounters"') &&
	    l.startsWith('dataagent_upstream_restarts_total')),
	    ['dataagent_upstream_restarts_total{user_id="badcounters",server_name="s"} 3'],
	    'the valid report');
	assert(!text.includes('server_name="s2"') && !text.includes('route="evil"') &&
	    !text.includes('code="298"'), 'the malformed report');
	// Its HTTP counts are its tenant's, never the gateway's own series.
	assert(text.includes('dataagent_tenant_http_requests_total{user_id="badcounters",route="mcp",code="299"} 5'),
	    'its http count');
	assert(!/^dataagent_http_requests_total\{route="mcp",code="299"\}/m.test(text), 'counted host-wide');
});

test('compromised worker sends an audit row with a bad request id: killed, only the valid row written', async () => {
	await misbehave('badaudit');
	const rows = JSON.parse(await d.ctlOk(['--json', 'audit', '--tenant', 'badaudit']))
	    .filter((r) => r.action === 'tool.call');
	eq(rows.map((r) => [r.actor, r.server, r.tool, r.request_id]),
	    [['worker', 's', 't', 'good-1']]);
});

test('compromised worker asks for upstream slots past its limit, in a flood: refused, then killed, its slots back', async () => {
	await misbehave('slothog');
	const text = await (await d.metrics()).text();
	const refused = Number((/^dataagent_pool_slots_refused_total\{scope="tenant"\} (\d+)$/m.exec(text) || [])[1]);
	// 10 granted (max_connections_per_user), the rest up to the flood
	// limit refused, then the worker is gone with its slots.
	assert(refused >= 400 && refused <= 500, `refused ${refused}`);
	assert(/^dataagent_pool_slots\{state="used"\} 0$/m.test(text), 'slots not given back');
});

test('compromised worker gives back more upstream slots than it holds: killed', async () => {
	await misbehave('slotfree');
});

test('a worker that makes a call worker.policy refuses: the call is logged, the death counted as seccomp', async () => {
	await d.ctlOk(['tenant', 'add', 'sigsys']);
	const tok = (await d.ctlOk(['token', 'issue', 'sigsys'])).trim();
	await d.raw(`GET /api/v1/users/sigsys/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 10000 });
	const trap = await until(() => d.logs.find((l) => l.msg === 'seccomp: forbidden system call' &&
	    l.proc === 'badworker'), 10000, 'the trap handler line');
	eq(trap.syscall, 41, 'socket(2) on x86_64');
	const died = await until(() => d.logs.find((l) => l.msg === 'worker died' && l.tenant === 'sigsys'),
	    10000, 'the death');
	eq([died.cause, died.status], ['seccomp', 159]);
});

// A tenant whose badworker is assigned by one request (the request
// itself gets no answer: the badworker never serves).
async function assign(name) {
	await d.ctlOk(['tenant', 'add', name]);
	const tok = (await d.ctlOk(['token', 'issue', name])).trim();
	await d.raw(`GET /api/v1/users/${name}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 1000 });
	return until(() => d.logs.find((l) => l.msg === 'worker assigned' && l.tenant === name &&
	    l.proc === 'dataagentd'), 10000, `${name}'s worker assigned`);
}

test('an audit row whose tool name holds ESC [ 2 J and a C1 CSI: dataagentctl audit prints it escaped', async () => {
	await assign('termaudit');
	await until(async () => JSON.parse(await d.ctlOk(['--json', 'audit', '--tenant', 'termaudit']))
	    .some((r) => r.request_id === 'term-1'), 10000, 'the row written');
	const out = await d.ctlOk(['audit', '--tenant', 'termaudit']);
	const line = out.split('\n').find((l) => l.includes('id=term-1'));
	assert(line !== undefined && line.includes('  s/\\x1b[2J\\xc2\\x9b31m success 1ms 2B id=term-1'),
	    JSON.stringify(out));
	assert(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(out), `a control character printed: ${JSON.stringify(out)}`);
});

const metric = async (name, labels) => {
	const text = await (await d.metrics()).text();
	const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
	return text.split('\n').filter((l) => l.startsWith(`${name}{`) &&
	    want.every((w) => l.includes(w))).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
};

test('a worker forges a dataagentd line, writes escape sequences and floods its stderr: passed on under its true pid and tenant, escaped, cut at worker_log_rate with a summary', async () => {
	const t0 = Date.now();
	const pid = (await assign('logforge')).worker_pid;
	const forged = await until(() => d.logs.find((l) => l.forged === 'yes'), 10000, 'the forged line');
	eq([forged.proc, forged.pid, forged.worker_pid, forged.tenant, forged.child_pid, forged.msg],
	    ['worker', pid, pid, 'logforge', 1, 'worker assigned'], JSON.stringify(forged));
	assert(!d.logs.some((l) => l.tenant === 'victim'), 'a line speaks for victim');
	// Before its assignment, a worker's lines carry no tenant at all
	// (every badworker says so as a spare).
	const spare = d.logs.find((l) => l.msg === 'spare says' && l.tenant === '');
	assert(spare !== undefined, 'no spare line without a tenant');
	eq([spare.proc, spare.pid], ['worker', spare.worker_pid], JSON.stringify(spare));
	const esc = d.logs.find((l) => l.worker_pid === pid && l.tool !== undefined);
	eq([esc.level, esc.msg, esc.tool, esc['\\x1bkey']], ['warn', 'ctl \\x1b[2J', 'x\\x1b]0;owned\\x07', 1],
	    JSON.stringify(esc));
	const raw = d.logs.find((l) => l.worker_pid === pid && l.msg === 'worker output');
	eq([raw.proc, raw.tenant, raw.line], ['worker', 'logforge', 'raw \\x1b[31mred\\x0d']);
	const passed = () => d.logs.filter((l) => l.worker_pid === pid && l.msg === 'flood').length;
	const sums = () => d.logs.filter((l) => l.worker_pid === pid && l.msg === 'worker log lines dropped');
	const dropped = () => sums().reduce((n, l) => n + l.dropped, 0);
	await until(() => passed() + dropped() === 20000, 15000, 'every flood line passed on or counted');
	const secs = (Date.now() - t0) / 1000;
	// 50 of burst less the three lines above, then 10 a second.
	assert(passed() >= 47 && passed() <= 47 + 10 * (secs + 1), `passed ${passed()} in ${secs} s`);
	assert(sums().length <= secs + 2, `${sums().length} summary lines in ${secs} s`);
	eq([sums()[0].level, sums()[0].tenant, sums()[0].rate, sums()[0].burst], ['warn', 'logforge', 10, 50]);
	eq(await metric('dataagent_worker_log_lines_dropped_total', { user_id: 'logforge' }), dropped());
	assert(!d.logs.some((l) => l.unparsed), 'a line of the daemon is not JSON');
	const ctl = (v) => typeof v === 'string' ? /[\x00-\x1f\x7f-\x9f]/.test(v) :
	    v !== null && typeof v === 'object' && Object.entries(v).some(([k, x]) => ctl(k) || ctl(x));
	assert(!d.logs.some((l) => l.worker_pid === pid && ctl(l)), 'a control character passed on');
});

test('a worker floods the store with writes: refused past the quotas and tenant_store_rate with the exact errors, counted, and /health answers at once', async () => {
	await assign('storeflood');
	let slowest = 0, stop = false;
	const probe = (async () => {
		while (!stop) {
			const t = Date.now();
			eq((await d.fetch('/health')).status, 200);
			slowest = Math.max(slowest, Date.now() - t);
			await sleep(20);
		}
	})();
	const ans = await until(() => d.logs.find((l) => l.msg === 'store answers' && l.tenant === 'storeflood'),
	    30000, 'the answers');
	stop = true;
	await probe;
	eq(ans.first, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 507, 507, 413, 200, 200, 200, 200, 200, 507]);
	const n429 = ans.flood['429'] || 0, n507 = ans.flood['507'] || 0;
	eq(n429 + n507, 3000, JSON.stringify(ans.flood));
	assert(n429 >= 2900, `${n429} refused by the rate`);
	const errors = {};
	if (n507 > 0)
		errors['quota reached: at most 5 secrets a tenant (tenant_max_secrets)'] = n507;
	errors['too many store requests: at most 5 a second (tenant_store_rate)'] = n429;
	eq(Object.entries(ans.errors).sort(), Object.entries(errors).sort());
	eq(JSON.parse(await d.ctlOk(['--json', 'server', 'list', 'storeflood'])).length, 10, 'servers stored');
	eq(JSON.parse(await d.ctlOk(['--json', 'secret', 'list', 'storeflood'])).map((x) => x.name).sort(),
	    ['K0', 'K1', 'K2', 'K3', 'K4'], 'secrets stored');
	const m = (reason) => metric('dataagent_store_requests_refused_total', { user_id: 'storeflood', reason });
	eq([await m('rate'), await m('servers'), await m('secrets'), await m('secret_size')], [n429, 2, 1 + n507, 1]);
	const lines = d.logs.filter((l) => l.msg === 'store requests refused' && l.tenant === 'storeflood');
	eq([...new Set(lines.map((l) => l.reason))].sort(), ['rate', 'secret_size', 'secrets', 'servers']);
	assert(lines.length <= 8, `${lines.length} refusal lines`);
	assert(slowest < 1000, `/health took ${slowest} ms during the flood`);
});

test('a worker sends 6400 audit rows at once: tenant_audit_rate and tenant_audit_queue bound what is written, the rest counted as dropped', async () => {
	const t0 = Date.now();
	await assign('auditflood');
	await until(() => d.logs.find((l) => l.msg === 'audit sent' && l.tenant === 'auditflood'), 10000, 'the flood');
	let rows = 0, rate = 0, queue = 0;
	await until(async () => {
		rate = await metric('dataagent_audit_rows_dropped_total', { user_id: 'auditflood', reason: 'rate' });
		queue = await metric('dataagent_audit_rows_dropped_total', { user_id: 'auditflood', reason: 'queue' });
		rows = JSON.parse(await d.ctlOk(['--json', 'audit', '--tenant', 'auditflood', '--limit', '10000']))
		    .filter((r) => r.action === 'tool.call').length;
		return rows + rate + queue === 6400;
	}, 10000, 'every row written or counted');
	const secs = (Date.now() - t0) / 1000;
	assert(rows >= 150 && rows <= 200 + 100 * secs, `${rows} rows written in ${secs} s`);
	assert(queue >= 1, 'none dropped by the queue bound');
	const lines = d.logs.filter((l) => l.msg === 'audit rows dropped' && l.tenant === 'auditflood');
	assert(lines.length >= 1 && lines.length <= 4, `${lines.length} drop lines`);
});

test('control socket and status still work after all of them', async () => {
	const st = JSON.parse(await d.ctlOk(['--json', 'status']));
	eq(st.status, 'healthy');
	assert(st.worker_deaths.killed >= 11, JSON.stringify(st.worker_deaths));
});

const failed = await run(import.meta.url);
await d.stop();
fs.rmSync(d.tmpBin, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
