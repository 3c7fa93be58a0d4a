// Finding agents through their Service's EndpointSlices: the agent Pod's own IP and port on each
// node, for clusters where the agent does not run on the host network (so the Node's InternalIP
// does not reach it).
import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';
import { Reflector } from '../common/reflector.ts';
import { requestOptions } from '../common/kube.ts';

export interface AgentEndpoint {
  address: string;
  port: number;
}

export interface AgentServiceRef {
  namespace: string;
  service: string;
  /** Port name in the slices; the first port when absent. */
  portName?: string;
}

/** Node name → the ready agent endpoint on it, from a set of EndpointSlices. */
export function endpointsByNode(
  slices: readonly V1EndpointSlice[],
  portName?: string,
): Map<string, AgentEndpoint> {
  const byNode = new Map<string, AgentEndpoint>();
  for (const slice of slices) {
    const port = (portName ? slice.ports?.find((p) => p.name === portName) : slice.ports?.[0])?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses?.[0];
      if (!endpoint.nodeName || !address || endpoint.conditions?.ready === false) continue;
      byNode.set(endpoint.nodeName, { address, port });
    }
  }
  return byNode;
}

export class AgentEndpoints {
  private readonly slices: Reflector<V1EndpointSlice>;
  private cached: Map<string, AgentEndpoint> | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly ref: AgentServiceRef,
    logger: Logger,
    onRestart?: (reason: string) => void,
  ) {
    const api = kubeConfig.makeApiClient(DiscoveryV1Api);
    const labelSelector = `kubernetes.io/service-name=${ref.service}`;
    this.slices = new Reflector<V1EndpointSlice>({
      kubeConfig,
      path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/endpointslices`,
      labelSelector,
      list: () =>
        api.listNamespacedEndpointSlice({ namespace: ref.namespace, labelSelector }, requestOptions(60_000)),
      onEvent: () => {
        this.cached = undefined;
      },
      onRestart,
      logger,
    });
  }

  start(): void {
    this.slices.start();
  }

  stop(): Promise<void> {
    return this.slices.stop();
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return this.slices.waitForSync(signal);
  }

  /** The agent on `node`, or undefined (then the Node's own address is used). */
  get(node: string): AgentEndpoint | undefined {
    this.cached ??= endpointsByNode(this.slices.list(), this.ref.portName);
    return this.cached.get(node);
  }
}
