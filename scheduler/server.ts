// The extender's HTTP face: kube-scheduler's JSON in, validated and bounded, the verbs' answers out.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  EXTENDER_BODY_LIMIT_BYTES,
  EXTENDER_PATHS,
  type ExtenderArgs,
  type ExtenderBindingArgs,
} from '../contracts/index.ts';
import { createServer, route } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import type { Extender } from './extender.ts';
import type { ExtenderMetrics } from './metrics.ts';

const Name = Type.String({ minLength: 1, maxLength: 253 });
// The Pod and Node objects are Kubernetes' own; only what the extender relies on is required.
const PodSchema = Type.Object({ metadata: Type.Object({ name: Name }) });
const ArgsSchema = Type.Object({
  Pod: PodSchema,
  Nodes: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({ items: Type.Optional(Type.Union([Type.Null(), Type.Array(Type.Object({}))])) }),
    ]),
  ),
  NodeNames: Type.Optional(Type.Union([Type.Null(), Type.Array(Name, { maxItems: 100_000 })])),
});
// Response schemas let fastify compile a serializer instead of walking the answer with JSON.stringify.
const Reasons = Type.Record(Type.String(), Type.String());
const FilterResultSchema = Type.Object({
  Nodes: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({ items: Type.Array(Type.Object({}, { additionalProperties: true })) }),
    ]),
  ),
  NodeNames: Type.Optional(Type.Union([Type.Null(), Type.Array(Type.String())])),
  FailedNodes: Reasons,
  FailedAndUnresolvableNodes: Type.Optional(Reasons),
  Error: Type.String(),
});
const PriorityListSchema = Type.Array(Type.Object({ Host: Type.String(), Score: Type.Integer() }));
const BindingSchema = Type.Object({
  PodName: Name,
  PodNamespace: Name,
  PodUID: Type.String({ maxLength: 128 }),
  Node: Name,
});

export interface ExtenderServerOptions {
  extender: Extender;
  metrics: ExtenderMetrics;
  logger: Logger;
  ready: () => boolean;
  https?: { cert: Buffer; key: Buffer };
}

export function createExtenderServer(opts: ExtenderServerOptions): FastifyInstance {
  const app = createServer({ logger: opts.logger, bodyLimit: EXTENDER_BODY_LIMIT_BYTES, https: opts.https });
  const { extender, metrics } = opts;

  app.addHook('onResponse', (request, reply, done) => {
    const verb = request.routeOptions.config.verb;
    if (verb) {
      metrics.requests.inc({ verb, code: String(reply.statusCode) });
      metrics.duration.observe({ verb }, reply.elapsedTime / 1000);
    }
    done();
  });

  route(
    app,
    EXTENDER_PATHS.filter,
    ['POST'],
    async (request) => extender.filter(request.body as ExtenderArgs),
    {
      schema: { body: ArgsSchema, response: { 200: FilterResultSchema } },
      config: { verb: 'filter' },
    },
  );
  route(
    app,
    EXTENDER_PATHS.prioritize,
    ['POST'],
    async (request) => extender.prioritize(request.body as ExtenderArgs),
    { schema: { body: ArgsSchema, response: { 200: PriorityListSchema } }, config: { verb: 'prioritize' } },
  );
  route(
    app,
    EXTENDER_PATHS.bind,
    ['POST'],
    async (request) => extender.bind(request.body as ExtenderBindingArgs),
    {
      schema: { body: BindingSchema },
      config: { verb: 'bind' },
    },
  );
  route(app, EXTENDER_PATHS.healthz, ['GET'], async (_request, reply) =>
    opts.ready()
      ? { status: 'ok' }
      : reply.code(503).send({ error: 'Service Unavailable', message: 'caches not synced yet' }),
  );
  route(app, EXTENDER_PATHS.metrics, ['GET'], async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  return app;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The extender verb a route serves, for the request metrics. */
    verb?: 'filter' | 'prioritize' | 'bind';
  }
}
