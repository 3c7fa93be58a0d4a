// The controller's own contract: its port, Lease, and Prometheus names (one spelling, shared by
// code, docs, dashboards and tests).
import { METRIC_PREFIX } from './metrics.ts';

/** Port of the controller's /metrics and /healthz. */
export const CONTROLLER_DEFAULT_PORT = 19102;

/** The coordination.k8s.io/v1 Lease the controller replicas elect a leader on. */
export const CONTROLLER_LEASE_NAME = 'loadwise-controller';

/** Where the controller reaches a node's agent; `{ip}`, `{port}` and `{name}` are filled in per node. */
export const DEFAULT_AGENT_URL_TEMPLATE = 'http://{ip}:{port}/statistics';

export const CONTROLLER_METRICS = {
  /** Sync cycles run (by the leader). */
  syncs: `${METRIC_PREFIX}controller_syncs_total`,
  /** Wall-clock seconds of one sync cycle. */
  syncDuration: `${METRIC_PREFIX}controller_sync_duration_seconds`,
  /** Cycles that ran past the sync period (the next one started late, never overlapping). */
  syncOverruns: `${METRIC_PREFIX}controller_sync_overruns_total`,
  /** Agents polled; label `result` (ok, failed). */
  agentPolls: `${METRIC_PREFIX}controller_agent_polls_total`,
  /** Failed agent polls; label `reason` (AGENT_FAILURE_REASONS). */
  agentFailures: `${METRIC_PREFIX}controller_agent_failures_total`,
  /**
   * Good polls whose agent clock was off the controller's by more than the policy's futureSkew
   * (the figures are still written, dated by the controller's clock).
   */
  agentClockSkewed: `${METRIC_PREFIX}controller_agent_clock_skewed_total`,
  /** Node PATCH requests that succeeded. */
  nodePatches: `${METRIC_PREFIX}controller_node_patches_total`,
  /** Node writes that did not happen in the end; label `reason` (PATCH_FAILURE_REASONS). */
  nodePatchFailures: `${METRIC_PREFIX}controller_node_patch_failures_total`,
  /** Retried API requests; label `reason` (conflict, server_error, timeout, network, throttled). */
  apiRetries: `${METRIC_PREFIX}controller_api_retries_total`,
  /** Watches restarted; labels `resource` and `reason` (closed, gone, error). */
  watchRestarts: `${METRIC_PREFIX}controller_watch_restarts_total`,
  /** 1 while this replica holds the Lease. */
  isLeader: `${METRIC_PREFIX}controller_is_leader`,
  /** Nodes in the controller's cache. */
  nodes: `${METRIC_PREFIX}controller_nodes`,
  /** Policy (re)loads; label `result` (ok, invalid). */
  policyReloads: `${METRIC_PREFIX}controller_policy_reloads_total`,
} as const;

/** Why an agent's /statistics did not count; the `reason` label's only values. */
export const AGENT_FAILURE_REASONS = [
  'timeout',
  'refused',
  'reset',
  'unreachable',
  'http_status',
  'garbage',
  'wrong_node',
  'no_address',
] as const;
export type AgentFailureReason = (typeof AGENT_FAILURE_REASONS)[number];

/** Why a node's annotations were not written in the end. */
export const PATCH_FAILURE_REASONS = [
  'conflict',
  'server_error',
  'timeout',
  'network',
  'rejected',
  'not_found',
  'not_leader',
] as const;
export type PatchFailureReason = (typeof PATCH_FAILURE_REASONS)[number];
