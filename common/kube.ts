// Small adapters around @kubernetes/client-node: per-request timeouts and content types, and
// sorting API failures into what the controller does about them.
import { type AgentOptions, Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiException,
  type ConfigurationOptions,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';

/** Request options: a per-request timeout and, for a PATCH, the patch content type. */
export function requestOptions(
  timeoutMs: number,
  contentType?: string,
): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      if (contentType) context.setHeaderParam('Content-Type', contentType);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

export type ApiFailure =
  'conflict' | 'not_found' | 'server_error' | 'throttled' | 'timeout' | 'network' | 'rejected';

/** HTTP status of an API error, when there was an answer at all. */
export function apiStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export function classifyApiError(err: unknown): ApiFailure {
  const code = apiStatus(err);
  if (code === 409) return 'conflict';
  if (code === 404) return 'not_found';
  if (code === 429) return 'throttled';
  if (code !== undefined && code >= 500) return 'server_error';
  if (code !== undefined) return 'rejected';
  const name = (err as { name?: string; type?: string }).name;
  const type = (err as { type?: string }).type;
  if (name === 'AbortError' || name === 'TimeoutError' || type === 'aborted') return 'timeout';
  return 'network';
}

/** Failures worth another try after a pause: the server or the path to it is struggling. */
export function isTransient(failure: ApiFailure): boolean {
  return (
    failure === 'server_error' || failure === 'throttled' || failure === 'timeout' || failure === 'network'
  );
}

function statusBody(body: unknown): { message?: unknown } | string | undefined {
  if (typeof body !== 'string' || !body.startsWith('{')) return body as { message?: unknown } | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? parsed : body;
  } catch {
    return body;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    // The client hands some error bodies over unparsed: the Status's message is what tells why
    // (kube-apiserver's precondition failures run past 200 characters before the reason).
    const body = statusBody(err.body);
    const message =
      typeof body === 'object' && body && typeof body.message === 'string'
        ? body.message
        : String(body ?? '');
    return `HTTP ${err.code}: ${message.slice(0, 400)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Makes the client reuse connections. @kubernetes/client-node builds a fresh (non-keep-alive)
 * agent for every request, so each PATCH pays a TCP connect and, against a real API server, a TLS
 * handshake; at thousands of nodes per cycle that dominates. The first agent it builds is kept
 * with keep-alive on (same TLS options) and used from then on. Mutates and returns `kubeConfig`.
 */
export function reuseConnections(kubeConfig: KubeConfig, maxSockets = 64): KubeConfig {
  const apply = kubeConfig.applySecurityAuthentication.bind(kubeConfig);
  let shared: HttpAgent | undefined;
  kubeConfig.applySecurityAuthentication = async (context: RequestContext) => {
    await apply(context);
    const fresh = context.getAgent();
    if (!shared && (fresh instanceof HttpsAgent || fresh instanceof HttpAgent)) {
      const options = {
        ...(fresh as HttpAgent & { options: AgentOptions }).options,
        keepAlive: true,
        maxSockets,
      };
      shared = fresh instanceof HttpsAgent ? new HttpsAgent(options) : new HttpAgent(options);
    }
    if (shared && (fresh instanceof HttpsAgent || fresh instanceof HttpAgent)) {
      fresh.destroy();
      context.setAgent(shared);
    }
  };
  return kubeConfig;
}
