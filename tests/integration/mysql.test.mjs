// Several hosts sharing one MariaDB: two real dataagentd on their own
// loopback ports and state directories, one private MariaDB (started
// here with tests/mariadb.sh on its own port and data directory), the
// store's MySQL backend end to end: a tenant made on one host is served
// by the other, changes reach the other host's running worker without a
// restart, a database restart is survived, and the database password
// appears in no log line.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, sleep, EVERYTHING, MEMORY,
    ROOT } from './lib.mjs';

const MARIADB = path.join(ROOT, 'tests', 'mariadb.sh');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-mysql-'));
fs.chmodSync(dir, 0o755);
const mdb = path.join(dir, 'mariadb');
const keyPath = path.join(dir, 'master.key');
fs.writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });

function mariadb(cmd) {
	return new Promise((resolve) => execFile(MARIADB, [cmd, mdb],
	    { timeout: 60000 }, (err, stdout, stderr) => resolve({
		code: err ? (err.code ?? 1) : 0, stdout, stderr })));
}

let url = null;
let password = null;
let skip = null;
let A, B, token;

const host = (node) => new Daemon({ uid_base: 75000, masterKey: false,
    config: { database_url: url, master_key: keyPath,
	store_poll_interval: 1, node_name: node } });

test('two hosts share one MariaDB: a tenant made on one is served by the other', async () => {
	const r = await mariadb('start');
	if (r.code === 2) {
		skip = `mariadb-server is not installed (${r.stderr.trim()})`;
		return { skip };
	}
	eq(r.code, 0, r.stderr);
	url = r.stdout.trim();
	password = new URL(url).password;
	assert(password.length >= 16, 'a real password');
	A = await host('alpha').start();
	B = await host('beta').start();
	const store = A.logs.find((l) => l.msg === 'store open');
	assert(store && store.store.startsWith('mysql dataagent@127.0.0.1:'),
	    JSON.stringify(store));
	assert(B.logs.find((l) => l.msg.startsWith('store: shared')),
	    'B polls the shared store');
	// one store, one set of tenant UIDs: B starts beside A, warned
	const shared = B.logs.find((l) => l.msg ===
	    'tenant UIDs shared with another dataagentd on the same store');
	assert(shared && shared.other.startsWith(`pid ${A.proc.pid}, config `),
	    JSON.stringify(shared));
	token = await A.tenant('acme', { everything: EVERYTHING });
	// B has never heard of acme but for the database
	const c = await B.mcp('acme', token);
	const tools = (await c.listTools()).tools.map((t) => t.name);
	assert(tools.includes('everything__echo'), tools.join(','));
	const res = await c.callTool({ name: 'everything__echo',
	    arguments: { message: 'via B' } });
	assert(JSON.stringify(res).includes('via B'), JSON.stringify(res));
	await c.close();
	const list = JSON.parse(await B.ctlOk(['tenant', 'list', '--json']));
	assert(list.some((t) => t.id === 'acme'), JSON.stringify(list));
});

test('a server added on one host reaches the other host\'s running worker without a restart', async () => {
	if (skip)
		return { skip };
	const c = await B.mcp('acme', token);
	await c.listTools();
	const assigned = () => B.logs.filter((l) =>
	    l.msg === 'worker assigned' && l.tenant === 'acme').length;
	const before = assigned();
	assert(before >= 1, 'acme has a worker on B');
	await A.ctlOk(['server', 'add', 'acme', 'memory', '--', ...MEMORY]);
	await until(async () => {
		const r = await B.fetch('/api/v1/users/acme/mcp-servers', { token });
		const body = await r.json();
		return JSON.stringify(body).includes('"memory"');
	}, 15000, 'the new server on host B');
	const tools = (await c.listTools()).tools.map((t) => t.name);
	assert(tools.some((t) => t.startsWith('memory__')), tools.join(','));
	// the same worker: no restart was needed
	eq(assigned(), before, 'no new worker for acme');
	await c.close();
});

test('tool lists set on one host are stored in MariaDB and apply in the other host\'s running worker', async () => {
	if (skip)
		return { skip };
	const c = await B.mcp('acme', token);
	const names = async () => (await c.listTools()).tools.map((t) => t.name);
	assert((await names()).includes('everything__echo'));
	const assigned = () => B.logs.filter((l) =>
	    l.msg === 'worker assigned' && l.tenant === 'acme').length;
	const before = assigned();
	await A.ctlOk(['server', 'set', 'acme', 'everything', '--deny-tools', 'echo']);
	await A.ctlOk(['tenant', 'set', 'acme', '--deny-tools', 'get-sum']);
	await until(async () => {
		const n = await names();
		return !n.includes('everything__echo') && !n.includes('everything__get-sum');
	}, 15000, 'both lists on host B');
	const r = await B.fetch('/api/v1/users/acme/tools/everything/echo', { token,
	    method: 'POST', body: { message: 'x' } });
	eq(r.status, 403);
	const s = JSON.parse(await B.ctlOk(['--json', 'server', 'show', 'acme', 'everything']));
	eq(s.deny_tools, ['echo']);
	const t = JSON.parse(await B.ctlOk(['--json', 'tenant', 'show', 'acme']));
	eq(t.deny_tools, ['get-sum']);
	await A.ctlOk(['server', 'set', 'acme', 'everything', '--deny-tools', '']);
	await A.ctlOk(['tenant', 'set', 'acme', '--deny-tools', '']);
	await until(async () => (await names()).includes('everything__get-sum'),
	    15000, 'the lists cleared on host B');
	eq(assigned(), before, 'no new worker for acme');
	await c.close();
});

test('a tenant disabled on one host is refused by the other at once, and comes back', async () => {
	if (skip)
		return { skip };
	await A.ctlOk(['tenant', 'disable', 'acme']);
	let r = await B.fetch('/api/v1/users/acme/tools', { token });
	eq(r.status, 403);
	await A.ctlOk(['tenant', 'enable', 'acme']);
	await until(async () => (await B.fetch('/api/v1/users/acme/tools',
	    { token })).status === 200, 15000, 'acme served again');
	r = await B.fetch('/api/v1/users/acme/tools', { token });
	eq(r.status, 200);
});

test('a token revoked on one host is refused by the other within the poll interval', async () => {
	if (skip)
		return { skip };
	const r = await A.ctl(['token', 'issue', 'acme']);
	eq(r.code, 0, r.stderr);
	const t2 = r.stdout.trim();
	const jti = JSON.parse(Buffer.from(t2.split('.')[1], 'base64url')).jti;
	assert(jti, 'issued tokens carry a jti');
	eq((await B.fetch('/api/v1/users/acme/tools', { token: t2 })).status, 200);
	await A.ctlOk(['token', 'revoke', jti]);
	await until(async () => (await B.fetch('/api/v1/users/acme/tools',
	    { token: t2 })).status === 401, 10000, 'B to refuse the revoked token');
	eq((await B.fetch('/api/v1/users/acme/tools', { token })).status, 200,
	    'other tokens still work');
});

test('MariaDB restart: admin commands fail cleanly while it is down, calls in flight go on, both hosts recover', async () => {
	if (skip)
		return { skip };
	const c = await B.mcp('acme', token);
	await c.listTools();
	let r = await mariadb('down');
	eq(r.code, 0, r.stderr);
	r = await A.ctl(['tenant', 'add', 'during-outage']);
	assert(r.code !== 0, 'refused while the database is down');
	assert(!r.stderr.includes(password), 'no password in the error');
	// the tenant's worker needs no database: its session goes on
	const res = await c.callTool({ name: 'everything__echo',
	    arguments: { message: 'still here' } });
	assert(JSON.stringify(res).includes('still here'));
	// a new connection needs the store to authenticate: a clean 503
	const h = await B.fetch('/api/v1/users/acme/tools', { token });
	eq(h.status, 503);
	r = await mariadb('up');
	eq(r.code, 0, r.stderr);
	await until(async () => (await A.ctl(['tenant', 'add', 'after-outage'])).code === 0,
	    20000, 'host A to reconnect');
	await until(async () => (await B.fetch('/api/v1/users/acme/tools',
	    { token })).status === 200, 20000, 'host B to reconnect');
	const list = JSON.parse(await B.ctlOk(['tenant', 'list', '--json']));
	const ids = list.map((t) => t.id);
	assert(ids.includes('after-outage') && !ids.includes('during-outage'),
	    ids.join(','));
	assert(A.logs.some((l) => l.msg === 'store: reconnected'),
	    'A logged the reconnect');
	await c.close();
});

test('a stateful session names its host; another host refuses it clearly and a new session there works', async () => {
	if (skip)
		return { skip };
	const tok = (await A.ctlOk(['token', 'issue', 'acme'])).trim();
	const init = { jsonrpc: '2.0', id: 1, method: 'initialize',
	    params: { protocolVersion: '2025-06-18', capabilities: {},
		clientInfo: { name: 't', version: '1' } } };
	const headers = { Accept: 'application/json, text/event-stream' };
	const r = await A.fetch('/api/v1/users/acme/mcp', { token: tok,
	    method: 'POST', body: init, headers });
	eq(r.status, 200);
	const sid = r.headers.get('mcp-session-id');
	assert(/^alpha\.[0-9a-f]{58}$/.test(sid), sid);
	const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
	const h2 = { ...headers, 'Mcp-Session-Id': sid,
	    'MCP-Protocol-Version': '2025-06-18' };
	const other = await B.fetch('/api/v1/users/acme/mcp', { token: tok,
	    method: 'POST', body: list, headers: h2 });
	eq(other.status, 404);
	const body = await other.json();
	assert(body.error && /alpha/.test(body.error.message) &&
	    /beta/.test(body.error.message), JSON.stringify(body));
	// what an MCP client does on 404: a new session, here on B
	const c = await B.mcp('acme', tok);
	assert((await c.listTools()).tools.length > 0);
	await c.close();
	// on its own host the session still works
	const same = await A.fetch('/api/v1/users/acme/mcp', { token: tok,
	    method: 'POST', body: list, headers: h2 });
	eq(same.status, 200);
});

test('stopping one host leaves the other serving', async () => {
	if (skip)
		return { skip };
	await A.stop();
	const c = await B.mcp('acme', token);
	const res = await c.callTool({ name: 'everything__echo',
	    arguments: { message: 'only B' } });
	assert(JSON.stringify(res).includes('only B'));
	await c.close();
});

test('the database password is in no log line of either host', async () => {
	if (skip)
		return { skip };
	await B.stop();
	for (const d of [A, B]) {
		const text = JSON.stringify(d.logs);
		assert(!text.includes(password), 'password leaked into a log');
		assert(text.includes('mysql://dataagent:***@127.0.0.1'),
		    'the redacted URL is logged');
	}
});

const failed = await run(import.meta.url);
for (const d of [A, B])
	if (d)
		await d.stop().catch(() => {});
await mariadb('stop');
await sleep(100);
fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
