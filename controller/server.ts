// The controller's own HTTP endpoints: /metrics (Prometheus), /healthz (alive), /readyz (the Node
// cache has its first list).
import type { FastifyInstance } from 'fastify';
import { createServer, errorBody, route } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import type { ControllerMetrics } from './metrics.ts';

export interface ControllerServerOptions {
  logger: Logger;
  metrics: ControllerMetrics;
  ready: () => boolean;
}

export function buildControllerServer(opts: ControllerServerOptions): FastifyInstance {
  const app = createServer({ logger: opts.logger, bodyLimit: 1024 });
  route(app, '/metrics', ['GET'], async (_request, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(text);
  });
  route(app, '/healthz', ['GET'], async (_request, reply) => reply.send({ status: 'ok' }));
  route(app, '/readyz', ['GET'], async (_request, reply) => {
    if (opts.ready()) return reply.send({ status: 'ready' });
    return reply.code(503).send(errorBody('Service Unavailable', 'the Node cache has not synced yet'));
  });
  return app;
}
