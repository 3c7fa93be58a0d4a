// What the replay benchmark and its child processes say to each other over the IPC channel.
import type { V1Pod } from '@kubernetes/client-node';

/** Settings of the API-server child (its one argument, as JSON). */
export interface ClusterSettings {
  nodes: number;
  /** GPUs a node (0: a CPU-only cluster). */
  gpusPerNode: number;
  /** Added to every create (the Binding) and patch of a pod, as kube-apiserver + etcd take. */
  writeLatencyMs: number;
  /** Where the child writes a kubeconfig pointing at itself. */
  kubeconfig: string;
}

export type ClusterRequest =
  | { type: 'pods'; id: number; prefix: string; count: number; vgpu: boolean }
  | { type: 'placements'; id: number; names: string[] }
  | { type: 'stop' };

export type ClusterReply =
  | { type: 'ready'; url: string }
  | { type: 'pods'; id: number; pods: V1Pod[] }
  /** Pod name → the node it is bound to ('' while unbound). */
  | { type: 'placements'; id: number; nodeNames: Record<string, string> };

/** Namespace of the replayed pods. */
export const REPLAY_NAMESPACE = 'default';

/** Node `i`'s name in the replay's cluster. */
export const replayNodeName = (i: number): string => `node-${String(i).padStart(4, '0')}`;
