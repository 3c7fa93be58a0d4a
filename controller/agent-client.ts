// Reaching one node's agent: where it is, and one bounded GET of its /statistics. Every way this
// can go wrong comes back as a reason (for the metric) and a detail (for the log), never a throw.
import type { V1Node } from '@kubernetes/client-node';
import type { ParsedStatistics } from '../contracts/agent-api.ts';
import { parseStatistics } from '../contracts/statistics-parser.ts';
import type { AgentFailureReason } from '../contracts/controller.ts';
import {
  LOADWISE_STATISTICS_MEDIA_TYPE,
  looksLikeNodeMetrics,
  parseNodeMetricsStatistics,
} from '../contracts/node-metrics.ts';

/** Which agent answered: loadwise's, or node-metrics (a node not yet migrated). */
export type AgentFormat = 'loadwise' | 'node-metrics';

export type PollResult =
  | { ok: true; stats: ParsedStatistics; format: AgentFormat }
  | { ok: false; reason: AgentFailureReason; detail: string };

export interface PollOptions {
  /**
   * Whether the URL's address belongs to this node alone: the Node's own IP (or its agent Pod's
   * EndpointSlice endpoint) and no other node's this cycle. A node-metrics document names no node,
   * so it is taken only from such an address; loadwise's document is checked by its node name.
   */
  nodeBoundAddress: boolean;
  /** The reader's clock: node-metrics' figures carry no time and are dated on receipt. */
  now: () => number;
}

/** A /statistics document is a few hundred bytes; anything far larger is not an agent. */
const MAX_BODY_BYTES = 256 * 1024;

/** The Node's InternalIP, else its ExternalIP (clusters without a private network). */
export function nodeAddress(node: V1Node): string | undefined {
  const addresses = node.status?.addresses ?? [];
  return (
    addresses.find((a) => a.type === 'InternalIP')?.address ??
    addresses.find((a) => a.type === 'ExternalIP')?.address
  );
}

/**
 * Fills `{ip}`, `{port}` and `{name}` in the agent URL template: the agent's own endpoint when
 * known (EndpointSlices), else the Node's address and the agent port. An IPv6 address is bracketed,
 * as a URL needs it.
 */
export function agentUrl(
  template: string,
  node: V1Node,
  port: number,
  endpoint?: { address: string; port: number },
): string | undefined {
  const ip = endpoint?.address ?? nodeAddress(node);
  if (endpoint) port = endpoint.port;
  if (ip === undefined) return undefined;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return template
    .replaceAll('{ip}', host)
    .replaceAll('{port}', String(port))
    .replaceAll('{name}', encodeURIComponent(node.metadata?.name ?? ''));
}

function classifyNetworkError(err: unknown): { reason: AgentFailureReason; detail: string } {
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return { reason: 'timeout', detail: 'no answer within the request timeout' };
  }
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const detail = cause?.message ?? (err as Error).message ?? String(err);
  if (code === 'ECONNREFUSED') return { reason: 'refused', detail };
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')
    return { reason: 'reset', detail };
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return { reason: 'timeout', detail };
  }
  return { reason: 'unreachable', detail };
}

async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw new RangeError(`body of ${declared} bytes is too large`);
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new RangeError(`body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One GET of `url`; the timeout covers connecting, the headers and the whole body. */
export async function pollAgent(
  url: string,
  nodeName: string,
  timeoutMs: number,
  options: PollOptions = { nodeBoundAddress: false, now: Date.now },
): Promise<PollResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    // loadwise's own document first: an agent in node-metrics compatibility mode serves it on request.
    const accept = `${LOADWISE_STATISTICS_MEDIA_TYPE}, application/json;q=0.9`;
    response = await fetch(url, { signal, headers: { accept } });
  } catch (err: unknown) {
    return { ok: false, ...classifyNetworkError(err) };
  }
  let text: string;
  try {
    text = await readLimited(response);
  } catch (err: unknown) {
    if (err instanceof RangeError) return { ok: false, reason: 'garbage', detail: err.message };
    return { ok: false, ...classifyNetworkError(err) };
  }
  if (response.status !== 200) {
    return { ok: false, reason: 'http_status', detail: `HTTP ${response.status}: ${text.slice(0, 120)}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'garbage', detail: `not JSON: ${JSON.stringify(text.slice(0, 60))}` };
  }
  if (looksLikeNodeMetrics(body)) return nodeMetricsResult(body, options);
  const parsed = parseStatistics(body);
  if (!parsed.ok) return { ok: false, reason: 'garbage', detail: parsed.error };
  // An address that now belongs to another node (reused IP, wrong template) must not put that
  // node's load on this one.
  if (parsed.stats.node !== nodeName) {
    return { ok: false, reason: 'wrong_node', detail: `agent reports node "${parsed.stats.node}"` };
  }
  return { ...parsed, format: 'loadwise' };
}

function nodeMetricsResult(body: unknown, options: PollOptions): PollResult {
  // Without a node name, the address is the only identity: one that is not this node's own, or
  // that another node shares, could be anyone's load.
  if (!options.nodeBoundAddress) {
    return {
      ok: false,
      reason: 'wrong_node',
      detail:
        "a node-metrics document names no node; it is read only from the node's own address " +
        '({ip} in --agent-url, or its agent endpoint), never from one another node shares',
    };
  }
  const parsed = parseNodeMetricsStatistics(body, options.now());
  if (!parsed.ok) return { ok: false, reason: 'garbage', detail: parsed.error };
  return { ...parsed, format: 'node-metrics' };
}
