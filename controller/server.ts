// The controller's own HTTP endpoints: /metrics (Prometheus), /healthz (alive), /readyz (the Node
// cache has its first list).
import type { FastifyInstance } from 'fastify';
import { createServer, probeRoutes, route } from '../common/http.ts';
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
  probeRoutes(app, () => (opts.ready() ? undefined : 'the Node cache has not synced yet'));
  return app;
}
