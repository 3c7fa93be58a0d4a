// The replay benchmark's baseline: an extender that does nothing, on the extender's HTTP stack
// (fastify through common/http, the same body limit, loopback). /filter passes every node,
// /prioritize scores them all alike, /bind creates the Binding through the API server the way
// the extender does. What the real extender costs is its figures minus these.
// Usage: node null-extender.mjs KUBECONFIG   → logs "scheduler extender listening" with its address.
import { CoreV1Api } from '@kubernetes/client-node';
import {
  EXTENDER_BODY_LIMIT_BYTES,
  EXTENDER_PATHS,
  type ExtenderArgs,
  type ExtenderBindingArgs,
  type ExtenderBindingResult,
  type ExtenderFilterResult,
  type HostPriorityList,
  PROBE_PATHS,
} from '../../contracts/index.ts';
import { createServer, probeRoutes, route } from '../../common/http.ts';
import { errorMessage, reuseConnections } from '../../common/kube.ts';
import { loadKubeConfig } from '../../common/kubeconfig.ts';
import { createLogger } from '../../common/log.ts';
import { createBinding } from '../../scheduler/binding.ts';

const API_TIMEOUT_MS = 5_000;
const logger = createLogger({ level: 'info', name: 'null-extender' });
const { kubeConfig } = loadKubeConfig(process.argv[2]);
const core = reuseConnections(kubeConfig).makeApiClient(CoreV1Api);
const app = createServer({
  logger,
  bodyLimit: EXTENDER_BODY_LIMIT_BYTES,
  openPaths: Object.values(PROBE_PATHS),
});

const names = (request: { body: unknown }) => (request.body as ExtenderArgs).NodeNames ?? [];
route(app, EXTENDER_PATHS.filter, ['POST'], async (request): Promise<ExtenderFilterResult> => {
  return { NodeNames: names(request), FailedNodes: {}, Error: '' };
});
route(app, EXTENDER_PATHS.prioritize, ['POST'], async (request): Promise<HostPriorityList> => {
  return names(request).map((Host) => ({ Host, Score: 0 }));
});
route(app, EXTENDER_PATHS.bind, ['POST'], async (request): Promise<ExtenderBindingResult> => {
  try {
    await createBinding(core, request.body as ExtenderBindingArgs, API_TIMEOUT_MS);
    return { Error: '' };
  } catch (err) {
    return { Error: errorMessage(err) };
  }
});
probeRoutes(app, () => undefined);
const address = await app.listen({ host: '127.0.0.1', port: 0 });
logger.info({ address }, 'scheduler extender listening');
// Ends with its parent: stdin closes when the benchmark exits.
process.stdin.resume();
process.stdin.on('end', () => void app.close().then(() => process.exit(0)));
