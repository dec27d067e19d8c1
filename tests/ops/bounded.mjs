// bounded.mjs: run by ops.test.mjs under
//   setpriv --bounding-set -all,+<the unit's CapabilityBoundingSet> node bounded.mjs
// so that dataagentd starts the way systemd starts it: as root, but able to
// hold only the capabilities the unit leaves it. Starts a daemon with a
// tenant whose MCP servers run confined, calls a tool, and prints one JSON
// line: what the call answered, and the supervisor's bounding set.
import fs from 'node:fs';
import { Daemon, EVERYTHING, MEMORY, processesOf, sleep } from '../integration/lib.mjs';

const out = {};
const d = new Daemon();
try {
	await d.start();
	const home = () => d.tenantHome('capped');
	const token = await d.tenant('capped', { everything: EVERYTHING,
	    memory: { cmd: MEMORY, env: { MEMORY_FILE_PATH: `${home()}/memory.jsonl` } } });
	let r = await d.fetch('/api/v1/users/capped/tools/everything/echo',
	    { token, method: 'POST', body: { message: 'bounded' } });
	out.echo = { status: r.status, body: await r.text() };
	r = await d.fetch('/api/v1/users/capped/tools/memory/create_entities',
	    { token, method: 'POST', body: { entities: [{ name: 'n',
	    entityType: 't', observations: ['o'] }] } });
	out.memory = { status: r.status, body: await r.text() };
	out.memoryFile = fs.existsSync(`${home()}/memory.jsonl`);
	const st = fs.readFileSync(`/proc/${d.proc.pid}/status`, 'utf8');
	out.capBnd = (/^CapBnd:\s+([0-9a-f]+)/m.exec(st) || [])[1];
	out.capEff = (/^CapEff:\s+([0-9a-f]+)/m.exec(st) || [])[1];
	const core = (pid) => (/^Max core file size\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(
	    `/proc/${pid}/limits`, 'utf8')) || []).slice(1).join(' ');
	out.coreLimit = core(d.proc.pid);
	const cuid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'capped'])).uid;
	const wk = processesOf(cuid).find((p) => p.cmd.includes('dataagent-worker'));
	out.workerCoreLimit = wk ? core(wk.pid) : 'no worker';
	// Disabling ends the tenant's worker and servers: signals to other
	// UIDs (CAP_KILL) and the cgroup's removal.
	const uid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'capped'])).uid;
	out.before = processesOf(uid).length;
	await d.ctlOk(['tenant', 'disable', 'capped']);
	for (let i = 0; i < 100 && processesOf(uid).length > 0; i++)
		await sleep(50);
	out.after = processesOf(uid).map((p) => p.cmd);
	out.errors = d.logs.filter((l) => l.level === 'error' || l.level === 'warn')
	    .map((l) => l.msg + (l.error ? `: ${l.error}` : ''));
} catch (e) {
	out.error = String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join(' | ');
} finally {
	await d.stop();
}
console.log(JSON.stringify(out));
