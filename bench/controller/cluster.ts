// The benchmark's cluster side, in its own process so it does not share a core with the
// controller being measured: the API-server double seeded with Nodes, and simulated agents on
// 127.0.0.1-4 (one port, routed by node name). Prints {"url","port"} once ready; each stdin line
// `{"now": <ms>, "tick": <n>}` moves the agents' clock and load, answered with "ok".
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { formatRfc3339 } from '../../contracts/time.ts';
import { ApiServerDouble } from '../../doubles/apiserver/server.ts';

export const AGENT_HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

/** A steady load per node, with noise under min-change: what a quiet cluster looks like. */
export function steadyLoad(node: string, tick: number): Record<string, number> {
  let h = 0;
  for (let i = 0; i < node.length; i++) h = (h * 31 + node.charCodeAt(i)) >>> 0;
  const base = (h % 60) / 100 + 0.1;
  const noise = Math.sin(h + tick * 1.7) * 0.009;
  return {
    cpu_usage_avg_5m: base + noise,
    cpu_usage_max_avg_1h: base + 0.05,
    cpu_usage_max_avg_1d: base + 0.1,
    mem_usage_avg_5m: 0.5 + noise,
    mem_usage_max_avg_1h: 0.55,
    mem_usage_max_avg_1d: 0.6,
  };
}

async function main(): Promise<void> {
  const nodes = Number(process.argv[2] ?? 5000);
  const economyNodes = Number(process.argv[3] ?? 500);
  let now = Number(process.argv[4] ?? Date.now());
  let tick = 0;
  const double = await ApiServerDouble.start({ historyLimit: 50_000, requestLogLimit: 1000 });
  for (let i = 0; i < nodes; i++) {
    double.putObject({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${String(i).padStart(5, '0')}`, labels: { economy: String(i < economyNodes) } },
      status: { addresses: [{ type: 'InternalIP', address: AGENT_HOSTS[i % AGENT_HOSTS.length]! }] },
    });
  }
  const servers: Server[] = [];
  let port = 0;
  for (const host of AGENT_HOSTS) {
    const server = createServer((req, res) => {
      const node = decodeURIComponent((req.url ?? '').split('/')[2] ?? '');
      const body = JSON.stringify({
        node,
        timestamp: formatRfc3339(now),
        sampleAgeSeconds: 1,
        sampleIntervalSeconds: 10,
        windows: steadyLoad(node, tick),
        coverageSeconds: {},
      });
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        .end(body);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    port = (server.address() as AddressInfo).port;
    servers.push(server);
  }
  process.stdout.write(`${JSON.stringify({ url: double.url, port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const msg = JSON.parse(line) as { now: number; tick: number };
    now = msg.now;
    tick = msg.tick;
    process.stdout.write('ok\n');
  }
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await double.close();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
