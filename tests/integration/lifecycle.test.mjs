// lifecycle.test.mjs: crashes, idle retirement, removal and the
// dataagentctl round trip, checked against the real process tree.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, processesOf,
    EVERYTHING, MEMORY } from './lib.mjs';

const d = new Daemon({ workers: 1, uid_base: 63000, config: { idle_timeout: 4, connection_timeout: 30 } });
await d.start();
const a = await d.tenant('alpha', { everything: EVERYTHING });
const b = await d.tenant('beta', { everything: EVERYTHING });
const uidOf = async (t) => JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', t])).uid;
const workerOf = (uid) => processesOf(uid).find((p) => p.cmd.includes('dataagent-worker'));
const upstreamOf = (uid) => processesOf(uid).find((p) => p.cmd.includes('server-everything'));

async function echo(tenant, token, msg) {
	const r = await d.fetch(`/api/v1/users/${tenant}/tools/everything/echo`,
	    { token, method: 'POST', body: { message: msg } });
	const body = await r.json();
	return { status: r.status, body };
}

test('kill -9 of a worker: the next request gets a new one, others never notice', async () => {
	eq((await echo('alpha', a, 'one')).status, 200);
	const cb = await d.mcp('beta', b);
	await cb.callTool({ name: 'everything__echo', arguments: { message: 'before' } });
	const ua = await uidOf('alpha'), ub = await uidOf('beta');
	const w = workerOf(ua), wb = workerOf(ub);
	assert(w && wb, 'workers not found');
	process.kill(w.pid, 'SIGKILL');
	await until(() => !fs.existsSync(`/proc/${w.pid}/status`) ||
	    !fs.readFileSync(`/proc/${w.pid}/status`, 'utf8').includes('Uid:'), 5000, 'worker gone');
	// its upstream went with it (same process group / pdeathsig)
	await until(() => !upstreamOf(ua), 5000, 'alpha upstream gone');
	const r = await echo('alpha', a, 'two');
	eq([r.status, r.body.result && r.body.result.content[0].text], [200, 'Echo: two']);
	const w2 = workerOf(ua);
	assert(w2 && w2.pid !== w.pid, 'no new worker');
	// beta's session and worker were untouched
	const rb = await cb.callTool({ name: 'everything__echo', arguments: { message: 'after' } });
	eq(rb.content[0].text, 'Echo: after');
	eq(workerOf(ub).pid, wb.pid, 'beta worker changed');
	await cb.close();
});

test('kill -9 of an upstream mid-call: a quick JSON-RPC error, then the next call works', async () => {
	const c = await d.mcp('alpha', a);
	const ua = await uidOf('alpha');
	await c.callTool({ name: 'everything__echo', arguments: { message: 'warm' } });
	const t0 = Date.now();
	const slow = c.callTool({ name: 'everything__trigger-long-running-operation',
	    arguments: { duration: 20, steps: 2 } }, undefined, { timeout: 60000 })
	    .then((x) => ({ ok: x }), (e) => ({ err: e }));
	await sleep(500);
	const up = upstreamOf(ua);
	assert(up, 'upstream not found');
	process.kill(up.pid, 'SIGKILL');
	const res = await slow;
	const took = Date.now() - t0;
	assert(res.err || (res.ok && res.ok.isError), `call did not fail: ${JSON.stringify(res.ok)}`);
	assert(took < 10000, `error took ${took} ms`);
	const r = await c.callTool({ name: 'everything__echo', arguments: { message: 'again' } });
	eq(r.content[0].text, 'Echo: again');
	await c.close();
});

test('dataagentctl round trip: import a Claude config, token, call, remove', async () => {
	await d.ctlOk(['tenant', 'add', 'gamma']);
	const claude = { mcpServers: {
		tools: { command: EVERYTHING[0], args: EVERYTHING.slice(1) },
		remote: { url: 'https://example.invalid/mcp' },
	} };
	const file = path.join(d.dir, 'claude_desktop_config.json');
	fs.writeFileSync(file, JSON.stringify(claude));
	const imp = await d.ctl(['server', 'import', 'gamma', file]);
	eq(imp.code, 0, `import: ${imp.stderr}`);
	const tok = (await d.ctlOk(['token', 'issue', 'gamma', '--ttl', '10m'])).trim();
	assert(/^[\w-]+\.[\w-]+\.[\w-]+$/.test(tok), `token ${tok}`);
	const c = await d.mcp('gamma', tok);
	let names = (await c.listTools()).tools.map((t) => t.name);
	assert(names.includes('tools__echo'), names.join(','));
	const r = await c.callTool({ name: 'tools__echo', arguments: { message: 'imported' } });
	eq(r.content[0].text, 'Echo: imported');
	await d.ctlOk(['server', 'remove', 'gamma', 'tools']);
	await until(async () => {
		names = (await c.listTools()).tools.map((t) => t.name);
		return !names.includes('tools__echo');
	}, 5000, 'tool to disappear');
	const gone = await c.callTool({ name: 'tools__echo', arguments: { message: 'x' } })
	    .then((x) => ({ ok: x }), (e) => ({ err: e }));
	assert(gone.err || gone.ok.isError, 'removed tool still callable');
	await c.close();
	const audit = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'gamma'])).audit;
	const actions = audit.map((x) => x.action);
	assert(actions.includes('token.issue') && actions.includes('server.remove'),
	    actions.join(','));
	assert(!JSON.stringify(audit).includes(tok), 'token in the audit');
});

test('dataagentctl: usage errors exit 2, refusals 1, no daemon 3', async () => {
	eq((await d.ctl(['tenant'])).code, 2);
	eq((await d.ctl(['tenant', 'show', 'nobody'])).code, 1);
	eq((await d.ctl(['tenant', 'add', 'bad__id'])).code, 1);
	const r = await d.ctl(['-s', '/nonexistent.sock', 'status']);
	eq(r.code, 3);
	const st = JSON.parse(await d.ctlOk(['--json', 'status']));
	assert(st.workers, JSON.stringify(st));
});

test('tenant set-limits reaches the running worker\'s cgroup; default resets', async () => {
	eq((await echo('alpha', a, 'limits')).status, 200);
	const health = await (await d.fetch('/health/detailed')).json();
	let r = await d.ctl(['tenant', 'set-limits', 'alpha', 'memory_max=300M', 'pids_max=77',
	    'cpu_weight=50']);
	eq(r.code, 0, r.stderr);
	assert(/memory 300M, swap 0, pids 77, cpu weight 50/.test(r.stdout), r.stdout);
	const show = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'alpha']));
	// rate_per_minute 0: the test harness turns tenants' rates off
	eq(show.limits, { memory_max: 300 * 1024 * 1024, swap_max: 0, pids_max: 77, cpu_weight: 50,
	    rate_per_minute: 0 });
	if (health.cgroups === 'v1') {
		const base = `/sys/fs/cgroup/%s/${d.cgroupName}/alpha`;
		const rd = (c, f) => fs.readFileSync(`${base.replace('%s', c)}/${f}`, 'utf8').trim();
		eq(rd('memory', 'memory.limit_in_bytes'), String(300 * 1024 * 1024));
		eq(rd('pids', 'pids.max'), '77');
	}
	r = await d.ctl(['tenant', 'set-limits', 'alpha', 'memory_max=default', 'pids_max=default',
	    'cpu_weight=default']);
	eq(r.code, 0, r.stderr);
	const back = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'alpha'])).limits;
	eq([back.memory_max, back.pids_max, back.cpu_weight], [1024 * 1024 * 1024, 512, 100]);
	for (const bad of [['memory_max=1K'], ['pids_max=0'], ['cpu_weight=20000'], ['colour=red'],
	    ['memory_max=lots']]) {
		r = await d.ctl(['tenant', 'set-limits', 'alpha', ...bad]);
		eq(r.code, 1, `${bad}: ${r.stderr}`);
	}
	eq((await d.ctl(['tenant', 'set-limits', 'alpha'])).code, 2);
	eq((await d.ctl(['tenant', 'set-limits', 'nobody', 'pids_max=5'])).code, 1);
	eq((await echo('alpha', a, 'still fine')).status, 200);
});

test('idle timeout ends the worker and its upstreams', async () => {
	await d.ctlOk(['tenant', 'add', 'idle']);
	await d.ctlOk(['server', 'add', 'idle', 'everything', '--', ...EVERYTHING]);
	const tok = (await d.ctlOk(['token', 'issue', 'idle'])).trim();
	eq((await echo('idle', tok, 'hello')).status, 200);
	const u = await uidOf('idle');
	assert(processesOf(u).length >= 2, 'worker and upstream expected');
	await until(() => processesOf(u).length === 0, 20000, 'idle tenant processes to exit');
	// and it comes back on demand
	eq((await echo('idle', tok, 'back')).status, 200);
});

test('tenant removal leaves no processes behind', async () => {
	const u = await uidOf('beta');
	eq((await echo('beta', b, 'still here')).status, 200);
	assert(processesOf(u).length >= 2, 'beta processes expected');
	await d.ctlOk(['tenant', 'remove', 'beta']);
	await until(() => processesOf(u).length === 0, 10000, 'beta processes to exit');
	// (a fresh connection: the removed tenant's worker closed its own)
	const r = await d.raw(`GET /api/v1/users/beta/tools HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${b}\r\n\r\n`);
	eq(r.status, 403);
	eq((await d.ctl(['tenant', 'show', 'beta'])).code, 1);
});

test('a removed tenant\'s home goes once its processes are gone; the id added again starts empty', async () => {
	const home = d.tenantHome('reborn');
	let tok = await d.tenant('reborn', { everything: EVERYTHING });
	eq((await echo('reborn', tok, 'hi')).status, 200);
	const u = await uidOf('reborn');
	// something the tenant left, a link out of its home among it
	fs.writeFileSync(path.join(home, 'notes.txt'), 'reborn data', { mode: 0o600 });
	fs.chownSync(path.join(home, 'notes.txt'), u, u);
	fs.mkdirSync(path.join(home, 'sub'));
	fs.chownSync(path.join(home, 'sub'), u, u);
	const outside = path.join(d.dir, 'outside.txt');
	fs.writeFileSync(outside, 'not the tenant\'s');
	fs.symlinkSync(outside, path.join(home, 'sub', 'link'));
	await d.ctlOk(['tenant', 'remove', 'reborn']);
	await until(() => processesOf(u).length === 0, 10000, 'reborn processes to exit');
	await until(() => !fs.existsSync(home) && !fs.readdirSync(path.dirname(home))
	    .some((f) => f.startsWith('.removing.reborn.')), 10000, 'the home to go');
	eq(fs.readFileSync(outside, 'utf8'), 'not the tenant\'s', 'the link target is untouched');
	tok = await d.tenant('reborn', { everything: EVERYTHING });
	eq((await echo('reborn', tok, 'again')).status, 200);
	const u2 = await uidOf('reborn');
	assert(u2 !== u, 'a new uid');
	const st = fs.statSync(home);
	eq([st.uid, st.mode & 0o777, fs.readdirSync(home).filter((f) => f === 'notes.txt')],
	    [u2, 0o700, []], 'a fresh home of the new uid');
	await d.ctlOk(['tenant', 'remove', 'reborn']);
});

test('a home left by another uid is set aside, not given to the tenant', async () => {
	const home = d.tenantHome('squat');
	fs.mkdirSync(home, { recursive: true, mode: 0o700 });
	fs.writeFileSync(path.join(home, 'old.txt'), 'someone else\'s');
	fs.chownSync(home, 64999, 64999);
	const tok = await d.tenant('squat', { everything: EVERYTHING });
	const n = d.logs.length;
	eq((await echo('squat', tok, 'hi')).status, 200);
	const u = await uidOf('squat');
	const l = d.logs.slice(n).find((x) => x.msg ===
	    'a home owned by another uid than the tenant\'s was set aside, and a new one made');
	assert(l && l.level === 'warn' && l.tenant === 'squat' && l.found_uid === 64999 &&
	    l.uid === u, JSON.stringify(l));
	eq(fs.readFileSync(path.join(l.set_aside, 'old.txt'), 'utf8'), 'someone else\'s', 'kept aside');
	const st = fs.statSync(home);
	eq([st.uid, fs.readdirSync(home).includes('old.txt')], [u, false], 'a new home');
	await d.ctlOk(['tenant', 'remove', 'squat']);
});

test('stopping the daemon finishes the call in flight, then leaves nothing behind', async () => {
	const uids = [await uidOf('alpha'), await uidOf('idle')];
	const pid = d.proc.pid;
	const c = await d.mcp('alpha', a);
	const slow = c.callTool({ name: 'everything__trigger-long-running-operation',
	    arguments: { duration: 3, steps: 3 } }, undefined, { timeout: 30000 })
	    .then((x) => ({ ok: x }), (e) => ({ err: e }));
	await sleep(800);
	const t0 = Date.now();
	await d.stop();
	const res = await slow;
	assert(res.ok && !res.ok.isError, `the call in flight failed: ${res.err || JSON.stringify(res.ok)}`);
	assert(/completed/i.test(JSON.stringify(res.ok)), JSON.stringify(res.ok));
	assert(Date.now() - t0 < 10000, 'the stop took too long');
	eq(d.proc.exitCode, 0, 'exit status');
	assert(d.logs.some((l) => l.msg === 'worker draining' && l.tenant === 'alpha'), 'no drain logged');
	for (const u of uids)
		eq(processesOf(u), [], `uid ${u} processes after stop`);
	assert(!fs.existsSync(`/proc/${pid}`), 'daemon still running');
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
