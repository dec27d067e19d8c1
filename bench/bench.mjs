// bench.mjs: dataagent against a direct connection to the same upstream,
// in one run, with the official SDK client. Loops are bounded and all
// traffic stays on 127.0.0.1.
//
//   1. server-everything `echo` over stdio directly vs through dataagent
//      (Streamable HTTP), at concurrency 1 and 16: calls/s, p50, p99
//   2. RSS of one idle tenant worker
//   3. RSS with 100 tenants provisioned and 10 active
//   4. authenticated handoffs per second (new connection + token each)
//   5. a cold tenant's first request (from a spare, no upstream spawn)
//      with tenant_network = host, none and egress: what a namespace
//      (and a veth pair with its nftables rules) costs
//   6. wrk (a C load generator) at 16 connections: tool calls on
//      keep-alive connections (REST and the MCP endpoint), a new
//      connection per request (handoff), against nginx answering a
//      fixed body on the same box, keep-alive and close
//      (BENCH_ONLY=wrk for this table alone)
//   7. handoff = direct against handoff = relay, with wrk at 16
//      connections on GET mcp-servers (served by the worker, no
//      upstream): keep-alive, a new connection per request, two tenants
//      alternating on every connection, and the same through nginx with
//      the shipped packaging/nginx/dataagent.conf (upstream keep-alive)
//      (BENCH_ONLY=handoff for this table alone)
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Daemon, sdk, EVERYTHING, processesOf, sleep, PEERS } from '../tests/integration/lib.mjs';

const CALLS = Number(process.env.BENCH_CALLS || 2000);
const HANDOFFS = Number(process.env.BENCH_HANDOFFS || 20000);

function pct(a, p) {
	const s = [...a].sort((x, y) => x - y);
	return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

async function drive(clients, calls) {
	const lat = [];
	let next = 0;
	const t0 = process.hrtime.bigint();
	await Promise.all(clients.map(async (c) => {
		while (next < calls) {
			next++;
			const s = process.hrtime.bigint();
			await c.callTool({ name: c._tool, arguments: { message: 'bench' } });
			lat.push(Number(process.hrtime.bigint() - s) / 1e6);
		}
	}));
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	return { rate: calls / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

async function direct(conc) {
	const { Client } = await sdk();
	const { StdioClientTransport } = await import(
	    `${PEERS}/node_modules/@modelcontextprotocol/sdk/dist/esm/client/stdio.js`);
	// One upstream process, as the gateway has: concurrent callers share it.
	const c = new Client({ name: 'bench-direct', version: '1' });
	await c.connect(new StdioClientTransport({ command: EVERYTHING[0],
	    args: EVERYTHING.slice(1), stderr: 'ignore' }));
	c._tool = 'echo';
	await drive([c], 50);
	const r = await drive(Array(conc).fill(c), CALLS);
	await c.close();
	return r;
}

async function gateway(d, token, conc) {
	const clients = [];
	for (let i = 0; i < conc; i++) {
		const c = await d.mcp('bench', token, `bench-${i}`);
		c._tool = 'everything__echo';
		clients.push(c);
	}
	await drive(clients, 50);
	const r = await drive(clients, CALLS);
	await Promise.all(clients.map((c) => c.close()));
	return r;
}

// The same calls over one keep-alive connection with a minimal HTTP
// client: what the gateway costs without the SDK's HTTP client.
async function rawHttp(d, token, calls) {
	const init = await d.fetch('/api/v1/users/bench/mcp', { token, method: 'POST',
	    headers: { Accept: 'application/json, text/event-stream' },
	    body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: {
		protocolVersion: '2025-06-18', capabilities: {},
		clientInfo: { name: 'bench-raw', version: '1' } } } });
	const sid = init.headers.get('mcp-session-id');
	await init.text();
	const s = net.connect(d.port, '127.0.0.1');
	s.setNoDelay(true);
	await new Promise((r) => s.on('connect', r));
	let buf = '', wake = null;
	s.on('data', (x) => { buf += x; if (wake) wake(); });
	const call = async (i) => {
		const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call',
		    params: { name: 'everything__echo', arguments: { message: 'bench' } } });
		s.write(`POST /api/v1/users/bench/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
		    `Authorization: Bearer ${token}\r\nMcp-Session-Id: ${sid}\r\n` +
		    `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
		    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
		for (;;) {
			const h = buf.indexOf('\r\n\r\n');
			if (h >= 0) {
				const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, h))[1]);
				if (buf.length >= h + 4 + len) {
					buf = buf.slice(h + 4 + len);
					return;
				}
			}
			await new Promise((r) => { wake = r; });
		}
	};
	for (let i = 0; i < 50; i++)
		await call(i);
	const lat = [];
	const t0 = process.hrtime.bigint();
	for (let i = 0; i < calls; i++) {
		const t = process.hrtime.bigint();
		await call(i);
		lat.push(Number(process.hrtime.bigint() - t) / 1e6);
	}
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	s.destroy();
	return { rate: calls / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

// New TCP connection + token for every request: ab (apache2-utils) when
// present, a Node client otherwise (which then is the bottleneck).
function handoffsAb(d, token, n) {
	try {
		const out = execFileSync('ab', ['-q', '-n', String(n), '-c', '32',
		    '-H', `Authorization: Bearer ${token}`,
		    `http://127.0.0.1:${d.port}/api/v1/users/bench/mcp-servers`],
		    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
		const rate = Number(/Requests per second:\s+([\d.]+)/.exec(out)[1]);
		const failed = Number(/Failed requests:\s+(\d+)/.exec(out)[1]);
		const non2xx = Number((/Non-2xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]);
		return { rate, bad: failed + non2xx, tool: 'ab' };
	} catch {
		return null;
	}
}

// RSS counts every shared library page a process touched; PSS splits
// shared pages among their users; private dirty is what one more process
// really costs. All in KiB.
const mem = (pid) => {
	const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
	const f = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t) || [0, 0])[1]);
	return { rss: f('Rss'), pss: f('Pss'), priv: f('Private_Dirty') + f('Private_Clean') };
};
const mib = (k) => (k / 1024).toFixed(2);

function handoffs(d, token, n, conc = 32) {
	const agent = new http.Agent({ keepAlive: false, maxSockets: conc });
	let sent = 0, done = 0, bad = 0;
	const t0 = process.hrtime.bigint();
	return new Promise((resolve) => {
		const one = () => {
			if (sent >= n)
				return;
			sent++;
			const req = http.request({ host: '127.0.0.1', port: d.port, agent,
			    path: '/api/v1/users/bench/mcp-servers',
			    headers: { Authorization: `Bearer ${token}`, Connection: 'close' } },
			(res) => {
				if (res.statusCode !== 200)
					bad++;
				res.resume();
				res.on('end', () => {
					if (++done === n)
						resolve({ rate: n / (Number(process.hrtime.bigint() - t0) / 1e9), bad });
					else
						one();
				});
			});
			req.on('error', () => { bad++; if (++done === n) resolve({ rate: 0, bad }); else one(); });
			req.end();
		};
		for (let i = 0; i < conc; i++)
			one();
	});
}

const ONLY = process.env.BENCH_ONLY || '';
const WRK_SECS = Number(process.env.BENCH_WRK_SECS || 5);

// wrk for WRK_SECS at 16 connections on 2 threads; BENCH_BODY and
// BENCH_HEADERS go to the Lua script. null when wrk is missing.
function wrk(url, script, { body, headers = [], targets = '' } = {}) {
	let out;
	try {
		out = execFileSync('wrk', ['-t2', '-c16', `-d${WRK_SECS}s`, '--latency',
		    '-s', path.join('bench', 'wrk', script), url], { encoding: 'utf8',
		    env: { ...process.env, BENCH_BODY: body || '',
		    BENCH_HEADERS: headers.join('\n'), BENCH_SWITCH: targets },
		    stdio: ['ignore', 'pipe', 'ignore'] });
	} catch {
		return null;
	}
	const ms = (s) => {
		const m = /([\d.]+)(us|ms|s)/.exec(s);
		return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
	};
	const total = Number(/(\d+) requests in/.exec(out)[1]);
	const bad = Number((/Non-2xx or 3xx responses: (\d+)/.exec(out) || [0, 0])[1]) +
	    ['connect', 'read', 'write', 'timeout'].reduce((n, k) =>
		n + Number((new RegExp(`${k} (\\d+)`).exec(out) || [0, 0])[1]), 0);
	return { rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
	    p50: ms(/50%\s+(\S+)/.exec(out)[1]), p99: ms(/99%\s+(\S+)/.exec(out)[1]),
	    total, bad };
}

// nginx with one worker process answering a fixed body: the most a
// single event loop on this box answers, keep-alive and close.
async function nginxFixed() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-bench-nginx-'));
	const port = 20000 + (process.pid % 20000);
	fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path ${dir};
	proxy_temp_path ${dir};
	fastcgi_temp_path ${dir};
	uwsgi_temp_path ${dir};
	scgi_temp_path ${dir};
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:${port};
		location / {
			default_type application/json;
			return 200 '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Echo: bench"}]}}';
		}
	}
}
`);
	const p = spawn('/usr/sbin/nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'),
	    '-g', 'daemon off;'], { stdio: 'ignore' });
	await sleep(500);
	const url = `http://127.0.0.1:${port}/`;
	const ka = wrk(url, 'get.lua');
	const close = wrk(url, 'get.lua', { headers: ['Connection: close'] });
	p.kill('SIGTERM');
	await new Promise((r) => p.on('exit', r));
	fs.rmSync(dir, { recursive: true, force: true });
	return { ka, close };
}

async function wrkTable() {
	if (!fs.existsSync('/usr/sbin/nginx') || !fs.existsSync('/usr/bin/wrk')) {
		console.log('\n(wrk table skipped: wrk or nginx is not installed: make test-deps)');
		return;
	}
	const dw = new Daemon({ workers: 2, config: { log_level: 'info',
	    max_total_connections: 1000, rate_limit_exempt: '127.0.0.0/8' } });
	await dw.start();
	const tok = await dw.tenant('bench', { everything: EVERYTHING });
	const init = await dw.fetch('/api/v1/users/bench/mcp', { token: tok, method: 'POST',
	    headers: { Accept: 'application/json, text/event-stream' },
	    body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: {
		protocolVersion: '2025-06-18', capabilities: {},
		clientInfo: { name: 'bench-wrk', version: '1' } } } });
	const sid = init.headers.get('mcp-session-id');
	await init.text();
	const auth = `Authorization: Bearer ${tok}`;
	const base = `http://127.0.0.1:${dw.port}/api/v1/users/bench`;
	const echo = JSON.stringify({ message: 'bench' });
	wrk(`${base}/tools/everything/echo`, 'post.lua', { body: echo, headers: [auth] });	// warm
	const rows = [];
	const n = await nginxFixed();
	const rest = wrk(`${base}/tools/everything/echo`, 'post.lua', { body: echo, headers: [auth] });
	const mcp = wrk(`${base}/mcp`, 'post.lua', { body: JSON.stringify({ jsonrpc: '2.0',
	    id: 2, method: 'tools/call', params: { name: 'everything__echo',
	    arguments: { message: 'bench' } } }), headers: [auth, `Mcp-Session-Id: ${sid}`,
	    'Accept: application/json, text/event-stream'] });
	const hand = wrk(`${base}/mcp-servers`, 'get.lua', { headers: [auth, 'Connection: close'] });
	await dw.stop();
	const row = (what, r, ref) => rows.push([what, r.rate.toFixed(0), r.p50.toFixed(3),
	    r.p99.toFixed(3), String(r.bad), ref ? `${(r.rate / ref.rate).toFixed(2)}x` : '']);
	row('nginx, fixed body, keep-alive (1 worker process)', n.ka);
	row('dataagent REST tools/call echo, keep-alive', rest, n.ka);
	row('dataagent MCP tools/call echo (session, aggregated), keep-alive', mcp, n.ka);
	row('nginx, fixed body, Connection: close', n.close);
	row('dataagent handoff: new connection + token, GET mcp-servers, close', hand, n.close);
	console.log('');
	console.log(`| wrk, 16 connections, 2 threads, ${WRK_SECS} s each | req/s | p50 ms | p99 ms | errors | vs nginx |`);
	console.log('|---|---|---|---|---|---|');
	for (const r of rows)
		console.log(`| ${r.join(' | ')} |`);
}

if (ONLY === '' || ONLY === 'wrk')
	await wrkTable();

// nginx (one worker process) with the shipped config in front of one
// gateway on gwPort.
async function nginxShipped(gwPort) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataagent-bench-nginx-'));
	const port = 20000 + ((process.pid + 7) % 20000);
	let conf = fs.readFileSync(path.join('packaging', 'nginx', 'dataagent.conf'), 'utf8');
	for (const [from, to] of [['server 192.0.2.11:8000', `server 127.0.0.1:${gwPort}`],
	    ['server 192.0.2.12:8000 max_fails=1 fail_timeout=10s;', ''],
	    ['listen 80;', `listen 127.0.0.1:${port};`]])
		conf = conf.split(from).join(to);
	fs.writeFileSync(path.join(dir, 'dataagent.conf'), conf);
	fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path ${dir};
	proxy_temp_path ${dir};
	fastcgi_temp_path ${dir};
	uwsgi_temp_path ${dir};
	scgi_temp_path ${dir};
	keepalive_requests 1000000;
	include ${dir}/dataagent.conf;
}
`);
	const p = spawn('/usr/sbin/nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'),
	    '-g', 'daemon off;'], { stdio: 'ignore' });
	await sleep(500);
	return { url: `http://127.0.0.1:${port}`, stop: async () => {
		p.kill('SIGTERM');
		await new Promise((r) => p.on('exit', r));
		fs.rmSync(dir, { recursive: true, force: true });
	} };
}

async function handoffTable() {
	if (!fs.existsSync('/usr/sbin/nginx') || !fs.existsSync('/usr/bin/wrk')) {
		console.log('\n(handoff table skipped: wrk or nginx is not installed: make test-deps)');
		return;
	}
	const n = await nginxFixed();
	const res = {};
	for (const mode of ['direct', 'relay']) {
		const dh = new Daemon({ workers: 2, uid_base: 69500, config: { log_level: 'info',
		    max_total_connections: 1000, rate_limit_exempt: '127.0.0.0/8', handoff: mode } });
		await dh.start();
		const ta = await dh.tenant('ba', {}), tb = await dh.tenant('bb', {});
		const pa = '/api/v1/users/ba/mcp-servers', pb = '/api/v1/users/bb/mcp-servers';
		const base = `http://127.0.0.1:${dh.port}`;
		const auth = `Authorization: Bearer ${ta}`;
		const targets = `${pa} ${ta}\n${pb} ${tb}`;
		for (const [p, t] of [[pa, ta], [pb, tb]])	// both workers up
			await (await dh.fetch(p, { token: t })).arrayBuffer();
		const ng = await nginxShipped(dh.port);
		res[mode] = {
			ka: wrk(base + pa, 'get.lua', { headers: [auth] }),
			close: wrk(base + pa, 'get.lua', { headers: [auth, 'Connection: close'] }),
			sw: wrk(base + pa, 'switch.lua', { targets }),
			ngx: wrk(ng.url + pa, 'switch.lua', { targets }),
		};
		await ng.stop();
		await dh.stop();
	}
	const f = (r) => r ? `${r.rate.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.bad}` :
	    'failed | | |';
	console.log('');
	console.log(`| wrk, 16 connections, 2 threads, ${WRK_SECS} s each | direct req/s | p50 ms | p99 ms | errors | ` +
	    'relay req/s | p50 ms | p99 ms | errors | relay vs direct |');
	console.log('|---|---|---|---|---|---|---|---|---|---|');
	for (const [k, what] of [['ka', 'keep-alive, one tenant'],
	    ['close', 'new connection per request (Connection: close)'],
	    ['sw', 'two tenants alternating on every connection'],
	    ['ngx', 'via nginx (shipped config, upstream keep-alive), two tenants alternating']]) {
		const a = res.direct[k], b = res.relay[k];
		console.log(`| ${what} | ${f(a)} | ${f(b)} | ${a && b ? `${(b.rate / a.rate).toFixed(2)}x` : ''} |`);
	}
	console.log(`| nginx, fixed body, keep-alive / close (ceiling) | ${f(n.ka)} | ${f(n.close)} | |`);
}

if (ONLY === '' || ONLY === 'handoff')
	await handoffTable();

// BENCH_ONLY=cold: only the cold-tenant table.
if (ONLY === '') {
// Loopback is exempt from the per-address connection rate here: the
// benchmark opens thousands of connections a second on purpose.
const d = new Daemon({ workers: 2, config: { log_level: 'info', max_total_connections: 1000,
    rate_limit_exempt: '127.0.0.0/8' } });
await d.start();
const token = await d.tenant('bench', { everything: EVERYTHING });
const rows = [];
for (const conc of [1, 16]) {
	const a = await direct(conc);
	const b = await gateway(d, token, conc);
	rows.push([`echo c=${conc} direct stdio`, a.rate.toFixed(0), a.p50.toFixed(3), a.p99.toFixed(3), '']);
	rows.push([`echo c=${conc} via dataagent`, b.rate.toFixed(0), b.p50.toFixed(3), b.p99.toFixed(3),
	    `p50 ${(b.p50 / a.p50).toFixed(2)}x, rate ${(b.rate / a.rate).toFixed(2)}x`]);
	if (conc === 1) {
		const c = await rawHttp(d, token, CALLS);
		rows.push(['echo c=1 via dataagent, minimal HTTP client', c.rate.toFixed(0),
		    c.p50.toFixed(3), c.p99.toFixed(3),
		    `p50 ${(c.p50 / a.p50).toFixed(2)}x (+${(c.p50 - a.p50).toFixed(3)} ms)`]);
	}
}
console.log('| measurement | calls/s | p50 ms | p99 ms | vs direct |');
console.log('|---|---|---|---|---|');
for (const r of rows)
	console.log(`| ${r.join(' | ')} |`);

const benchUid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'bench'])).uid;
await sleep(1500);
const w = processesOf(benchUid).find((p) => p.cmd.includes('dataagent-worker') && p.ppid === d.proc.pid);
const wm = w ? mem(w.pid) : { rss: 0, pss: 0, priv: 0 };
const h = handoffsAb(d, token, HANDOFFS) ||
    { ...(await handoffs(d, token, HANDOFFS)), tool: 'node http' };

// 100 tenants provisioned, 10 of them active (one request each).
const toks = [];
for (let i = 0; i < 100; i++)
	toks.push(await d.tenant(`t${i}`, {}));
for (let i = 0; i < 10; i++)
	await d.fetch(`/api/v1/users/t${i}/mcp-servers`, { token: toks[i] });
await sleep(1000);
// Workers are children of the supervisor; each forks one launcher (the
// same binary) that starts its MCP servers. Both count.
let nworkers = 0, nlaunchers = 0;
const tot = { rss: 0, pss: 0, priv: 0 };
for (let i = 0; i < 120; i++) {
	for (const p of processesOf(61000 + i)) {
		if (!p.cmd.includes('dataagent-worker'))
			continue;
		const m = mem(p.pid);
		tot.rss += m.rss;
		tot.pss += m.pss;
		tot.priv += m.priv;
		if (p.ppid === d.proc.pid)
			nworkers++;
		else
			nlaunchers++;
	}
}
const sm = mem(d.proc.pid);
console.log('');
console.log('| measurement | value |');
console.log('|---|---|');
console.log(`| idle tenant worker (without its launcher) | RSS ${mib(wm.rss)} MiB, PSS ${mib(wm.pss)} MiB, private ${mib(wm.priv)} MiB |`);
console.log(`| authenticated handoffs/s (new connection + token each, ${HANDOFFS} requests, 32 in flight, ${h.tool}) | ${h.rate.toFixed(0)} (errors: ${h.bad}) |`);
console.log(`| 100 tenants provisioned, 10 active: supervisor | RSS ${mib(sm.rss)} MiB, private ${mib(sm.priv)} MiB |`);
console.log(`| same: ${nworkers} tenant workers and their ${nlaunchers} launchers together | RSS ${mib(tot.rss)} MiB, PSS ${mib(tot.pss)} MiB, private ${mib(tot.priv)} MiB |`);
await d.stop();
}

// 5. Cold tenants, one network mode after another, each its own daemon:
// COLD tenants without servers, the first request of each timed, with a
// pause between so a spare is always waiting.
if (ONLY === '' || ONLY === 'cold') {
const COLD = Number(process.env.BENCH_COLD || 20);
const cold = {};
for (const [mode, config] of [['host', {}], ['none', {}],
    ['egress', { tenant_egress_range: '10.217.0.0/24' }]]) {
	const dc = new Daemon({ workers: 2, uid_base: 69000, config: { log_level: 'info',
	    tenant_network: mode, ...config } });
	try {
		await dc.start();
	} catch (e) {
		cold[mode] = { skip: e.message.split('\n')[0] };
		continue;
	}
	const times = [];
	for (let i = 0; i < COLD; i++) {
		const tok = await dc.tenant(`c${i}`, {});
		await sleep(300);
		const t0 = process.hrtime.bigint();
		const r = await dc.fetch(`/api/v1/users/c${i}/mcp-servers`, { token: tok });
		await r.arrayBuffer();
		times.push(Number(process.hrtime.bigint() - t0) / 1e6);
		if (r.status !== 200)
			throw new Error(`cold ${mode}: ${r.status}`);
	}
	await dc.stop();
	times.sort((a, b) => a - b);
	cold[mode] = { p50: pct(times, 0.5), p90: pct(times, 0.9) };
}
console.log('');
console.log(`| cold tenant, first request from a spare (${COLD} tenants, no upstream) | p50 ms | p90 ms | vs host |`);
console.log('|---|---|---|---|');
for (const [mode, c] of Object.entries(cold))
	console.log(c.skip ? `| tenant_network = ${mode} | skipped: ${c.skip} | | |` :
	    `| tenant_network = ${mode} | ${c.p50.toFixed(2)} | ${c.p90.toFixed(2)} | ` +
	    `${cold.host && cold.host.p50 ? `${c.p50 >= cold.host.p50 ? '+' : ''}` +
	    `${(c.p50 - cold.host.p50).toFixed(2)} ms` : ''} |`);
}
process.exit(0);
