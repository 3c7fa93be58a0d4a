// The HTTP conventions every loadwise server follows: JSON error bodies, 404 for an unknown path,
// 405 (with Allow) for a known path called with the wrong method, bounded request bodies, time
// and JSON nesting, liveness apart from readiness, optional mutual TLS, and requests logged at
// debug level so a scrape every few seconds does not flood the log.
import type { TLSSocket } from 'node:tls';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type HTTPMethods,
  LogController,
  type RouteHandlerMethod,
  type RouteOptions,
} from 'fastify';
import type { Registry } from 'prom-client';
import { METRICS_PATH, PROBE_PATHS } from '../contracts/probes.ts';
import { codeUnitLengthKeyword } from './code-unit-length.ts';
import { jsonNestingProblem } from './json-nesting.ts';
import type { Logger } from './log.ts';
import { clientCertProblem, secureContextOptions, type TlsMaterial } from './tls.ts';

export interface ErrorBody {
  error: string;
  message: string;
}

/** How long a client may take; every loadwise server has all of them (see DEFAULT_TIMEOUTS). */
export interface ServerTimeouts {
  /** Receiving one whole request, headers and body: a slow body is cut off with 408. */
  requestMs: number;
  /** Receiving the request headers. */
  headersMs: number;
  /** A connection with no traffic at all is closed. */
  idleMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
  /** How often the request and header timeouts are checked (Node.js checks every 30 s by default). */
  checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  requestMs: 30_000,
  headersMs: 10_000,
  idleMs: 60_000,
  keepAliveMs: 30_000,
  checkIntervalMs: 1_000,
};

/**
 * Deepest JSON nesting a body may have. Kubernetes objects nest about 15 levels (managedFields
 * deeper, still far below this); a request nested deeper is an attack on every recursive walker.
 */
export const MAX_JSON_DEPTH = 100;

export interface ServerOptions {
  logger: Logger;
  /** Largest request body accepted; larger ones get 413. */
  bodyLimit: number;
  /**
   * Serve HTTPS with this certificate and key instead of HTTP. With `ca`, mutual TLS: every path
   * but `openPaths` answers 401 to a client without a certificate and 403 to one not signed by `ca`.
   */
  https?: TlsMaterial;
  /** Paths served without a client certificate under mutual TLS: the kubelet's probes present none. */
  openPaths?: readonly string[];
  /** Overrides of DEFAULT_TIMEOUTS (tests use small ones). */
  timeouts?: Partial<ServerTimeouts>;
  /**
   * false: no route of this server has a schema (its handlers check their input by hand), so
   * fastify's schema compilers (ajv, fast-json-stringify) are never loaded — ~0.6 MB of the node
   * agent's memory. A route with a schema on such a server fails to register, loudly.
   */
  schemas?: boolean;
}

/** The compiler factory of a server without schemas: a schema reaching it is a programming error. */
const noSchemaCompilers = () => () => {
  throw new Error('this server was created with schemas: false; its routes check their input by hand');
};

const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function createServer(opts: ServerOptions): FastifyInstance {
  const t = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  // Node.js reads these when it creates the server; the rest fastify sets on it.
  const nodeServer = {
    connectionsCheckingInterval: t.checkIntervalMs,
    headersTimeout: Math.min(t.headersMs, t.requestMs),
  };
  const mutual = opts.https?.ca !== undefined;
  const app = Fastify({
    ...(opts.https
      ? {
          https: {
            ...secureContextOptions(opts.https),
            ...nodeServer,
            // Verified per request instead of at the handshake, so the kubelet's probes (no
            // certificate) still reach openPaths; every other path refuses (onRequest below).
            ...(mutual ? { requestCert: true, rejectUnauthorized: false } : {}),
          },
        }
      : { http: nodeServer }),
    requestTimeout: t.requestMs,
    connectionTimeout: t.idleMs,
    keepAliveTimeout: t.keepAliveMs,
    // pino's Logger is fastify's logger; only the declared generics differ.
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Strict request schemas: fastify's default Ajv would coerce "all" into ["all"] and strip fields.
    // minUnits/maxUnits: string bounds without a walk over every string (common/code-unit-length.ts).
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, keywords: [codeUnitLengthKeyword] },
    },
    ...(opts.schemas === false
      ? {
          schemaController: {
            compilersFactory: { buildValidator: noSchemaCompilers, buildSerializer: noSchemaCompilers },
          },
        }
      : {}),
    // The HTTPS variant differs only in its raw server type, which nothing here touches.
  }) as unknown as FastifyInstance;
  if (mutual) {
    const open = new Set(opts.openPaths ?? []);
    // onRequest runs before the body is read: an unauthenticated client never gets it parsed.
    app.addHook('onRequest', (request, reply, done) => {
      const problem = open.has(request.url.split('?')[0]!)
        ? undefined
        : clientCertProblem(request.raw.socket as TLSSocket);
      if (!problem) return done();
      void reply
        .code(problem.status)
        .send(errorBody(problem.status === 401 ? 'Unauthorized' : 'Forbidden', problem.message));
    });
  }
  // Fastify's own JSON parser (prototype-poisoning checks included), after a nesting check.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const problem = jsonNestingProblem(body as string, MAX_JSON_DEPTH);
    if (problem) done(Object.assign(new Error(problem), { statusCode: 400, name: 'Bad Request' }), undefined);
    else void parseJson(request, body as string, done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      { method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime },
      'request',
    );
    done();
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(errorBody('Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
  app.setErrorHandler((error: { statusCode?: number; message: string; name?: string }, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const name = status >= 500 ? 'Internal Server Error' : (error.name ?? 'Bad Request');
    void reply.code(status).send(errorBody(name, status >= 500 ? 'internal error' : error.message));
  });
  return app;
}

/**
 * Registers `methods` on `path` and answers every other method with 405 and an Allow header,
 * which fastify alone would answer with 404. `options` carries a route's schema, config
 * and onResponse hook.
 */
export function route(
  app: FastifyInstance,
  path: string,
  methods: HTTPMethods[],
  handler: RouteHandlerMethod,
  options: Pick<RouteOptions, 'schema' | 'config' | 'onResponse'> = {},
): void {
  const allowed = methods.includes('GET') ? [...methods, 'HEAD' as const] : methods;
  app.route({ ...options, method: methods, url: path, handler });
  const others = ALL_METHODS.filter((m) => !allowed.includes(m));
  app.route({
    method: others,
    url: path,
    handler: (request, reply) => {
      void reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(
          errorBody(
            'Method Not Allowed',
            `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
          ),
        );
    },
  });
}

export function errorBody(error: string, message: string): ErrorBody {
  return { error, message };
}

/**
 * What every loadwise server serves besides its own job, the same on each: its Prometheus metrics
 * and the two probes (see probeRoutes).
 */
export function opsRoutes(
  app: FastifyInstance,
  opts: { registry: Registry; notReady: () => string | undefined },
): void {
  route(app, METRICS_PATH, ['GET'], async (_request, reply) =>
    reply.type(opts.registry.contentType).send(await opts.registry.metrics()),
  );
  probeRoutes(app, opts.notReady);
}

/**
 * `/healthz` and `/readyz`, apart: liveness answers 200 as long as the process serves HTTP and
 * never waits on anything; readiness answers 503 with why while `notReady` returns a reason.
 */
export function probeRoutes(app: FastifyInstance, notReady: () => string | undefined): void {
  route(app, PROBE_PATHS.healthz, ['GET'], async () => ({ status: 'ok' }));
  route(app, PROBE_PATHS.readyz, ['GET'], async (_request, reply) => {
    const why = notReady();
    return why === undefined
      ? { status: 'ready' }
      : reply.code(503).send(errorBody('Service Unavailable', why));
  });
}
