// The node agent's HTTP contract: where it listens, its paths, and the /statistics document.
import type { FigureName } from './figures.ts';
import type { GpuDevice } from './gpu-inventory.ts';
import { METRICS_PATH, PROBE_PATHS } from './probes.ts';

export const AGENT_DEFAULT_PORT = 19101;

/** The oldest sample a consumer accepts a document for (a day); the agent is broken beyond it. */
export const MAX_SAMPLE_AGE_SECONDS = 86_400;

/** The agent's sampling period unless `--sample-interval` says otherwise. */
export const DEFAULT_SAMPLE_INTERVAL_SECONDS = 10;

export const AGENT_PATHS = {
  /**
   * loadwise's document; with `--compat node-metrics`, node-metrics' flat document unless the
   * request asks for LOADWISE_STATISTICS_MEDIA_TYPE (node-metrics.ts).
   */
  statistics: '/statistics',
  /** loadwise's document whatever the compatibility mode: the versioned path. */
  statisticsV1: '/loadwise/v1/statistics',
  metrics: METRICS_PATH,
  healthz: PROBE_PATHS.healthz,
  readyz: PROBE_PATHS.readyz,
} as const;

/**
 * `GET /statistics`. `windows` holds only the figures that have data: a window with none yet is
 * absent, never 0. `coverageSeconds` says how much of each window is backed by samples, so a
 * consumer can tell a real one-day maximum from one over twenty minutes of history.
 * (Validated on the consumer's side by `parseStatistics` in statistics-parser.ts.)
 */
export interface Statistics {
  node: string;
  /** When the figures were measured (the newest good sample), RFC 3339 UTC. */
  timestamp: string;
  /** Seconds between `timestamp` and when this document was served. */
  sampleAgeSeconds: number;
  sampleIntervalSeconds: number;
  /** Fractions 0..1 by figure name. */
  windows: Record<string, number>;
  coverageSeconds: Record<string, number>;
  /** The node's GPUs, when it has any (absent on a CPU node or with --gpu-provider none). */
  gpus?: GpuStatistics[];
}

/**
 * What a consumer accepts: a current document, or one from an agent a release or more older (a
 * DaemonSet rollout runs old and new agents side by side for a while). Fields that are not needed
 * to date and read the figures are optional: a missing `sampleIntervalSeconds` is taken as the
 * default period, missing `coverageSeconds` as none known, missing `gpus` as no GPUs.
 * `sampleAgeSeconds` stays required: every release has sent it, and it is what the controller
 * dates the figures by.
 */
export type AcceptedStatistics = Omit<Statistics, 'sampleIntervalSeconds' | 'coverageSeconds'> &
  Partial<Pick<Statistics, 'sampleIntervalSeconds' | 'coverageSeconds'>>;

/** One GPU: what it is, what it does now, and what loadwise has handed out on it. */
export interface GpuStatistics extends GpuDevice {
  /** Busy fraction 0..1 at the last reading, when known (not in MIG mode). */
  utilization?: number;
  memoryUsedMiB?: number;
  /** Compute in hundredths of the GPU and memory in MiB that loadwise allocated to containers. */
  allocated: { core: number; memoryMiB: number };
}

/** A /statistics document after validation, with the figures this build knows about. */
export interface ParsedStatistics {
  node: string;
  timestampMs: number;
  sampleAgeSeconds: number;
  sampleIntervalSeconds: number;
  windows: Partial<Record<FigureName, number>>;
  coverageSeconds: Partial<Record<FigureName, number>>;
  gpus?: GpuStatistics[];
}
