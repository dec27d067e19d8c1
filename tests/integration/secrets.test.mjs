// secrets.test.mjs: tenant secrets (issue 5): sealed at rest under the
// master key, handed only to the tenant's own upstream, never printed.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, test, run, assert, eq, until, processesOf, BUILD,
    EVERYTHING, SECRET_KEY } from './lib.mjs';

const SECRET = 'S3cr3t-' + 'x9Q7'.repeat(6) + '-do-not-print';
const OTHER = 'Other-' + 'z8W1'.repeat(6) + '-value';
const d = new Daemon({ workers: 1, uid_base: 68000 });
await d.start();
const tok = await d.tenant('alice', {
	uses: { cmd: EVERYTHING, env: { API_TOKEN: '${secret:API_TOKEN}', PLAIN: 'x' } },
	plain: EVERYTHING,
});
const bobTok = await d.tenant('bob', {});
const uid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'alice'])).uid;
const sql = (db, q) => execFileSync('sqlite3', [db, q]).toString();

async function callEnv(server) {
	const r = await d.fetch(`/api/v1/users/alice/tools/${server}/get-env`,
	    { token: tok, method: 'POST', body: {} });
	const b = await r.json();
	return { status: r.status, body: b, env: r.status === 200 ?
	    JSON.parse(b.result.content[0].text) : null };
}
const serverState = async (name) => (await (await d.fetch(
    `/api/v1/users/alice/mcp-servers/${name}`, { token: tok })).json());

test('a server whose secret is not set is failed, never started', async () => {
	const r = await callEnv('uses');
	assert(r.status !== 200, 'started without its secret');
	const st = await serverState('uses');
	eq(st.state, 'failed');
	eq(st.last_error, 'secret API_TOKEN is not set');
	eq(st.pid, null);
});

test('secret set reads stdin, never argv; the upstream sees the value', async () => {
	const out = await d.ctlOk(['secret', 'set', 'alice', 'API_TOKEN'], SECRET + '\n');
	assert(!out.includes(SECRET), 'value printed');
	const r = await until(async () => { const x = await callEnv('uses'); return x.status === 200 && x; },
	    15000, 'server with its secret');
	eq(r.env.API_TOKEN, SECRET);
	eq(r.env.PLAIN, 'x');
});

test('GET /mcp-servers shows ${secret:NAME}, never the value', async () => {
	const body = await (await d.fetch('/api/v1/users/alice/mcp-servers', { token: tok })).text();
	assert(!body.includes(SECRET), 'value in GET /mcp-servers');
	assert(body.includes('${secret:API_TOKEN}'), body);
});

test('secret list shows names and dates only', async () => {
	const l = JSON.parse(await d.ctlOk(['--json', 'secret', 'list', 'alice']));
	eq(l.map((s) => s.name).filter((n) => n !== 'CANARY'), ['API_TOKEN']);
	eq(Object.keys(l[0]).sort(), ['created', 'name', 'updated']);
	const human = await d.ctlOk(['secret', 'list', 'alice']);
	assert(human.includes('API_TOKEN') && !human.includes(SECRET), human);
});

test('the store file holds no plaintext; a copy without the key is useless', async () => {
	const db = path.join(d.state, 'dataagent.db');
	sql(db, 'PRAGMA wal_checkpoint(FULL);');
	for (const f of [db, db + '-wal'])
		if (fs.existsSync(f))
			assert(!fs.readFileSync(f).includes(Buffer.from(SECRET)), `plaintext in ${f}`);
	eq(sql(db, "SELECT length(nonce), length(ciphertext) FROM secrets WHERE name='API_TOKEN'").trim(),
	    `12|${SECRET.length + 16}`);
});

test("another tenant's probe cannot read the server's environ", async () => {
	const pid = processesOf(uid).find((p) => p.cmd.includes('server-everything')).pid;
	// bob's uid: not alice's, and no capability: EACCES (or ENOENT under hidepid)
	const bob = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'bob'])).uid;
	let code = 'readable';
	try {
		execFileSync('setpriv', [`--reuid=${bob}`, `--regid=${bob}`, '--clear-groups',
		    'cat', `/proc/${pid}/environ`], { stdio: 'pipe' });
	} catch (e) {
		code = /Permission denied|No such file/.test(e.stderr.toString()) ? 'denied' : e.stderr.toString();
	}
	eq(code, 'denied');
	void bobTok;
});

test('a secret change restarts only the server that uses it', async () => {
	await callEnv('plain');
	const pids = () => Object.fromEntries(['uses', 'plain'].map((n) => [n, null]));
	void pids;
	const before = { uses: (await serverState('uses')).pid, plain: (await serverState('plain')).pid };
	assert(before.uses && before.plain, JSON.stringify(before));
	await d.ctlOk(['secret', 'set', 'alice', 'API_TOKEN'], OTHER);
	const r = await until(async () => { const x = await callEnv('uses'); return x.status === 200 &&
	    x.env.API_TOKEN === OTHER && x; }, 15000, 'new value');
	eq(r.env.API_TOKEN, OTHER);
	eq((await serverState('plain')).pid, before.plain, 'the other server was restarted');
	assert((await serverState('uses')).pid !== before.uses, 'the user was not restarted');
	await d.ctlOk(['secret', 'set', 'alice', 'API_TOKEN'], SECRET);
	await until(async () => { const x = await callEnv('uses'); return x.status === 200 &&
	    x.env.API_TOKEN === SECRET; }, 15000, 'value back');
});

test('REST: PUT, GET (names only), DELETE of a tenant\'s own secrets', async () => {
	let r = await d.fetch('/api/v1/users/alice/secrets/REST_ONE', { token: tok, method: 'PUT',
	    body: { value: SECRET } });
	eq(r.status, 200);
	const put = await r.text();
	assert(!put.includes(SECRET), put);
	r = await d.fetch('/api/v1/users/alice/secrets', { token: tok });
	const list = await r.text();
	assert(!list.includes(SECRET), list);
	eq(JSON.parse(list).secrets.map((s) => s.name).filter((n) => n !== 'CANARY'), ['API_TOKEN', 'REST_ONE']);
	r = await d.fetch('/api/v1/users/alice/secrets/bad-name', { token: tok, method: 'PUT', body: { value: 'v' } });
	eq(r.status, 400);
	r = await d.fetch('/api/v1/users/alice/secrets/REST_ONE', { token: tok, method: 'DELETE' });
	eq(r.status, 204);
	r = await d.fetch('/api/v1/users/alice/secrets/REST_ONE', { token: tok, method: 'DELETE' });
	eq(r.status, 404);
	// a REST-added server may refer to a secret too
	r = await d.fetch('/api/v1/users/alice/mcp-servers', { token: tok, method: 'POST',
	    body: { name: 'rest', command: EVERYTHING[0], args: EVERYTHING.slice(1),
		env: { API_TOKEN: 'pre-${secret:API_TOKEN}' } } });
	eq(r.status, 201);
	const x = await until(async () => { const y = await callEnv('rest'); return y.status === 200 && y; },
	    15000, 'REST server');
	eq(x.env.API_TOKEN, 'pre-' + SECRET);
});

// argv is /proc/PID/cmdline, which every user of the host reads.
test('${secret:NAME} in a stdio server\'s args is refused (control, REST, import); one stored before is not started', async () => {
	const why = /args\[1\] refers to secret API_TOKEN: secrets are not put in a server's argv, which every user of the host can read in \/proc; pass it in env instead \(--env VAR=\$\{secret:API_TOKEN\}\)/;
	const add = await d.ctl(['server', 'add', 'alice', 'argv', '--', EVERYTHING[0], '--token', '${secret:API_TOKEN}']);
	assert(add.code !== 0 && why.test(add.stderr), add.stderr);
	let r = await d.fetch('/api/v1/users/alice/mcp-servers', { token: tok, method: 'POST',
	    body: { name: 'argv', command: EVERYTHING[0], args: ['--token', 'x${secret:API_TOKEN}'] } });
	eq(r.status, 400);
	assert(why.test((await r.json()).error), 'REST refusal without the reason');
	const file = path.join(d.dir, 'argv-import.json');
	fs.writeFileSync(file, JSON.stringify({ mcpServers: {
		argv: { command: EVERYTHING[0], args: ['--token', '${secret:API_TOKEN}'] } } }));
	const imp = await d.ctl(['server', 'import', 'alice', file]);
	assert(imp.code !== 0 && why.test(imp.stderr), imp.stderr);
	eq(JSON.parse(await d.ctlOk(['--json', 'server', 'list', 'alice'])).map((x) => x.name).includes('argv'), false);
	// A row written before the refusal existed: failed with the reason,
	// no process, no value in any cmdline.
	await d.ctlOk(['tenant', 'add', 'carol']);
	await d.ctlOk(['secret', 'set', 'carol', 'API_TOKEN'], SECRET);
	await d.ctlOk(['server', 'add', 'carol', 'argv', '--', ...EVERYTHING]);
	sql(path.join(d.state, 'dataagent.db'), "UPDATE servers SET args = json_array(" +
	    EVERYTHING.slice(1).map((a) => `'${a}'`).join(',') + ", '${secret:API_TOKEN}') " +
	    "WHERE tenant = 'carol' AND name = 'argv'");
	const ctok = (await d.ctlOk(['token', 'issue', 'carol'])).trim();
	const reason = `args[${EVERYTHING.length - 1}] refers to secret API_TOKEN, and secrets are not put in ` +
	    'argv (every host user reads /proc/PID/cmdline): add the server again with it in env ' +
	    '(dataagentctl server add ... --env VAR=${secret:API_TOKEN} -- ...)';
	r = await d.fetch('/api/v1/users/carol/tools/argv/echo', { token: ctok, method: 'POST',
	    body: { message: 'x' } });
	const call = await r.text();
	assert(r.status !== 200 && call.includes(`server argv cannot start: ${reason}`), call);
	const st = await (await d.fetch('/api/v1/users/carol/mcp-servers/argv', { token: ctok })).json();
	eq([st.state, st.last_error, st.pid], ['failed', reason, null]);
	await d.ctlOk(['tenant', 'remove', 'carol']);
});

test('a ciphertext copied to another tenant\'s row fails to decrypt and is reported', async () => {
	const db = path.join(d.state, 'dataagent.db');
	await d.ctlOk(['secret', 'set', 'bob', 'PLACEHOLDER'], 'p');
	await d.ctlOk(['server', 'add', 'bob', 'uses', '--env', 'API_TOKEN=${secret:API_TOKEN}', '--', ...EVERYTHING]);
	sql(db, "INSERT INTO secrets (tenant, name, nonce, ciphertext, created, updated) " +
	    "SELECT 'bob', name, nonce, ciphertext, created, updated FROM secrets " +
	    "WHERE tenant='alice' AND name='API_TOKEN'");
	const r = await d.fetch('/api/v1/users/bob/tools/uses/get-env', { token: bobTok, method: 'POST', body: {} });
	const body = await r.text();
	assert(r.status !== 200 && !body.includes(SECRET), body);
	const st = await (await d.fetch('/api/v1/users/bob/mcp-servers/uses', { token: bobTok })).json();
	eq(st.state, 'failed');
	eq(st.last_error, 'secret API_TOKEN does not decrypt (moved or tampered)');
	assert(d.logs.some((l) => l.error === 'secret API_TOKEN of tenant bob does not decrypt (moved or tampered)'),
	    'not reported in the log');
	await d.ctlOk(['secret', 'rm', 'bob', 'API_TOKEN']);
});

test('the value is in no log line, audit row, ps output or error body', async () => {
	const logs = fs.readFileSync(path.join(d.dir, 'daemon.log'), 'utf8');
	assert(!logs.includes(SECRET) && !logs.includes(OTHER), 'value in the log');
	const audit = sql(path.join(d.state, 'dataagent.db'), 'SELECT * FROM audit');
	assert(audit.includes('secret.set') && !audit.includes(SECRET) && !audit.includes(OTHER), 'audit');
	for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
		try {
			const c = fs.readFileSync(`/proc/${p}/cmdline`);
			assert(!c.includes(Buffer.from(SECRET)), `in the cmdline of ${p}`);
		} catch (e) {
			if (e.code !== 'ENOENT' && e.code !== 'ESRCH')
				throw e;
		}
	}
});

test('key rotate re-encrypts; a restart with the new key opens everything', async () => {
	const old = fs.readFileSync(d.keyPath);
	const out = await d.ctlOk(['key', 'rotate']);
	assert(/re-encrypted/.test(out), out);
	assert(!fs.readFileSync(d.keyPath).equals(old), 'key unchanged');
	assert(!fs.existsSync(d.keyPath + '.new'), '.new left');
	await d.kill();
	await d.start();
	const t = (await d.ctlOk(['token', 'issue', 'alice'])).trim();
	const r = await until(async () => { const x = await d.fetch('/api/v1/users/alice/tools/uses/get-env',
	    { token: t, method: 'POST', body: {} }); return x.status === 200 && x; }, 15000, 'after restart');
	eq(JSON.parse((await r.json()).result.content[0].text).API_TOKEN, SECRET);
});

// ------------------------------------------------------ start-up and key

async function refused(what) {
	let e = null;
	try {
		await d.start();
	} catch (x) {
		e = x;
	}
	assert(e, `started ${what}`);
	return String(e.message);
}
const aliceEnv = async () => {
	const t = (await d.ctlOk(['token', 'issue', 'alice'])).trim();
	const r = await until(async () => { const x = await d.fetch('/api/v1/users/alice/tools/uses/get-env',
	    { token: t, method: 'POST', body: {} }); return x.status === 200 && x; }, 15000, 'get-env');
	return JSON.parse((await r.json()).result.content[0].text);
};

test('a key file readable by others is refused at start with a clear message', async () => {
	await d.kill();
	fs.chmodSync(d.keyPath, 0o644);
	const msg = await refused('with a 0644 key');
	assert(/master key .*mode 0644 lets group or others read or write it/.test(msg), msg);
	fs.chmodSync(d.keyPath, 0o600);
	const r = spawnSync(path.join(BUILD, 'dataagentd'), ['-t', '--config', d.confPath],
	    { env: { PATH: process.env.PATH, SECRET_KEY } });
	eq(r.status, 0, r.stderr.toString());
	fs.chmodSync(d.keyPath, 0o640);
	const t = spawnSync(path.join(BUILD, 'dataagentd'), ['-t', '--config', d.confPath],
	    { env: { PATH: process.env.PATH, SECRET_KEY } });
	eq(t.status, 1);
	assert(/mode 0640/.test(t.stderr.toString()), t.stderr.toString());
	fs.chmodSync(d.keyPath, 0o600);
});

test('a store with secrets and no key, or the wrong key, is refused', async () => {
	const saved = fs.readFileSync(d.keyPath);
	fs.renameSync(d.keyPath, d.keyPath + '.away');
	let msg = await refused('without its key');
	assert(/holds \d+ secrets? but there is no master key/.test(msg), msg);
	fs.writeFileSync(d.keyPath, randomBytes(32), { mode: 0o600 });
	msg = await refused('with another key');
	assert(/opens none of the store's/.test(msg), msg);
	fs.rmSync(d.keyPath);
	fs.renameSync(d.keyPath + '.away', d.keyPath);
	assert(fs.readFileSync(d.keyPath).equals(saved));
	await d.start();
	eq((await aliceEnv()).API_TOKEN, SECRET);
});

test('key generate writes a 0600 32-byte key and never overwrites', async () => {
	const p = path.join(d.dir, 'gen.key');
	await d.ctlOk(['key', 'generate', p]);
	const st = fs.statSync(p);
	eq([st.size, st.mode & 0o777], [32, 0o600]);
	const again = await d.ctl(['key', 'generate', p]);
	assert(again.code !== 0 && /refusing to overwrite/.test(again.stderr), again.stderr);
});

// Killed mid-rotation (DATAAGENT_TEST_ROTATE_DELAY_MS makes it pause after
// each row and after the commit): nothing is lost either way.
async function rotateAndKill(logMsg) {
	await d.kill();
	d.opts.env = { DATAAGENT_TEST_ROTATE_DELAY_MS: '1000' };
	await d.start();
	d.opts.env = {};
	const pending = d.ctl(['key', 'rotate']);
	await until(() => d.logs.find((l) => l.msg === logMsg), 15000, logMsg);
	await d.kill();
	await pending;
}

test('killed while re-encrypting: the old key still opens everything', async () => {
	const old = fs.readFileSync(d.keyPath);
	await rotateAndKill('key rotation: new key written, re-encrypting');
	assert(fs.existsSync(d.keyPath + '.new'), 'no .new left to recover');
	await d.start();
	assert(d.logs.some((l) => /removed the new key of an interrupted key rotation/.test(l.msg)), 'no recovery log');
	assert(fs.readFileSync(d.keyPath).equals(old), 'key changed');
	assert(!fs.existsSync(d.keyPath + '.new'), '.new left');
	eq((await aliceEnv()).API_TOKEN, SECRET);
});

test('killed between commit and rename: the next start finishes the rotation', async () => {
	const old = fs.readFileSync(d.keyPath);
	await rotateAndKill('key rotation: committed, renaming the new key into place');
	const fresh = fs.readFileSync(d.keyPath + '.new');
	await d.start();
	assert(d.logs.some((l) => /completed an interrupted key rotation/.test(l.msg)), 'no recovery log');
	assert(fs.readFileSync(d.keyPath).equals(fresh) && !fresh.equals(old), 'new key not in place');
	eq((await aliceEnv()).API_TOKEN, SECRET);
	const logs = fs.readFileSync(path.join(d.dir, 'daemon.log'), 'utf8');
	assert(!logs.includes(SECRET), 'value in the log');
});

test('REST writes past the tenant bounds: 507 past tenant_max_secrets and tenant_max_servers, 413 over secret_max_size, 429 over tenant_store_rate; the admin is not bound by the counts', async () => {
	const e = new Daemon({ workers: 1, uid_base: 68500, config: { tenant_max_secrets: 3,
	    tenant_max_servers: 1, secret_max_size: 64, tenant_store_rate: 1, tenant_store_burst: 6 } });
	await e.start();
	try {
		const t = await e.tenant('carol', {});	// CANARY: one secret
		const put = async (name, value) => {
			const r = await e.fetch(`/api/v1/users/carol/secrets/${name}`, { token: t, method: 'PUT',
			    body: { value } });
			return [r.status, (await r.json()).error];
		};
		const srv = async (name) => {
			const r = await e.fetch('/api/v1/users/carol/mcp-servers', { token: t, method: 'POST',
			    body: { name, command: EVERYTHING[0], args: EVERYTHING.slice(1) } });
			return [r.status, (await r.json()).error];
		};
		eq(await put('A', 'x'.repeat(64)), [200, undefined]);
		eq(await put('B', 'b'), [200, undefined]);
		eq(await put('C', 'c'), [507, 'quota reached: at most 3 secrets a tenant (tenant_max_secrets)']);
		eq(await put('A', 'again'), [200, undefined], 'replacing one is no new one');
		eq(await put('D', 'x'.repeat(65)), [413, 'value too large: at most 64 bytes (secret_max_size)']);
		eq(await srv('one'), [201, undefined]);
		// The burst of 6 is spent: of 5 at once, at most a token's worth
		// meets the server quota, the rest the rate.
		const all = await Promise.all(['two', 'three', 'four', 'five', 'six'].map(srv));
		const rate = all.filter(([s, m]) => s === 429 &&
		    m === 'too many store requests: at most 1 a second (tenant_store_rate)').length;
		const quota = all.filter(([s, m]) => s === 507 &&
		    m === 'quota reached: at most 1 servers a tenant (tenant_max_servers)').length;
		assert(rate >= 3 && rate + quota === 5, JSON.stringify(all));
		eq(JSON.parse(await e.ctlOk(['--json', 'secret', 'list', 'carol'])).map((x) => x.name).sort(),
		    ['A', 'B', 'CANARY']);
		// The admin may go past the counts, not past the size.
		await e.ctlOk(['secret', 'set', 'carol', 'ADMIN'], 'v');
		const big = await e.ctl(['secret', 'set', 'carol', 'BIG'], 'x'.repeat(65));
		eq([big.code, big.stderr], [1, 'dataagentctl: value too large: at most 64 bytes (secret_max_size)\n']);
		await e.ctlOk(['server', 'add', 'carol', 'admin2', '--', ...EVERYTHING]);
		const text = await (await e.metrics()).text();
		for (const [reason, n] of [['secrets', 1], ['secret_size', 1], ['servers', quota], ['rate', rate]])
			assert(text.includes(`dataagent_store_requests_refused_total{user_id="carol",reason="${reason}"} ${n}`) ||
			    n === 0, `${reason} ${n}: ${text.split('\n').filter((l) => l.includes('refused_total{')).join(' ')}`);
	} finally {
		await e.stop();
	}
});

const failed = await run(import.meta.url);
await d.stop();
process.exit(failed ? 1 : 0);
