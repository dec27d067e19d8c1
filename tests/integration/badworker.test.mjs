// badworker.test.mjs: a compromised worker. The daemon runs
// tests/probe/badworker as its worker; each tenant's name makes it break
// the IPC protocol one way. The supervisor must kill that worker, log why
// and keep serving.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, BUILD, UID_SHIFT } from './lib.mjs';

// A daemon whose workers are the badworker, copied where tenant UIDs
// can run it.
function badDaemon(opts, config) {
	const dm = new Daemon(opts);
	// The worker binary is set after the temporary directory exists.
	dm.opts.config = { worker_path: '/nonexistent', ...config };
	const dirHook = dm.start.bind(dm);
	dm.start = async () => {
		const tmp = fs.mkdtempSync('/tmp/dataagent-badworker-');
		fs.chmodSync(tmp, 0o755);
		const bin = path.join(tmp, 'badworker');
		fs.copyFileSync(path.join(BUILD, 'tests', 'badworker'), bin);
		fs.chmodSync(bin, 0o755);
		dm.opts.config.worker_path = bin;
		dm.tmpBin = tmp;
		return dirHook();
	};
	return dm;
}

// Bounds small enough for the floods below to meet each of them; the
// queue to a worker at its smallest: the largest message (4 MiB and a
// header) and 16 fds.
const d = badDaemon({ workers: 1, uid_base: 68000 }, { worker_log_rate: 10, worker_log_burst: 50,
    tenant_store_rate: 5, tenant_store_burst: 20, tenant_max_servers: 10, tenant_max_secrets: 5,
    secret_max_size: 1024, tenant_audit_rate: 100, tenant_audit_queue: 150,
    worker_ipc_queue_max: 4194320, worker_ipc_queue_fds: 16 });
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

const series = (text, name) => {
	const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => '\\' + c)} (\\d+)$`, 'm').exec(text);
	return m ? Number(m[1]) : null;
};
const rssKiB = (pid) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(
    fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

test('compromised worker stops reading and puts a 256 KiB server 100 times: killed when 4 MiB wait for it, the supervisor stays small', async () => {
	const rss0 = rssKiB(d.proc.pid);
	await d.ctlOk(['tenant', 'add', 'deafconfig']);
	const tok = (await d.ctlOk(['token', 'issue', 'deafconfig'])).trim();
	const r = d.raw(`GET /api/v1/users/deafconfig/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 20000 });
	const k = await until(() => d.logs.find((l) => l.proc === 'dataagentd' && l.msg === 'worker not reading its channel: killed' &&
	    l.tenant === 'deafconfig'), 20000, 'the kill');
	eq([k.why, k.worker_ipc_queue_max, k.queued_fds], ['send queue over its byte bound', 4194320, 0]);
	// Each put queues its 256 KiB answer; the configuration push
	// replaces the one waiting: the queue is full within one answer.
	assert(k.queued_bytes <= 4194320 && k.queued_bytes > 4194320 - 300 * 1024,
	    `queued_bytes ${k.queued_bytes}`);
	const died = await until(() => d.logs.find((l) => l.proc === 'dataagentd' && l.worker_pid === k.worker_pid &&
	    (l.msg === 'worker died' || l.msg === 'worker exited')), 10000, 'its death');
	eq([died.msg, died.cause, died.why], ['worker died', 'killed', 'send queue over its byte bound']);
	eq((await r).status, 0, 'its client is closed');
	const text = await (await d.metrics()).text();
	eq(series(text, 'dataagent_worker_ipc_queue_kills_total{bound="bytes"}'), 1);
	eq(series(text, 'dataagent_worker_ipc_queue_kills_total{bound="fds"}'), 0);
	// Unbounded, 100 puts would have queued 100 answers and pushes of
	// 256 KiB each (50 MiB). (ASan keeps what is freed in quarantine.)
	const grew = rssKiB(d.proc.pid) - rss0;
	assert(grew < 24 * 1024 || path.basename(BUILD).startsWith('build-san'),
	    `the supervisor grew by ${grew} KiB`);
	eq((await d.fetch('/health')).status, 200);
});

test('compromised worker stops reading while its clients connect: killed when 16 connections wait for it, with the reason', async () => {
	await d.ctlOk(['tenant', 'add', 'deafconns']);
	const tok = (await d.ctlOk(['token', 'issue', 'deafconns'])).trim();
	const req = `GET /api/v1/users/deafconns/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`;
	const socks = [];
	const killed = () => d.logs.find((l) => l.proc === 'dataagentd' && l.msg === 'worker not reading its channel: killed' &&
	    l.tenant === 'deafconns');
	// The socket to the worker takes a few hundred first.
	for (let i = 0; i < 1000 && !killed(); i += 20) {
		const batch = [];
		for (let j = 0; j < 20; j++) {
			const s = net.connect(d.port, '127.0.0.1');
			s.on('error', () => {});
			socks.push(s);
			batch.push(new Promise((res) => s.on('connect', () => s.write(req, res))));
		}
		await Promise.all(batch);
		await sleep(50);
	}
	const k = await until(killed, 10000, 'the kill');
	socks.forEach((s) => s.destroy());
	eq([k.why, k.queued_fds, k.worker_ipc_queue_fds], ['send queue over its fd bound', 16, 16]);
	const died = await until(() => d.logs.find((l) => l.proc === 'dataagentd' && l.worker_pid === k.worker_pid &&
	    (l.msg === 'worker died' || l.msg === 'worker exited')), 10000, 'its death');
	eq([died.msg, died.cause], ['worker died', 'killed']);
	const text = await (await d.metrics()).text();
	eq(series(text, 'dataagent_worker_ipc_queue_kills_total{bound="fds"}'), 1);
	eq((await d.fetch('/health')).status, 200);
});

test('control socket and status still work after all of them', async () => {
	const st = JSON.parse(await d.ctlOk(['--json', 'status']));
	eq(st.status, 'healthy');
	assert(st.worker_deaths.killed >= 13, JSON.stringify(st.worker_deaths));
});

// ------------------------------------------------ a tenant that cycles

// What tenant_network = egress needs from the kernel (as network.test.mjs).
const egressLacks = (() => {
	for (const [what, cmd] of [['veth pairs', 'ip link add name va type veth peer name vb'],
	    ['nf_tables', 'nft add table inet probe']]) {
		const r = spawnSync('unshare', ['-n', 'sh', '-c', cmd], { encoding: 'utf8' });
		if (r.status !== 0)
			return `the host cannot make ${what}: ${(r.stderr || '').trim()}`;
	}
	return null;
})();
// Four upstream slots on the host, three a tenant; four egress /30s.
const c = badDaemon({ workers: 1, uid_base: 68500 }, {
	max_total_connections: 4, max_connections_per_user: 3,
	...(egressLacks ? {} : { tenant_network: 'egress',
	    tenant_egress_range: `10.218.${Math.floor(UID_SHIFT / 100) % 256}.0/28` }),
});
const cycleOnce = async (tenant, tok, n) => {
	c.raw(`GET /api/v1/users/${tenant}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 2000 });
	const l = await until(() => c.logs.filter((x) => x.proc === 'dataagentd' && x.msg === 'worker idle, retiring' &&
	    x.tenant === tenant)[n - 1], 10000, `retirement ${n}`);
	return l.worker_pid;
};
const workersIn = async (state) => series(await (await c.metrics()).text(),
    `dataagent_workers{state="${state}"}`);
let cyclerTok, lastPid;

test('a tenant that cycles workers (takes slots, says idle, ignores the shutdown, gets a new worker; six times): never more than its 3 slots and one retiring worker', async () => {
	await c.start();
	await c.ctlOk(['tenant', 'add', 'cycler']);
	cyclerTok = (await c.ctlOk(['token', 'issue', 'cycler'])).trim();
	for (let i = 1; i <= 6; i++) {
		lastPid = await cycleOnce('cycler', cyclerTok, i);
		eq(await workersIn('retiring'), 1, `retiring workers after cycle ${i}`);
	}
	const grants = c.logs.filter((l) => l.proc === 'dataagentd' && l.msg === 'upstream slot granted' && l.tenant === 'cycler');
	assert(grants.length >= 3 && grants.every((g) => g.tenant_held <= 3),
	    JSON.stringify(grants.map((g) => g.tenant_held)));
	// Each older retiring worker ended: killed when the next one
	// retired, or by its grace if that came first.
	const replaced = c.logs.filter((l) => l.msg.startsWith('a worker of the tenant still retiring') &&
	    l.tenant === 'cycler').length;
	const timedOut = c.logs.filter((l) => l.proc === 'dataagentd' && l.msg === 'worker did not exit when asked: killed' &&
	    l.tenant === 'cycler').length;
	eq(replaced + timedOut, 5, `replaced ${replaced}, timed out ${timedOut}`);
	// The spare pool is whole again.
	await until(async () => await workersIn('spare') === 1, 10000, 'one spare');
});

test('after the cycling, another tenant still gets an upstream slot and an egress address', async () => {
	await c.ctlOk(['tenant', 'add', 'bystander']);
	const tok = (await c.ctlOk(['token', 'issue', 'bystander'])).trim();
	c.raw(`GET /api/v1/users/bystander/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms: 2000 });
	const a = await until(() => c.logs.find((l) => l.proc === 'dataagentd' && (l.msg === 'worker assigned' ||
	    l.msg.startsWith('cannot make the tenant')) && l.tenant === 'bystander'), 10000, 'its worker');
	eq(a.msg, 'worker assigned');
	if (!egressLacks)
		assert(/^10\.218\./.test(a.egress_address || ''), JSON.stringify(a));
	const s = await until(() => c.logs.find((l) => l.proc === 'dataagentd' && (l.msg === 'upstream slot granted' ||
	    l.msg === 'upstream slot refused') && l.tenant === 'bystander'), 10000, 'its slot answer');
	eq([s.msg, s.tenant_held], ['upstream slot granted', 1]);
	return egressLacks ? { skip: `slots checked; egress not: ${egressLacks}` } : undefined;
});

test('a retiring worker that does not exit is killed after 5 seconds: its slots go back', async () => {
	const k = await until(() => c.logs.find((l) => l.proc === 'dataagentd' && l.msg === 'worker did not exit when asked: killed' &&
	    l.worker_pid === lastPid), 8000, 'the grace to end');
	eq([k.tenant, k.state], ['cycler', 'retiring']);
	const died = await until(() => c.logs.find((l) => l.proc === 'dataagentd' && l.worker_pid === lastPid &&
	    l.msg === 'worker died'), 5000, 'its death');
	eq([died.cause, died.why], ['killed', 'did not exit when asked']);
	const text = await (await c.metrics()).text();
	eq(series(text, 'dataagent_workers{state="retiring"}'), 0);
	assert(series(text, 'dataagent_worker_retire_kills_total{reason="timeout"}') >= 1, 'timeout count');
	// Only the bystander's slot is left.
	eq(series(text, 'dataagent_pool_slots{state="used"}'), 1);
});

for (const how of ['disable', 'remove']) {
	test(`tenant ${how}: its retiring worker is killed at once`, async () => {
		if (how === 'remove')
			await c.ctlOk(['tenant', 'enable', 'cycler']);
		const n = c.logs.filter((l) => l.msg === 'worker idle, retiring' && l.tenant === 'cycler').length;
		const pid = await cycleOnce('cycler', cyclerTok, n + 1);
		const t0 = Date.now();
		await c.ctlOk(['tenant', how, 'cycler']);
		const k = await until(() => c.logs.find((l) => l.proc === 'dataagentd' && l.msg === "killing the tenant's retiring worker" &&
		    l.worker_pid === pid), 2000, 'the kill');
		eq(k.why, 'tenant stopped');
		await until(() => c.logs.find((l) => l.proc === 'dataagentd' && l.worker_pid === pid &&
		    (l.msg === 'worker exited' || l.msg === 'worker died')), 2000, 'its end');
		assert(Date.now() - t0 < 3000, 'not at once');
		assert(!c.logs.some((l) => l.proc === 'dataagentd' && l.msg === 'worker did not exit when asked: killed' &&
		    l.worker_pid === pid), 'waited for the grace');
		const text = await (await c.metrics()).text();
		eq(series(text, 'dataagent_workers{state="retiring"}'), 0);
		eq(series(text, 'dataagent_worker_retire_kills_total{reason="tenant_stopped"}'),
		    how === 'disable' ? 1 : 2);
	});
}

const failed = await run(import.meta.url);
await d.stop();
await c.stop();
for (const dm of [d, c])
	if (dm.tmpBin)
		fs.rmSync(dm.tmpBin, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
