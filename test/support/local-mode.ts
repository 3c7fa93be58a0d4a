// Starting the local mode in tests: the smallest cluster file `npm start` accepts, and a
// LocalCluster on free ports with a silent logger.
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import type { SchedulerPolicy } from '../../common/policy.ts';
import type { LocalClusterSpec } from '../../local/cluster-config.ts';
import { LocalCluster } from '../../local/local-cluster.ts';
import { freePort } from './wait.ts';

/** One simulated CPU node and a quick demo workload: `npm start` is up in seconds. */
export const TINY_LOCAL_CLUSTER = `apiVersion: loadwise.io/v1alpha1
kind: LocalCluster
sampleInterval: 200ms
syncPeriod: 500ms
thisMachine: { include: false }
nodes:
  - { name: sim-1, cpu: 4, memory: 8Gi, load: { base: 0.2, swing: 0.1, period: 1m } }
workload:
  interval: 200ms
  lifetime: 10s
  maxPods: 5
  pods:
    - { name: web, weight: 1, cpu: 100m, memory: 64Mi }
`;

export async function startLocalCluster(
  spec: LocalClusterSpec,
  policy: SchedulerPolicy,
): Promise<LocalCluster> {
  return LocalCluster.start({
    spec,
    policy,
    agentPort: await freePort(),
    extenderListen: { host: '127.0.0.1', port: 0 },
    clock: systemClock,
    logger: createLogger({ level: 'silent', name: 'local-test' }),
  });
}
