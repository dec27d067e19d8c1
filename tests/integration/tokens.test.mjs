// tokens.test.mjs: the front door's token kinds, through a real
// dataagentd and real HTTP. RS256 and ES256 tokens (keys made here with
// node:crypto, given as PEM files and as a JWKS file), everything that
// must fail (wrong kid, alg confusion, alg none, a DER ES256 signature,
// a tampered payload, times, iss, aud), revocation by jti (including a
// keep-alive connection the worker already serves), key reload on
// SIGHUP, Host and Origin against allowed_hosts, and the OAuth
// protected-resource metadata with the WWW-Authenticate that points to
// it. Tenant uids from 70000 (and 70500 for the second daemon).
import { createHmac, generateKeyPair, sign as cryptoSign } from 'node:crypto';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, BUILD, MEMORY, SECRET_KEY, assert, eq, jwt, now, run, sleep,
    test, until } from './lib.mjs';

const ISS = 'https://idp.test';
const AUD = 'dataagent';
const RESOURCE = 'https://mcp.example.com';

const b64u = (b) => Buffer.from(b).toString('base64url');
// Made off the event loop (in libuv's pool), so the case timer still
// runs if OpenSSL is slow on a loaded machine.
const keypair = (kind) => kind === 'rsa' ?
    promisify(generateKeyPair)('rsa', { modulusLength: 2048 }) :
    promisify(generateKeyPair)('ec', { namedCurve: 'P-256' });
const pem = (k) => k.publicKey.export({ type: 'spki', format: 'pem' });

const keys = {
	r1: 'rsa',	// PEM, kid r1, alg RS256 given
	e1: 'ec',	// PEM, kid e1, alg inferred
	jr: 'rsa',	// JWKS
	je: 'ec',	// JWKS
	r2: 'rsa',	// added by a reload
};

// A compact JWS. alg RS256/ES256 sign with a private key, HS256 with a
// byte string; der: an ES256 signature left in DER.
function sign(payload, { alg, kid, key, der = false, header = {} }) {
	const h = { alg, typ: 'JWT', ...(kid ? { kid } : {}), ...header };
	const input = b64u(JSON.stringify(h)) + '.' + b64u(JSON.stringify(payload));
	let sig = Buffer.alloc(0);
	if (alg === 'RS256')
		sig = cryptoSign('sha256', Buffer.from(input), key);
	else if (alg === 'ES256')
		sig = cryptoSign('sha256', Buffer.from(input),
		    { key, dsaEncoding: der ? 'der' : 'ieee-p1363' });
	else if (alg === 'HS256')
		sig = createHmac('sha256', key).update(input).digest();
	return input + '.' + b64u(sig);
}
let seq = 0;
const claims = (extra = {}) => ({ sub: 'alice', iss: ISS, aud: AUD,
    iat: now(), exp: now() + 600, jti: `t-${process.pid}-${++seq}`, ...extra });
const rs = (extra, kid = 'r1', k = keys.r1) =>
    sign(claims(extra), { alg: 'RS256', kid, key: k.privateKey });
const es = (extra, kid = 'e1', k = keys.e1) =>
    sign(claims(extra), { alg: 'ES256', kid, key: k.privateKey });

let d, dir;

function writeKeys(pemList, jwksKeys) {
	for (const [name, k] of Object.entries(keys))
		fs.writeFileSync(path.join(dir, `${name}.pem`), pem(k));
	fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: jwksKeys }));
	return pemList;
}
const jwk = (k, kid, extra = {}) => ({ ...k.publicKey.export({ format: 'jwk' }),
    kid, use: 'sig', ...extra });

// GET a tenant REST path with a token on a fresh connection.
async function get(token, { tenant = 'alice', headers = {} } = {}) {
	return d.fetch(`/api/v1/users/${tenant}/mcp-servers`, { token, headers });
}
async function status(token, opts) {
	const r = await get(token, opts);
	await r.arrayBuffer();
	return r.status;
}

test('setup: a daemon with PEM keys, a JWKS, iss, aud, allowed_hosts and OAuth metadata', async () => {
	await Promise.all(Object.entries(keys).map(async ([name, kind]) => {
		keys[name] = await keypair(kind);
	}));
	dir = fs.mkdtempSync('/tmp/dataagent-tokens-');
	fs.chmodSync(dir, 0o755);
	writeKeys(null, [jwk(keys.jr, 'jr', { alg: 'RS256' }), jwk(keys.je, 'je')]);
	d = new Daemon({ uid_base: 70000, config: {
		jwt_public_keys: `r1:RS256=${dir}/r1.pem, e1=${dir}/e1.pem`,
		jwt_jwks_file: `${dir}/jwks.json`,
		jwt_issuer: ISS,
		jwt_audience: AUD,
		max_token_ttl: 7200,
		allowed_hosts: 'mcp.example.com, .corp.test',
		oauth_resource: RESOURCE,
		oauth_authorization_servers: `${ISS}, https://idp2.test/realms/x`,
	} });
	await d.start();
	await d.tenant('alice', { memory: MEMORY });
	await d.tenant('bob');
	const l = d.logs.find((x) => x.msg === 'token keys loaded');
	assert(l, 'no "token keys loaded" log line');
	eq(l.keys.map((k) => `${k.kid}:${k.alg}`),
	    [':HS256', 'r1:RS256', 'e1:ES256', 'jr:RS256', 'je:ES256'], 'keys');
});

test('RS256 and ES256 tokens are accepted with the right kid (PEM and JWKS)', async () => {
	eq(await status(rs()), 200, 'RS256, PEM r1');
	eq(await status(es()), 200, 'ES256, PEM e1');
	eq(await status(rs({}, 'jr', keys.jr)), 200, 'RS256, JWKS jr');
	eq(await status(es({}, 'je', keys.je)), 200, 'ES256, JWKS je');
	eq(await status(rs({ aud: ['other', AUD] })), 200, 'aud as an array');
	// dataagent's own HS256 tokens still work (no iss/aud needed)
	const own = (await d.ctlOk(['token', 'issue', 'alice'])).trim();
	eq(await status(own), 200, 'HS256 from token issue');
});

async function expect401(token, why, what) {
	const r = await get(token);
	const body = await r.json();
	eq(r.status, 401, what);
	eq(body.error_description, why, `${what}: reason`);
	const wa = r.headers.get('www-authenticate') || '';
	assert(wa.includes(`error_description="${why}"`), `${what}: WWW-Authenticate ${wa}`);
}

test('a wrong or unknown kid is 401', async () => {
	await expect401(rs({}, 'nope'), 'kid', 'unknown kid');
	await expect401(rs({}, 'e1'), 'alg', 'RS256 token naming an EC key');
	await expect401(rs({}, 'jr'), 'signature', 'RS256 under another RSA key');
	await expect401(sign(claims(), { alg: 'RS256', key: keys.r1.privateKey }),
	    'kid', 'RS256 without kid (every RSA key has one)');
});

test('alg confusion: HS256 signed with the RSA public PEM is 401', async () => {
	const pub = pem(keys.r1);
	await expect401(sign(claims(), { alg: 'HS256', kid: 'r1', key: pub }), 'alg',
	    'HS256 with kid r1');
	await expect401(sign(claims(), { alg: 'HS256', key: pub }), 'signature',
	    'HS256 without kid');
	await expect401(sign(claims(), { alg: 'HS256', key: Buffer.from(
	    keys.r1.publicKey.export({ type: 'pkcs1', format: 'der' })) }),
	    'signature', 'HS256 keyed with the DER public key');
});

test('alg none is 401, with or without kid', async () => {
	await expect401(sign(claims(), { alg: 'none' }), 'alg', 'none');
	await expect401(sign(claims(), { alg: 'none', kid: 'r1' }), 'alg', 'none, kid');
	await expect401(jwt(claims(), { header: { alg: 'none' }, sign: false }), 'alg',
	    'none via lib');
});

test('an ES256 signature in DER instead of r||s is 401', async () => {
	const t = sign(claims(), { alg: 'ES256', kid: 'e1', key: keys.e1.privateKey,
	    der: true });
	await expect401(t, 'signature', 'DER');
});

test('a tampered payload is 401', async () => {
	const t = rs();
	const [h, , s] = t.split('.');
	const evil = b64u(JSON.stringify(claims({ sub: 'bob' })));
	await expect401(`${h}.${evil}.${s}`, 'signature', 'payload swapped');
	const sig = Buffer.from(s, 'base64url');
	sig[10] ^= 1;
	await expect401(`${h}.${t.split('.')[1]}.${b64u(sig)}`, 'signature', 'bit flipped');
});

test('expired and not-yet-valid tokens are 401', async () => {
	await expect401(rs({ exp: now() - 120 }), 'expired', 'expired');
	await expect401(es({ nbf: now() + 600 }), 'not_yet_valid', 'nbf');
	eq(await status(rs({ nbf: now() - 5 })), 200, 'nbf in the past');
});

test('a token without jti is 401 (it could never be revoked), public-key or HS256', async () => {
	await expect401(rs({ jti: undefined }), 'no_jti', 'RS256 without jti');
	await expect401(jwt({ sub: 'alice', iat: now(), exp: now() + 60, jti: undefined }),
	    'no_jti', 'HS256 without jti');
});

test('a token living longer than max_token_ttl (7200 s here) is 401', async () => {
	eq(await status(rs({ iat: now(), exp: now() + 7200 })), 200, 'exactly max_token_ttl');
	await expect401(rs({ iat: now(), exp: now() + 7201 }), 'ttl', 'exp - iat over');
	// issued long ago: what is left is short, but the lifetime counts
	await expect401(es({ iat: now() - 7000, exp: now() + 600 }), 'ttl', 'old iat');
	// no iat: exp - now counts (with the 30 s leeway)
	eq(await status(rs({ iat: undefined, exp: now() + 7200 })), 200, 'no iat, in bound');
	await expect401(rs({ iat: undefined, exp: now() + 7300 }), 'ttl', 'no iat, over');
	// iat in the future does not stretch the bound
	await expect401(rs({ iat: now() + 86400, exp: now() + 86400 + 60 }), 'ttl',
	    'iat in the future');
	await expect401(jwt({ sub: 'alice', iat: now(), exp: now() + 8000 }), 'ttl',
	    'HS256 too');
	const r = await d.ctl(['token', 'issue', 'alice', '--ttl', '3h']);
	eq(r.code, 1, 'token issue over max_token_ttl');
	assert(/between 1 and 7200 seconds/.test(r.stderr), r.stderr);
});

test('no_jti and ttl refusals are counted in /metrics', async () => {
	const m = await (await d.metrics()).text();
	const val = (reason) => Number((new RegExp(
	    `^dataagent_auth_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m) || [])[1]);
	eq([val('no_jti'), val('ttl')], [2, 5], `counts: ${m.split('\n')
	    .filter((l) => l.startsWith('dataagent_auth_failures_total')).join('; ')}`);
});

test('a wrong iss or aud is 401', async () => {
	await expect401(rs({ iss: 'https://evil.test' }), 'issuer', 'iss');
	await expect401(rs({ iss: undefined }), 'issuer', 'no iss');
	await expect401(es({ aud: 'someone-else' }), 'audience', 'aud');
	await expect401(es({ aud: ['a', 'b'] }), 'audience', 'aud array');
});

// One keep-alive connection: send() writes a request and resolves with
// the next whole response; `closed` resolves when the server closes.
function keepAlive(port) {
	const s = net.connect(port, '127.0.0.1');
	let buf = Buffer.alloc(0), waiter = null;
	const closed = new Promise((r) => s.on('close', () => r(true)));
	s.on('error', () => {});
	const tryParse = () => {
		const i = buf.indexOf('\r\n\r\n');
		if (i < 0 || !waiter)
			return;
		const head = buf.slice(0, i).toString('latin1');
		const m = /content-length:\s*(\d+)/i.exec(head);
		const len = m ? Number(m[1]) : 0;
		if (buf.length < i + 4 + len)
			return;
		const body = buf.slice(i + 4, i + 4 + len).toString();
		buf = buf.slice(i + 4 + len);
		const w = waiter;
		waiter = null;
		w({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)[1]), head, body });
	};
	s.on('data', (c) => { buf = Buffer.concat([buf, c]); tryParse(); });
	return {
		closed,
		send(req) {
			return new Promise((resolve) => {
				waiter = resolve;
				s.write(req);
				tryParse();
			});
		},
		end() { s.destroy(); },
	};
}
const reqFor = (token, host = 'localhost') =>
    `GET /api/v1/users/alice/mcp-servers HTTP/1.1\r\nHost: ${host}\r\n` +
    `Authorization: Bearer ${token}\r\n\r\n`;

test('a revoked jti is 401, and a keep-alive connection using it is closed', async () => {
	const jti = `rev-${process.pid}`;
	const t = rs({ jti });
	const c = keepAlive(d.port);
	eq((await c.send(reqFor(t))).status, 200, 'first request');
	eq((await c.send(reqFor(t))).status, 200, 'second request, same connection (worker)');
	const out = await d.ctlOk(['token', 'revoke', jti]);
	assert(out.includes(`token ${jti} revoked`), out);
	const closed = await Promise.race([c.closed, sleep(5000).then(() => false)]);
	assert(closed, 'the worker did not close the connection of the revoked token');
	await expect401(t, 'revoked', 'revoked token on a new connection');
	assert(d.logs.some((l) => l.msg === 'connections of a revoked token closed' &&
	    l.connections >= 1), 'worker log line');
	// another token of the same tenant is untouched
	eq(await status(rs()), 200, 'another jti');
	const list = await d.ctlOk(['--json', 'token', 'revoked']);
	const rows = JSON.parse(list);
	const row = rows.find((x) => x.jti === jti);
	assert(row && row.tenant === null && row.expires >= now() + 500, `revoked list ${list}`);
	const text = await d.ctlOk(['token', 'revoked']);
	assert(text.includes(jti) && /^JTI/.test(text), text);
});

test('token issue puts a random jti in the token and prints it; revoke --tenant', async () => {
	const r = await d.ctl(['token', 'issue', 'alice', '--ttl', '10m']);
	eq(r.code, 0, `token issue: ${r.stderr}`);
	const tok = r.stdout.trim();
	assert(!tok.includes('\n'), 'stdout is the token alone');
	const m = /^jti ([0-9a-f]{32})$/m.exec(r.stderr);
	assert(m, `no jti on stderr: ${r.stderr}`);
	const payload = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url'));
	eq(payload.jti, m[1], 'jti in the token');
	const r2 = await d.ctl(['--json', 'token', 'issue', 'alice']);
	const j2 = JSON.parse(r2.stdout);
	assert(j2.jti && j2.jti !== m[1] && j2.jti.length === 32, 'a fresh jti each time');
	eq(await status(tok), 200, 'issued token works');
	// a revocation for another tenant leaves alice's token alone
	await d.ctlOk(['token', 'revoke', m[1], '--tenant', 'bob']);
	eq(await status(tok), 200, 'revoked for bob only');
	await d.ctlOk(['token', 'revoke', m[1], '--tenant', 'alice']);
	await expect401(tok, 'revoked', 'revoked for alice');
	const bad = await d.ctl(['token', 'revoke', 'x', '--tenant', 'no/such']);
	eq(bad.code, 1, 'bad tenant name refused');
	const usage = await d.ctl(['token', 'revoked', '--tenant', 'alice']);
	eq(usage.code, 2, '--tenant belongs to token revoke');
});

test('revocations survive a restart', async () => {
	const jti = `persist-${process.pid}`;
	const t = es({ jti });
	eq(await status(t), 200, 'before');
	await d.ctlOk(['token', 'revoke', jti]);
	await d.kill();
	await d.start();
	await expect401(t, 'revoked', 'after restart');
	eq(await status(es()), 200, 'others still work');
});

test('dataagentd -t loads and checks the keys', async () => {
	const runT = (conf) => new Promise((resolve) => {
		execFile(path.join(BUILD, 'dataagentd'), ['-t', '--config', conf],
		    { env: { PATH: process.env.PATH, SECRET_KEY } },
		    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
	let r = await runT(d.confPath);
	eq(r.code, 0, `-t: ${r.stderr}`);
	assert(/5 token keys loaded/.test(r.stdout), r.stdout);
	const bad = path.join(dir, 'bad.conf');
	fs.writeFileSync(bad, fs.readFileSync(d.confPath, 'utf8') +
	    `jwt_public_keys = r9=${dir}/missing.pem\n`);
	r = await runT(bad);
	eq(r.code, 1, '-t with a missing PEM');
	assert(/missing\.pem/.test(r.stderr), r.stderr);
	fs.writeFileSync(bad, fs.readFileSync(d.confPath, 'utf8') +
	    `jwt_public_keys = r1=${dir}/jwks.json\n`);
	r = await runT(bad);
	eq(r.code, 1, '-t with a JWKS where a PEM belongs');
});

function setConf(key, value) {
	const lines = fs.readFileSync(d.confPath, 'utf8').split('\n')
	    .filter((l) => !l.startsWith(`${key} =`));
	lines.push(`${key} = ${value}`);
	fs.writeFileSync(d.confPath, lines.join('\n') + '\n');
}
async function reload() {
	const n = d.logs.length;
	d.proc.kill('SIGHUP');
	return until(() => d.logs.slice(n).find((l) => l.msg === 'configuration reloaded' ||
	    l.msg === 'reload failed, keeping the running configuration'), 10000, 'reload');
}

test('SIGHUP reloads the keys: a new key works, a removed key fails', async () => {
	const before = es();
	eq(await status(before), 200, 'e1 before');
	eq(await status(rs({}, 'r2', keys.r2)), 401, 'r2 unknown before');
	setConf('jwt_public_keys', `r1:RS256=${dir}/r1.pem, r2=${dir}/r2.pem`);
	const n = d.logs.length;
	await reload();
	assert(d.logs.slice(n).some((l) => l.msg === 'token keys reloaded'), 'keys reloaded log');
	eq(await status(rs({}, 'r2', keys.r2)), 200, 'r2 after');
	await expect401(es(), 'kid', 'e1 removed');
	eq(await status(rs()), 200, 'r1 kept');
	eq(await status(es({}, 'je', keys.je)), 200, 'JWKS kept');
});

test('a bad key file on reload keeps the running keys and says why', async () => {
	fs.writeFileSync(path.join(dir, 'jwks.json'), '{"keys": [ {"kty": "RSA", "n": "AQAB"');
	const n = d.logs.length;
	await reload();
	const l = d.logs.slice(n).find((x) => x.msg === 'reload: keeping the running token keys');
	assert(l && /jwks\.json/.test(l.error), `no reason logged: ${JSON.stringify(d.logs.slice(n))}`);
	eq(await status(es({}, 'je', keys.je)), 200, 'old JWKS key still works');
	eq(await status(rs({}, 'r2', keys.r2)), 200, 'old PEM key still works');
	// a JWKS with a private member is refused as well
	fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [
	    keys.jr.privateKey.export({ format: 'jwk' })] }));
	const n2 = d.logs.length;
	await reload();
	assert(d.logs.slice(n2).some((x) => x.msg === 'reload: keeping the running token keys' &&
	    /private/.test(x.error)), 'private JWK refused');
	// put the good one back: the next reload takes it
	fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk(keys.jr, 'jr')] }));
	await reload();
	await expect401(es({}, 'je', keys.je), 'kid', 'je gone with the new JWKS');
	eq(await status(rs({}, 'jr', keys.jr)), 200, 'jr still there');
});

async function rawStatus(head) {
	const r = await d.raw(head + 'Connection: close\r\n\r\n');
	return r.status;
}

test('Host and Origin: 403 for names not allowed, OK for allowed ones and loopback', async () => {
	const t = rs();
	const req = (extra) => `GET /api/v1/users/alice/mcp-servers HTTP/1.1\r\n` +
	    `Authorization: Bearer ${t}\r\n${extra}`;
	eq(await rawStatus(req('Host: evil.example\r\n')), 403, 'evil Host');
	eq(await rawStatus(req('Host: evil.example:8000\r\n')), 403, 'evil Host with port');
	eq(await rawStatus(req('Host: mcp.example.com\r\n')), 200, 'allowed Host');
	eq(await rawStatus(req('Host: MCP.example.com.:443\r\n')), 200, 'case, dot, port');
	eq(await rawStatus(req('Host: api.corp.test\r\n')), 200, '.corp.test entry');
	eq(await rawStatus(req('Host: localhost:1234\r\n')), 200, 'localhost');
	eq(await rawStatus(req(`Host: 127.0.0.1:${d.port}\r\n`)), 200, 'loopback address');
	eq(await rawStatus(req('Host: 192.0.2.7\r\n')), 200, 'an IP literal cannot be rebound');
	eq(await rawStatus(req('Host: localhost\r\nOrigin: http://evil.example\r\n')), 403,
	    'evil Origin');
	eq(await rawStatus(req('Host: localhost\r\nOrigin: null\r\n')), 403, 'Origin null');
	eq(await rawStatus(req('Host: localhost\r\nOrigin: https://mcp.example.com\r\n')), 200,
	    'allowed Origin');
	eq(await rawStatus(req('Host: localhost\r\nOrigin: http://localhost:3000\r\n')), 200,
	    'loopback Origin');
	eq(await rawStatus('GET /health HTTP/1.1\r\nHost: evil.example\r\n'), 403,
	    'health under an evil Host');
	eq(await rawStatus('GET /health HTTP/1.1\r\nHost: mcp.example.com\r\n'), 200,
	    'health under an allowed Host');
	const body = (await d.raw(req('Host: evil.example\r\nConnection: close\r\n\r\n'))).body;
	eq(JSON.parse(body).error, 'host not allowed', '403 body');
});

test('the worker applies the same Host/Origin rules on a keep-alive connection', async () => {
	const t = rs();
	const c = keepAlive(d.port);
	eq((await c.send(reqFor(t, 'mcp.example.com'))).status, 200, 'first (supervisor)');
	eq((await c.send(reqFor(t, 'evil.example'))).status, 403, 'second (worker), evil Host');
	const closed = await Promise.race([c.closed, sleep(3000).then(() => false)]);
	assert(closed, 'connection closed after 403');
	const c2 = keepAlive(d.port);
	eq((await c2.send(reqFor(t))).status, 200, 'first');
	const r = await c2.send(`POST /api/v1/users/alice/mcp HTTP/1.1\r\nHost: localhost\r\n` +
	    `Authorization: Bearer ${t}\r\nOrigin: http://evil.example\r\n` +
	    `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
	    `Content-Length: 2\r\n\r\n{}`);
	eq(r.status, 403, 'evil Origin on the worker');
	c2.end();
});

test('OAuth protected-resource metadata and the WWW-Authenticate that points to it', async () => {
	let r = await d.fetch('/.well-known/oauth-protected-resource');
	eq(r.status, 200, 'root metadata');
	let md = await r.json();
	eq(md.resource, RESOURCE, 'resource');
	eq(md.authorization_servers, [ISS, 'https://idp2.test/realms/x'], 'authorization_servers');
	eq(md.bearer_methods_supported, ['header'], 'bearer methods');
	r = await d.fetch('/.well-known/oauth-protected-resource/api/v1/users/alice/mcp');
	eq(r.status, 200, 'path-suffixed metadata');
	md = await r.json();
	eq(md.resource, `${RESOURCE}/api/v1/users/alice/mcp`, 'suffixed resource');
	r = await d.fetch('/.well-known/oauth-protected-resource/etc/passwd');
	eq(r.status, 404, 'a suffix that is no tenant path');
	await r.arrayBuffer();
	r = await d.fetch('/.well-known/oauth-protected-resource', { method: 'POST', body: '' });
	eq(r.status, 405, 'POST');
	await r.arrayBuffer();
	r = await d.fetch('/api/v1/users/alice/mcp', { method: 'POST', body: {} });
	eq(r.status, 401, 'no token');
	await r.arrayBuffer();
	const wa = r.headers.get('www-authenticate');
	eq(wa, `Bearer error="invalid_token", error_description="a bearer token is required", ` +
	    `resource_metadata="${RESOURCE}/.well-known/oauth-protected-resource/api/v1/users/alice/mcp"`,
	    'WWW-Authenticate');
});

test('the MCP SDK client works with an RS256 token', async () => {
	const client = await d.mcp('alice', rs({ exp: now() + 3600 }));
	const tools = await client.listTools();
	assert(tools.tools.some((x) => x.name.startsWith('memory__')),
	    `tools: ${tools.tools.map((x) => x.name)}`);
	await client.close();
	const client2 = await d.mcp('alice', es({ exp: now() + 3600 }, 'r2', keys.r2))
	    .catch((e) => e);
	assert(client2 instanceof Error, 'an ES256 token naming an RSA key must not connect');
});

test('public keys without jwt_issuer or jwt_audience: dataagentd refuses to start', async () => {
	for (const extra of [{}, { jwt_issuer: ISS }, { jwt_audience: AUD }]) {
		const d3 = new Daemon({ uid_base: 70500, config: {
			jwt_jwks_file: `${dir}/jwks.json`, ...extra } });
		const started = await d3.start().then(() => true, () => false);
		const e = await d3.exited;
		await d3.stop();
		assert(!started, `started with ${JSON.stringify(extra)}`);
		eq(e.code, 1, `exit status with ${JSON.stringify(extra)}`);
		assert(d3.logs.some((l) => /jwt_jwks_file is set: jwt_issuer and jwt_audience are required/
		    .test(l.msg + ' ' + (l.error || ''))), JSON.stringify(d3.logs));
	}
});

test('without oauth_resource and secret_key: 404 metadata, plain challenge, no token issue', async () => {
	const d2 = new Daemon({ uid_base: 70500, env: { SECRET_KEY: '' }, config: {
		jwt_public_keys: `r1=${dir}/r1.pem`,
		jwt_issuer: ISS,
		jwt_audience: AUD,
	} });
	try {
		await d2.start();
		let r = await d2.fetch('/.well-known/oauth-protected-resource');
		eq(r.status, 404, 'metadata not configured');
		await r.arrayBuffer();
		await d2.ctlOk(['tenant', 'add', 'alice']);
		r = await d2.fetch('/api/v1/users/alice/mcp-servers');
		eq(r.status, 401, 'no token');
		await r.arrayBuffer();
		eq(r.headers.get('www-authenticate'),
		    'Bearer error="invalid_token", error_description="a bearer token is required"',
		    'no resource_metadata');
		const i = await d2.ctl(['token', 'issue', 'alice']);
		eq(i.code, 1, 'token issue without secret_key');
		assert(/no secret_key/.test(i.stderr), i.stderr);
		r = await d2.fetch('/api/v1/users/alice/mcp-servers',
		    { token: sign(claims(), { alg: 'RS256', kid: 'r1',
			key: keys.r1.privateKey }) });
		eq(r.status, 200, 'RS256 on a daemon without secret_key');
		await r.arrayBuffer();
		// an HS256 token keyed with the empty secret or the PEM fails
		r = await d2.fetch('/api/v1/users/alice/mcp-servers',
		    { token: jwt({ sub: 'alice', exp: now() + 60 }, { key: '' }) });
		eq(r.status, 401, 'HS256 with no secret_key configured');
		await r.arrayBuffer();
		// Host: loopback only when allowed_hosts is empty
		eq((await d2.raw('GET /health HTTP/1.1\r\nHost: mcp.example.com\r\n\r\n')).status,
		    403, 'a name not listed');
	} finally {
		await d2.stop();
	}
});

test('teardown', async () => {
	await d.stop();
	fs.rmSync(dir, { recursive: true, force: true });
});

const failed = await run(import.meta.url);
process.exit(failed ? 1 : 0);
