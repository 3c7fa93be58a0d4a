// Prometheus metric names exposed by loadwise components (one spelling, shared by code, docs and tests).
import type { FigureName } from './figures.ts';

export const METRIC_PREFIX = 'loadwise_';

/** Gauge per node figure on the agent's /metrics: `loadwise_node_cpu_usage_avg_5m` (fraction 0..1). */
export function nodeFigureMetric(figure: FigureName): string {
  return `${METRIC_PREFIX}node_${figure}`;
}

export const AGENT_METRICS = {
  /** Seconds of each window actually backed by samples; label `figure`. */
  windowCoverage: `${METRIC_PREFIX}node_window_coverage_seconds`,
  /** Samples taken (every tick, whether or not it succeeded). */
  samples: `${METRIC_PREFIX}agent_samples_total`,
  /** Failed or discarded samples; labels `source` (stat, meminfo) and `reason`. */
  sampleFailures: `${METRIC_PREFIX}agent_sample_failures_total`,
  /** Age of the newest good sample, seconds. */
  sampleAge: `${METRIC_PREFIX}agent_sample_age_seconds`,
  /** Wall-clock seconds one sample took (read, parse, update). */
  sampleDuration: `${METRIC_PREFIX}agent_sample_duration_seconds`,
} as const;

/**
 * The agent's GPU memory watchdog (node-agent/gpu-watchdog/): what containers really use, measured
 * from the host, against their vGPU share.
 */
export const GPU_WATCHDOG_METRICS = {
  /** Bytes a container uses on a GPU beyond its share plus the context allowance; present only while over. Labels `node`, `namespace`, `pod`, `container`, `uuid`. */
  overShare: `${METRIC_PREFIX}gpu_container_memory_over_share_bytes`,
  /** Times a container went over its share (`action="reported"`) and processes killed for it (`action="killed"`). Labels `node`, `action`. */
  violations: `${METRIC_PREFIX}gpu_share_violations_total`,
  /** Checks that could not run; labels `node`, `reason` (`nvidia-smi`). */
  errors: `${METRIC_PREFIX}gpu_watchdog_errors_total`,
  /** Checks run; label `node`. */
  checks: `${METRIC_PREFIX}gpu_watchdog_checks_total`,
} as const;

/** Per-GPU gauges on the agent's /metrics; labels `node`, `gpu` (index), `uuid`, `model`. */
export const GPU_METRICS = {
  /** GPUs the agent reports (label `node` only). */
  count: `${METRIC_PREFIX}agent_gpus`,
  utilization: `${METRIC_PREFIX}gpu_utilization`,
  memoryUsed: `${METRIC_PREFIX}gpu_memory_used_bytes`,
  memoryTotal: `${METRIC_PREFIX}gpu_memory_total_bytes`,
  healthy: `${METRIC_PREFIX}gpu_healthy`,
  /** Compute loadwise allocated, in hundredths of the GPU. */
  allocatedCore: `${METRIC_PREFIX}gpu_allocated_core`,
  allocatedMemory: `${METRIC_PREFIX}gpu_allocated_memory_bytes`,
} as const;

/** Reasons a sample is counted as failed; the `reason` label's only values. */
export const SAMPLE_FAILURE_REASONS = [
  'unreadable',
  'truncated',
  'malformed',
  'counter_reset',
  'no_progress',
] as const;
export type SampleFailureReason = (typeof SAMPLE_FAILURE_REASONS)[number];

export const EXTENDER_METRICS = {
  /** Verb calls by `verb` (filter, prioritize, bind) and HTTP `code`. */
  requests: `${METRIC_PREFIX}extender_requests_total`,
  /** Verb latency in seconds by `verb`. */
  requestDuration: `${METRIC_PREFIX}extender_request_duration_seconds`,
  /** Nodes filtered out, by `reason` (the figure over its threshold, stale, unknown_node). */
  filterRejections: `${METRIC_PREFIX}extender_filter_rejections_total`,
  /** Policy file reloads by `result` (ok, invalid). */
  policyReloads: `${METRIC_PREFIX}extender_policy_reloads_total`,
  /**
   * Figures the filter or score read and did not believe, by `verb` (filter, prioritize) and
   * `reason` (STALE_FIGURE_REASONS): once per figure per node per call.
   */
  staleFigures: `${METRIC_PREFIX}extender_stale_figures_total`,
  /** Bindings by `result` (ok, error). */
  bindings: `${METRIC_PREFIX}extender_bindings_total`,
  /** Binds refused before the API was asked to bind, by `reason` (BIND_REFUSAL_REASONS). */
  bindRefusals: `${METRIC_PREFIX}extender_bind_refusals_total`,
  /** TLS certificate (re)loads by `result` (ok, invalid); on invalid the last good ones stay. */
  tlsReloads: `${METRIC_PREFIX}extender_tls_reloads_total`,
  /** Nodes in the extender's cache. */
  cachedNodes: `${METRIC_PREFIX}extender_cached_nodes`,
} as const;

/**
 * Why the extender did not believe a node's figure; the `reason` label's only values.
 * - `missing`: no readable annotation.
 * - `expired`: older than its validity (sync period + 5 minutes).
 * - `future`: dated further ahead than the policy's `futureSkew` (a skewed clock, or a forgery).
 * - `unsynced`: the policy names the figure in a predicate or priority but not in `syncPolicy`.
 */
export const STALE_FIGURE_REASONS = ['missing', 'expired', 'future', 'unsynced'] as const;
export type StaleFigureReason = (typeof STALE_FIGURE_REASONS)[number];
