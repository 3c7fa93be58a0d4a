// The HTTP conventions every loadwise server follows: JSON error bodies, 404 for an unknown path,
// 405 (with Allow) for a known path called with the wrong method, bounded request bodies, and
// requests logged at debug level so a scrape every few seconds does not flood the log.
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type HTTPMethods,
  LogController,
  type RouteHandlerMethod,
  type RouteOptions,
} from 'fastify';
import type { Logger } from './log.ts';

export interface ErrorBody {
  error: string;
  message: string;
}

export interface ServerOptions {
  logger: Logger;
  /** Largest request body accepted; larger ones get 413. */
  bodyLimit: number;
  /** Serve HTTPS with this certificate and key instead of HTTP. */
  https?: { cert: Buffer; key: Buffer };
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function createServer(opts: ServerOptions): FastifyInstance {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    // pino's Logger is fastify's logger; only the declared generics differ.
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Strict request schemas: fastify's default Ajv would coerce "all" into ["all"] and strip fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // The HTTPS variant differs only in its raw server type, which nothing here touches.
  }) as unknown as FastifyInstance;
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
 * which fastify alone would answer with 404. `options` carries a route's schema and config.
 */
export function route(
  app: FastifyInstance,
  path: string,
  methods: HTTPMethods[],
  handler: RouteHandlerMethod,
  options: Pick<RouteOptions, 'schema' | 'config'> = {},
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
