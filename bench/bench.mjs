// bench.mjs: dataagent against a direct connection to the same upstream,
// in one run, with the official SDK client. Loops are bounded and all
// traffic stays on 127.0.0.1.
//
//   1. server-everything `echo` over stdio directly vs through dataagent
//      (Streamable HTTP), at concurrency 1 and 16: calls/s, p50, p99
//   2. RSS of one idle tenant worker
//   3. RSS with 100 tenants provisioned and 10 active
//   4. authenticated handoffs per second (new connection + token each)
import fs from 'node:fs';
import http from 'node:http';
import { Daemon, sdk, EVERYTHING, processesOf, sleep, PEERS } from '../tests/integration/lib.mjs';

const CALLS = Number(process.env.BENCH_CALLS || 2000);
const HANDOFFS = Number(process.env.BENCH_HANDOFFS || 5000);

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

const rssKiB = (pid) => {
	const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return m ? Number(m[1]) : 0;
};

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

const d = new Daemon({ workers: 2, config: { log_level: 'warn', max_total_connections: 1000 } });
await d.start();
const token = await d.tenant('bench', { everything: EVERYTHING });
const rows = [];
for (const conc of [1, 16]) {
	const a = await direct(conc);
	const b = await gateway(d, token, conc);
	rows.push([`echo c=${conc} direct stdio`, a.rate.toFixed(0), a.p50.toFixed(3), a.p99.toFixed(3), '']);
	rows.push([`echo c=${conc} via dataagent`, b.rate.toFixed(0), b.p50.toFixed(3), b.p99.toFixed(3),
	    `p50 ${(b.p50 / a.p50).toFixed(2)}x, rate ${(b.rate / a.rate).toFixed(2)}x`]);
}
console.log('| measurement | calls/s | p50 ms | p99 ms | vs direct |');
console.log('|---|---|---|---|---|');
for (const r of rows)
	console.log(`| ${r.join(' | ')} |`);

const benchUid = JSON.parse(await d.ctlOk(['--json', 'tenant', 'show', 'bench'])).uid;
await sleep(1500);
const w = processesOf(benchUid).find((p) => p.cmd.includes('dataagent-worker'));
const h = await handoffs(d, token, HANDOFFS);

// 100 tenants provisioned, 10 of them active (one request each).
const toks = [];
for (let i = 0; i < 100; i++)
	toks.push(await d.tenant(`t${i}`, {}));
for (let i = 0; i < 10; i++)
	await d.fetch(`/api/v1/users/t${i}/mcp-servers`, { token: toks[i] });
await sleep(1000);
let workersRss = 0, nworkers = 0;
for (const p of processesOf(0).concat(...Array.from({ length: 120 }, (_, i) => processesOf(61000 + i)))) {
	if (p.cmd.includes('dataagent-worker') && p.uids[0] !== 0) {
		workersRss += rssKiB(p.pid);
		nworkers++;
	}
}
const supRss = rssKiB(d.proc.pid);
console.log('');
console.log('| measurement | value |');
console.log('|---|---|');
console.log(`| idle tenant worker RSS | ${w ? (rssKiB(w.pid) / 1024).toFixed(2) : '?'} MiB |`);
console.log(`| authenticated handoffs/s (new connection + token each, ${HANDOFFS} requests, 32 in flight) | ${h.rate.toFixed(0)} (errors: ${h.bad}) |`);
console.log(`| 100 tenants provisioned, 10 active: supervisor RSS | ${(supRss / 1024).toFixed(2)} MiB |`);
console.log(`| same: ${nworkers} tenant workers, total RSS | ${(workersRss / 1024).toFixed(2)} MiB |`);
await d.stop();
process.exit(0);
