// The load figures loadwise measures on a node. A figure is `<resource>_usage_<window>`, the same
// spelling crane-scheduler uses, so its bare annotation keys are ours without a translation table.

/**
 * Resources the agent samples: CPU and memory from /proc; `gpu` is the mean utilisation of the
 * node's healthy GPUs (absent on a node without GPUs).
 */
export const SAMPLED_RESOURCES = ['cpu', 'mem', 'gpu'] as const;
export type SampledResource = (typeof SAMPLED_RESOURCES)[number];

/**
 * Windows over a resource's series, shortest first.
 * - `active`: the newest sample.
 * - `avg_1m`, `avg_5m`: time-weighted mean of the samples in the last 1 / 5 minutes.
 * - `max_avg_1h`, `max_avg_1d`: the largest 5-minute average seen in the last hour / day
 *   (crane-scheduler's definition: max over time of the 5-minute average). The 5-minute average
 *   is taken every minute (a rolling window, like a Prometheus subquery at 1m resolution), so a
 *   five-minute burst is caught whole whatever its alignment to the clock.
 */
export const WINDOWS = ['active', 'avg_1m', 'avg_5m', 'max_avg_1h', 'max_avg_1d'] as const;
export type WindowName = (typeof WINDOWS)[number];

/** Span in seconds that each window looks back over. */
export const WINDOW_SPAN_SECONDS: Readonly<Record<WindowName, number>> = {
  active: 0,
  avg_1m: 60,
  avg_5m: 300,
  max_avg_1h: 3600,
  max_avg_1d: 86400,
};

/** Span of the average behind the `max_avg_*` windows. */
export const MAX_AVG_SPAN_SECONDS = 300;
/** How often that average is taken (the resolution of the rolling window). */
export const MAX_AVG_STEP_SECONDS = 60;

export type FigureName = `${SampledResource}_usage_${WindowName}`;

export function figureName(resource: SampledResource, window: WindowName): FigureName {
  return `${resource}_usage_${window}`;
}

/** Every node figure, in a stable order (resource-major, then window). */
export const NODE_FIGURES: readonly FigureName[] = SAMPLED_RESOURCES.flatMap((r) =>
  WINDOWS.map((w) => figureName(r, w)),
);

const FIGURE_INDEX: ReadonlyMap<string, number> = new Map(NODE_FIGURES.map((f, i) => [f, i]));

export function isFigureName(name: string): name is FigureName {
  return FIGURE_INDEX.has(name);
}

/** Position of a figure in NODE_FIGURES, for code that keeps figures in dense arrays. */
export function figureIndex(figure: FigureName): number {
  return FIGURE_INDEX.get(figure)!;
}

/** Recent bindings on a node (crane-scheduler's hot value): a count, not a fraction. */
export const HOT_VALUE = 'node_hot_value';
