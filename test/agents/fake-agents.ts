// Simulated node agents: one HTTP server on 127.0.0.1 that answers `/nodes/<name>/statistics` for
// any number of nodes, each with a load and a behaviour (healthy, slow, a skewed clock, an older
// release's document, hanging, garbage, 5xx, reset, claiming to be another node). Point the controller at it with `urlTemplate`.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../common/clock.ts';
import type { GpuStatistics } from '../../contracts/agent-api.ts';
import { formatRfc3339 } from '../../contracts/time.ts';

export type AgentBehaviour =
  /** `clockAheadMs`: the node's clock runs this far ahead of the test clock (negative: behind). */
  | { kind: 'ok'; delayMs?: number; clockAheadMs?: number }
  /** A document of another release's shape, served as is (its `node` set to the node's name). */
  | { kind: 'document'; body: Record<string, unknown> }
  | { kind: 'hang' }
  | { kind: 'garbage'; body: string }
  | { kind: 'status'; code: number }
  | { kind: 'reset' }
  | { kind: 'impostor'; node: string };

/** How old the newest sample is when a fake agent answers. */
export const FAKE_SAMPLE_AGE_MS = 1000;

export class FakeAgents {
  readonly port: number;
  /** Agent URL template for the controller: nodes must have InternalIP 127.0.0.1. */
  readonly urlTemplate: string;
  private readonly loads = new Map<string, Record<string, number>>();
  private readonly behaviours = new Map<string, AgentBehaviour>();
  private readonly gpus = new Map<string, GpuStatistics[]>();
  private readonly served = new Map<string, number>();
  private inFlight = 0;
  /** Highest number of requests served at once, to check the controller's concurrency bound. */
  maxInFlight = 0;

  private constructor(
    private readonly server: Server,
    private readonly clock: Clock,
  ) {
    this.port = (server.address() as AddressInfo).port;
    this.urlTemplate = `http://{ip}:${this.port}/nodes/{name}/statistics`;
  }

  static async start(clock: Clock): Promise<FakeAgents> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const agents = new FakeAgents(server, clock);
    server.on('request', (req, res) => agents.handle(req, res));
    return agents;
  }

  /** Sets a node's figures (fractions by figure name). */
  setLoad(node: string, windows: Record<string, number>): void {
    this.loads.set(node, windows);
  }

  /** Sets the GPUs a node's agent reports (none by default). */
  setGpus(node: string, gpus: GpuStatistics[]): void {
    this.gpus.set(node, gpus);
  }

  setBehaviour(node: string, behaviour: AgentBehaviour): void {
    this.behaviours.set(node, behaviour);
  }

  requestsFor(node: string): number {
    return this.served.get(node) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/nodes\/([^/]+)\/statistics$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const node = decodeURIComponent(m[1]!);
    this.served.set(node, (this.served.get(node) ?? 0) + 1);
    const behaviour = this.behaviours.get(node) ?? { kind: 'ok' };
    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end(behaviour.body);
        return;
      case 'status':
        res.writeHead(behaviour.code, { 'content-type': 'text/plain' }).end('agent not ready');
        return;
      case 'document':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ...behaviour.body, node }));
        return;
      case 'impostor':
        this.answer(res, behaviour.node, node, 0, 0);
        return;
      case 'ok':
        this.answer(res, node, node, behaviour.delayMs ?? 0, behaviour.clockAheadMs ?? 0);
        return;
    }
  }

  private answer(
    res: ServerResponse,
    reportedNode: string,
    node: string,
    delayMs: number,
    clockAheadMs: number,
  ): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const send = () => {
      this.inFlight--;
      const windows = this.loads.get(node) ?? {};
      const body = JSON.stringify({
        node: reportedNode,
        // Like the real agent: its own clock, one second after its newest sample.
        timestamp: formatRfc3339(this.clock.now() + clockAheadMs - FAKE_SAMPLE_AGE_MS),
        sampleAgeSeconds: FAKE_SAMPLE_AGE_MS / 1000,
        sampleIntervalSeconds: 10,
        windows,
        coverageSeconds: Object.fromEntries(Object.keys(windows).map((k) => [k, 300])),
        ...(this.gpus.has(node) ? { gpus: this.gpus.get(node) } : {}),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  }
}
