// Records the watchdog's findings as core/v1 Events on the pod, the way kubelet reports on pods:
// `kubectl describe pod` and `kubectl get events` show them. Needs `create` on `events` (RBAC in
// configs/deploy/agent.yaml). A failure to record is logged, never fatal: the metric still counts.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { errorMessage, requestOptions } from '../../common/kube.ts';
import type { Logger } from '../../common/log.ts';
import type { ShareEvent } from './watchdog.ts';

export const EVENT_COMPONENT = 'loadwise-agent';
/** The API server refuses longer Event messages. */
const MAX_MESSAGE = 1024;

export function kubernetesEventSink(
  kubeConfig: KubeConfig,
  nodeName: string,
  clock: Clock,
  logger: Logger,
): (event: ShareEvent) => Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return async (event) => {
    const now = new Date(clock.now());
    const body: CoreV1Event = {
      metadata: {
        // kubelet's pattern: the object's name and a unique suffix.
        name: `${event.podName.slice(0, 200)}.${randomBytes(8).toString('hex')}`,
        namespace: event.namespace,
      },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: event.namespace,
        name: event.podName,
        uid: event.podUID,
        fieldPath: `spec.containers{${event.container}}`,
      },
      reason: event.reason,
      message: event.message.slice(0, MAX_MESSAGE),
      type: 'Warning',
      source: { component: EVENT_COMPONENT, host: nodeName },
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: nodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await core.createNamespacedEvent({ namespace: event.namespace, body }, requestOptions(10_000));
    } catch (err) {
      logger.warn(
        { namespace: event.namespace, pod: event.podName, err: errorMessage(err) },
        'cannot record a GPU watchdog Event',
      );
    }
  };
}
