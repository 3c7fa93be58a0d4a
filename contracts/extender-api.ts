// kube-scheduler's extender protocol (k8s.io/kube-scheduler/extender/v1). The Go structs carry no
// JSON tags, so the wire names are the Go field names: `Pod`, `NodeNames`, `FailedNodes`, ...
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { METRICS_PATH, PROBE_PATHS } from './probes.ts';

export const EXTENDER_DEFAULT_PORT = 8888;

/**
 * The extender listens on loopback unless told otherwise: as a second container of the loadwise
 * kube-scheduler Pod, only kube-scheduler (same network namespace) can reach its verbs.
 */
export const EXTENDER_DEFAULT_HOST = '127.0.0.1';

/** The `spec.schedulerName` the extender binds pods for unless `--scheduler-name` says otherwise. */
export const DEFAULT_SCHEDULER_NAME = 'loadwise-scheduler';

/**
 * Why `/bind` refused a pod before touching it (the `reason` label of the refusals metric):
 * the caller named no UID, the pod does not exist, exists with another UID, is already bound, or
 * belongs to a scheduler this extender does not serve.
 */
export const BIND_REFUSAL_REASONS = [
  'empty_uid',
  'not_found',
  'uid_mismatch',
  'already_bound',
  'scheduler_name',
] as const;
export type BindRefusalReason = (typeof BIND_REFUSAL_REASONS)[number];

export const EXTENDER_PATHS = {
  filter: '/filter',
  prioritize: '/prioritize',
  bind: '/bind',
  healthz: PROBE_PATHS.healthz,
  readyz: PROBE_PATHS.readyz,
  metrics: METRICS_PATH,
} as const;

/** kube-scheduler multiplies an extender's score by the extender's weight; 10 is the top. */
export const EXTENDER_MAX_SCORE = 10;

/** Largest request body accepted; kube-scheduler's full-`Nodes` requests on big clusters are large. */
export const EXTENDER_BODY_LIMIT_BYTES = 10 * 1024 * 1024;

export interface ExtenderArgs {
  Pod: V1Pod;
  /** Set when the extender is not nodeCacheCapable: the full Node objects. */
  Nodes?: { items?: V1Node[] } | null;
  /** Set when the extender is nodeCacheCapable: the candidate node names only. */
  NodeNames?: string[] | null;
}

/** Node name → why it was filtered out. */
export type FailedNodesMap = Record<string, string>;

export interface ExtenderFilterResult {
  Nodes?: { items: V1Node[] } | null;
  NodeNames?: string[] | null;
  FailedNodes: FailedNodesMap;
  /** Nodes that preemption cannot help either; loadwise leaves this empty (load is not preemptible). */
  FailedAndUnresolvableNodes?: FailedNodesMap;
  Error: string;
}

export interface HostPriority {
  Host: string;
  Score: number;
}
export type HostPriorityList = HostPriority[];

export interface ExtenderBindingArgs {
  PodName: string;
  PodNamespace: string;
  PodUID: string;
  Node: string;
}

export interface ExtenderBindingResult {
  Error: string;
}
