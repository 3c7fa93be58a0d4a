// Pods that the load filter lets through: a DaemonSet's pod belongs on every node it targets, so
// refusing it on a hot node (crane-scheduler skips its filter for them too) only leaves that node
// without its kube-proxy, log shipper or device plugin, and makes nothing cooler.
import type { V1Pod } from '@kubernetes/client-node';

/**
 * True when the pod's controlling owner is an apps/v1 DaemonSet, the reference the DaemonSet
 * controller writes. A bare `kind: DaemonSet` that is not the controller, or of another API group,
 * does not count: anyone who can create a pod can write an ownerReference. (Such a person gains
 * nothing over `spec.nodeName`, which skips the scheduler altogether; the check keeps the rule to
 * what the DaemonSet controller really creates.)
 */
export function isDaemonSetPod(pod: V1Pod): boolean {
  return (pod.metadata?.ownerReferences ?? []).some(
    (ref) => ref.controller === true && ref.kind === 'DaemonSet' && ref.apiVersion === 'apps/v1',
  );
}
