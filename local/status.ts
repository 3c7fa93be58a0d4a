// What the local mode's status page shows, gathered live: each Node's loadwise annotations as the
// controller wrote them (decoded), each agent's GPUs (allocated share and utilisation as the agent
// reports them), the pods alive per node, and the latest scheduling decisions with the extender's
// reasons and scores.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import {
  ANNOTATION_PREFIX,
  decodeCount,
  decodeFraction,
  HOT_VALUE_ANNOTATION,
} from '../contracts/annotations.ts';
import { AGENT_PATHS, type GpuStatistics } from '../contracts/agent-api.ts';
import { GPU_INVENTORY_ANNOTATION } from '../contracts/gpu-inventory.ts';
import type { DemoCounts, DemoDecision } from './demo-workload.ts';

export interface NodeStatus {
  name: string;
  simulated: boolean;
  agentUrl: string;
  /** loadwise.io/<figure> annotations on the Node: value and age in seconds. */
  annotations: Record<string, { value: number; ageSeconds: number } | { raw: string }>;
  /** The agent's own windows, for comparison with what reached the Node. */
  agentWindows: Record<string, number>;
  agentError?: string;
  gpus: GpuStatistics[];
  pods: Record<string, number>;
}

/** Pods in the API server right now: bound to a node (and not finished), waiting for one, refused. */
export interface PodCounts {
  bound: number;
  waiting: number;
  /** Pending pods whose PodScheduled condition says Unschedulable. */
  unschedulable: number;
}

export interface ClusterStatus {
  generatedAt: string;
  /** The same instant as generatedAt, in epoch ms (what the charts plot). */
  generatedAtMs: number;
  apiServer: string;
  kubeconfig: string;
  extender: string;
  workload: DemoCounts;
  pods: PodCounts;
  nodes: NodeStatus[];
  decisions: readonly DemoDecision[];
}

export interface StatusSource {
  apiServer: string;
  kubeconfig: string;
  extender: string;
  kubeConfig: KubeConfig;
  nodes: () => { name: string; simulated: boolean; agentUrl: string }[];
  counts: () => DemoCounts;
  decisions: () => readonly DemoDecision[];
  podsByNode: () => Map<string, Record<string, number>>;
  now: () => number;
}

interface AgentView {
  windows: Record<string, number>;
  gpus: GpuStatistics[];
}

async function readAgent(url: string): Promise<AgentView> {
  const res = await fetch(url + AGENT_PATHS.statistics, { signal: AbortSignal.timeout(1500) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { windows?: Record<string, number>; gpus?: GpuStatistics[] };
  return { windows: body.windows ?? {}, gpus: body.gpus ?? [] };
}

export async function gatherStatus(src: StatusSource): Promise<ClusterStatus> {
  const core = src.kubeConfig.makeApiClient(CoreV1Api);
  const now = src.now();
  const [list, podList] = await Promise.all([core.listNode(), core.listPodForAllNamespaces()]);
  const byName = new Map(list.items.map((n) => [n.metadata?.name ?? '', n]));
  const pods = src.podsByNode();
  const nodes = await Promise.all(
    src.nodes().map(async (n): Promise<NodeStatus> => {
      const annotations: NodeStatus['annotations'] = {};
      for (const [key, text] of Object.entries(byName.get(n.name)?.metadata?.annotations ?? {})) {
        if (!key.startsWith(ANNOTATION_PREFIX) || key === GPU_INVENTORY_ANNOTATION) continue;
        const decoded = key === HOT_VALUE_ANNOTATION ? decodeCount(text) : decodeFraction(text);
        annotations[key.slice(ANNOTATION_PREFIX.length)] = decoded.ok
          ? {
              value: decoded.annotation.value,
              ageSeconds: Math.max(0, Math.round((now - decoded.annotation.timestampMs) / 1000)),
            }
          : { raw: text.slice(0, 80) };
      }
      let view: AgentView = { windows: {}, gpus: [] };
      let agentError: string | undefined;
      try {
        view = await readAgent(n.agentUrl);
      } catch (err) {
        agentError = (err as Error).message;
      }
      return {
        ...n,
        annotations,
        agentWindows: view.windows,
        ...(agentError ? { agentError } : {}),
        gpus: view.gpus,
        pods: pods.get(n.name) ?? {},
      };
    }),
  );
  return {
    generatedAt: new Date(now).toISOString(),
    generatedAtMs: now,
    pods: countPods(podList.items),
    apiServer: src.apiServer,
    kubeconfig: src.kubeconfig,
    extender: src.extender,
    workload: src.counts(),
    nodes,
    decisions: src.decisions(),
  };
}

export function countPods(pods: readonly V1Pod[]): PodCounts {
  const counts: PodCounts = { bound: 0, waiting: 0, unschedulable: 0 };
  for (const pod of pods) {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    if (pod.spec?.nodeName) counts.bound++;
    else if (pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'))
      counts.unschedulable++;
    else counts.waiting++;
  }
  return counts;
}
