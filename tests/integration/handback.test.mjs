// handback.test.mjs: a compromised worker handing client sockets back
// (IPC_HANDBACK). The daemon runs tests/probe/badworker as its worker;
// the tenant's name picks the misbehaviour (see badworker.c). The
// supervisor takes back only a connection it gave that worker, once per
// handoff, never blocks on it, and keeps the address it recorded at
// accept.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, BUILD } from './lib.mjs';

// Handbacks happen with handoff = direct only (relay streams carry one
// token): this file tests that mode whatever DATAAGENT_TEST_HANDOFF says.
const d = new Daemon({ workers: 1, uid_base: 78000,
    config: { worker_path: '/nonexistent', header_timeout: 3, handoff: 'direct' } });
const dirHook = d.start.bind(d);
d.start = async () => {
	const tmp = fs.mkdtempSync('/tmp/dataagent-handback-');
	fs.chmodSync(tmp, 0o755);
	const bin = path.join(tmp, 'badworker');
	fs.copyFileSync(path.join(BUILD, 'tests', 'badworker'), bin);
	fs.chmodSync(bin, 0o755);
	d.opts.config.worker_path = bin;
	d.tmpBin = tmp;
	return dirHook();
};
await d.start();

async function metric(name) {
	const text = await (await d.metrics()).text();
	const re = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm');
	const m = re.exec(text);
	assert(m, `${name} in /metrics`);
	return Number(m[1]);
}

// A client of tenant `name` whose request the worker reads and then
// misbehaves with: the raw answer (after ms).
async function client(name, ms) {
	await d.ctlOk(['tenant', 'add', name]);
	const tok = (await d.ctlOk(['token', 'issue', name])).trim();
	return d.raw(`GET /api/v1/users/${name}/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`, { ms });
}

// The worker of `name` was killed for handing back what it may not.
async function killedFor(name) {
	const v = await until(() => d.logs.find((l) => l.msg === 'protocol violation by a worker' &&
	    l.tenant === name), 10000, `a protocol violation logged for ${name}`);
	eq(v.why, 'handback of a connection not given to this worker, or handed back already');
	const died = await until(() => d.logs.find((l) => l.worker_pid === v.worker_pid &&
	    (l.msg === 'worker died' || l.msg === 'worker exited')), 10000,
	    `worker ${v.worker_pid} to be gone`);
	eq([died.msg, died.cause], ['worker died', 'killed'], JSON.stringify(died));
	return v;
}

test('a handed-back socket with O_NONBLOCK cleared and nothing read ahead: /health answers within a second, the client gets 408', async () => {
	const before = await metric('dataagent_handbacks_total');
	const c = client('hbblock', 8000);
	await until(() => d.logs.find((l) => l.msg === 'connection handed back' &&
	    l.tenant === 'hbblock'), 10000, 'the handback');
	const t0 = Date.now();
	const h = await d.raw('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n', { ms: 3000 });
	const took = Date.now() - t0;
	eq(h.status, 200, 'health answered');
	assert(took < 1000, `/health took ${took} ms`);
	const r = await c;
	eq(r.status, 408, 'the handed-back client waits for a head, then 408');
	eq(await metric('dataagent_handbacks_total'), before + 1);
	assert(!d.logs.some((l) => l.msg === 'protocol violation by a worker' && l.tenant === 'hbblock'),
	    'a blocking socket handed back once is no violation');
});

for (const [name, what] of [['hbtwice', 'twice'], ['hbdup', '6000 times']]) {
	test(`one connection handed back ${what}: the first taken, the worker killed at the second, the front not filled`, async () => {
		const before = await metric('dataagent_handbacks_refused_total{reason="unknown"}');
		const taken = await metric('dataagent_handbacks_total');
		const c = client(name, 6000);
		await killedFor(name);
		eq(await metric('dataagent_handbacks_refused_total{reason="unknown"}'), before + 1);
		eq(await metric('dataagent_handbacks_total'), taken + 1);
		const h = await d.fetch('/health');
		eq(h.status, 200, 'a new client is served');
		eq((await c).status, 408, 'the one taken back waits for a head');
	});
}

test('a socket the worker dialled itself to 127.0.0.1: refused, never served /metrics, the worker killed', async () => {
	const before = await metric('dataagent_handbacks_refused_total{reason="unknown"}');
	const r = client('hbforeign', 6000);
	await killedFor('hbforeign');
	const report = path.join(d.tmpBin, 'foreign.json');
	const got = await until(() => fs.existsSync(report) &&
	    JSON.parse(fs.readFileSync(report, 'utf8')), 10000, "the far end's report");
	eq(got.got, 0, 'nothing came back on the foreign socket');
	eq(await metric('dataagent_handbacks_refused_total{reason="unknown"}'), before + 1);
	eq((await r).status, 0, "the worker's own client is closed");
	eq((await d.fetch('/health')).status, 200);
});

test('at most 64 of one worker\'s handed-back connections in the front: the rest get 503, counted', async () => {
	const busy = await metric('dataagent_handbacks_refused_total{reason="busy"}');
	await d.ctlOk(['tenant', 'add', 'hbmany']);
	const tok = (await d.ctlOk(['token', 'issue', 'hbmany'])).trim();
	const req = `GET /api/v1/users/hbmany/mcp-servers HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${tok}\r\n\r\n`;
	const first = d.raw(req, { ms: 8000 });
	// the worker is assigned: then 69 more at once
	await until(() => d.logs.find((l) => l.msg === 'connection handed back' &&
	    l.tenant === 'hbmany'), 10000, 'the first handback');
	const rest = await Promise.all(Array.from({ length: 69 }, () => d.raw(req, { ms: 8000 })));
	const got = [await first, ...rest].map((r) => r.status);
	eq(got.filter((s) => s === 408).length, 64, `408s: ${got}`);
	eq(got.filter((s) => s === 503).length, 6, `503s: ${got}`);
	eq(await metric('dataagent_handbacks_refused_total{reason="busy"}'), busy + 6);
	assert(d.logs.find((l) => l.msg === 'handback refused' && l.reason === 'busy' &&
	    l.tenant === 'hbmany'), 'logged');
	assert(!d.logs.some((l) => l.msg === 'protocol violation by a worker' && l.tenant === 'hbmany'),
	    'no violation');
});

const failed = await run(import.meta.url);
await d.stop();
fs.rmSync(d.tmpBin, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
