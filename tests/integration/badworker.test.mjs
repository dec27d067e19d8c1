// badworker.test.mjs: a compromised worker. The daemon runs
// tests/probe/badworker as its worker; each tenant's name makes it break
// the IPC protocol one way. The supervisor must kill that worker, log why
// and keep serving.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, BUILD } from './lib.mjs';

const d = new Daemon({ workers: 1, uid_base: 68000 });
// The worker binary is set after the temporary directory exists.
d.opts.config = { worker_path: '/nonexistent' };
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
	const text = await (await d.fetch('/metrics')).text();
	const lines = text.split('\n').filter((l) => l.startsWith('mcp_tool_executions_total{'));
	eq(lines.filter((l) => l.includes('tool_name="spoof"')), [
	    'mcp_tool_executions_total{user_id="badtoolstats",server_name="s",tool_name="spoof",status="success"} 1',
	    'mcp_tool_executions_total{user_id="badtoolstats",server_name="s",tool_name="spoof",status="error"} 0'],
	    'the valid report');
	eq(lines.filter((l) => l.includes('spoof2')), [], 'the malformed report');
});

test('compromised worker sends a counters report with an unknown route: killed, only its valid report counted', async () => {
	await misbehave('badcounters');
	const text = await (await d.fetch('/metrics')).text();
	eq(text.split('\n').filter((l) => l.includes('user_id="badcounters"') &&
	    l.startsWith('dataagent_upstream_restarts_total')),
	    ['dataagent_upstream_restarts_total{user_id="badcounters",server_name="s"} 3'],
	    'the valid report');
	assert(!text.includes('server_name="s2"') && !text.includes('route="evil"') &&
	    !text.includes('code="298"'), 'the malformed report');
	assert(text.includes('dataagent_http_requests_total{route="mcp",code="299"} 5'), 'its http count');
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
	const text = await (await d.fetch('/metrics')).text();
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
	return until(() => d.logs.find((l) => l.msg === 'worker assigned' && l.tenant === name),
	    10000, `${name}'s worker assigned`);
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

test('control socket and status still work after all of them', async () => {
	const st = JSON.parse(await d.ctlOk(['--json', 'status']));
	eq(st.status, 'healthy');
	assert(st.worker_deaths.killed >= 11, JSON.stringify(st.worker_deaths));
});

const failed = await run(import.meta.url);
await d.stop();
fs.rmSync(d.tmpBin, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
