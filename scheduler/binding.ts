// Creating a pod's Binding for a kube-scheduler bind request: one way, shared by the extender and
// the replay benchmark's do-nothing extender, so the baseline binds exactly as the extender does.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ExtenderBindingArgs } from '../contracts/index.ts';
import { requestOptions } from '../common/kube.ts';

export async function createBinding(
  core: CoreV1Api,
  args: ExtenderBindingArgs,
  timeoutMs: number,
  annotations?: Record<string, string>,
): Promise<void> {
  await core.createNamespacedPodBinding(
    {
      name: args.PodName,
      namespace: args.PodNamespace,
      body: {
        apiVersion: 'v1',
        kind: 'Binding',
        // The UID is the API server's precondition: it binds this pod or none.
        // Its annotations land on the pod in the same write as spec.nodeName (the API server's
        // setPodHostAndAnnotations), so no reader sees the pod bound without them.
        metadata: { name: args.PodName, namespace: args.PodNamespace, uid: args.PodUID, annotations },
        target: { apiVersion: 'v1', kind: 'Node', name: args.Node },
      },
    },
    requestOptions(timeoutMs),
  );
}
