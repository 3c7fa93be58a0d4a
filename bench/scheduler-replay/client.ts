// kube-scheduler's side of the extender protocol, as the replay drives it: JSON POSTs over
// keep-alive loopback connections, each bounded in time, answers parsed and checked.
import { Agent, request } from 'node:http';

const REQUEST_TIMEOUT_MS = 10_000;

export interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

export class ExtenderClient {
  private readonly agent: Agent;

  /** `sockets`: connections kept open (one for the scheduling cycle, the rest for binds). */
  constructor(
    private readonly base: string,
    sockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  post(path: string, body: unknown): Promise<Answer> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const start = performance.now();
      const req = request(
        new URL(path, this.base),
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - start;
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, ms });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
