// The controller's own HTTP endpoints: /metrics (Prometheus), /healthz (alive), /readyz (the Node
// cache has its first list).
import type { FastifyInstance } from 'fastify';
import { createServer, opsRoutes } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import type { ControllerMetrics } from './metrics.ts';

export interface ControllerServerOptions {
  logger: Logger;
  metrics: ControllerMetrics;
  ready: () => boolean;
}

export function buildControllerServer(opts: ControllerServerOptions): FastifyInstance {
  const app = createServer({ logger: opts.logger, bodyLimit: 1024 });
  opsRoutes(app, {
    registry: opts.metrics.registry,
    notReady: () => (opts.ready() ? undefined : 'the Node cache has not synced yet'),
  });
  return app;
}
