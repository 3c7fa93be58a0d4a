// Builds the /statistics document from the series: every window as of the newest good sample.

import type { SampledResource } from '../contracts/index.ts';
import {
  type FigureName,
  figureName,
  formatRfc3339,
  SAMPLED_RESOURCES,
  type Statistics,
  WINDOWS,
} from '../contracts/index.ts';
import { WINDOW_INDEX, type WindowedSeries, WindowValues } from './windowed-series.ts';

export interface FigureReading {
  /** Figures with data; a window without data is absent. */
  values: Partial<Record<FigureName, number>>;
  coverageSeconds: Partial<Record<FigureName, number>>;
}

const scratch = new WindowValues();

/**
 * Every figure as of `asOfMs`. Windows are anchored at the newest good sample rather than at the
 * time of the request, so all figures describe the same instant; the document's age says how old it is.
 */
export function readFigures(
  series: Readonly<Record<SampledResource, WindowedSeries>>,
  asOfMs: number,
): FigureReading {
  const values: Partial<Record<FigureName, number>> = {};
  const coverageSeconds: Partial<Record<FigureName, number>> = {};
  for (const resource of SAMPLED_RESOURCES) {
    series[resource].windows(asOfMs, scratch);
    for (const window of WINDOWS) {
      const i = WINDOW_INDEX[window];
      const value = scratch.value[i]!;
      if (Number.isNaN(value)) continue;
      const name = figureName(resource, window);
      values[name] = round(value, 6);
      coverageSeconds[name] = round(scratch.coverage[i]!, 3);
    }
  }
  return { values, coverageSeconds };
}

export function buildStatistics(
  node: string,
  figures: FigureReading,
  asOfMs: number,
  nowMs: number,
  sampleIntervalMs: number,
): Statistics {
  return {
    node,
    timestamp: formatRfc3339(asOfMs),
    sampleAgeSeconds: sampleAgeSeconds(asOfMs, nowMs),
    sampleIntervalSeconds: sampleIntervalMs / 1000,
    windows: figures.values,
    coverageSeconds: figures.coverageSeconds,
  };
}

function sampleAgeSeconds(asOfMs: number, nowMs: number): number {
  return round(Math.max(0, nowMs - asOfMs) / 1000, 3);
}

/**
 * The /statistics document as JSON text, split around the one field that changes between samples
 * (the sample's age), so a request only joins strings: the rest changes only when a sample lands.
 * `statisticsJson(buildStatisticsJson(...), now)` is exactly `JSON.stringify(buildStatistics(...))`.
 */
export interface StatisticsJson {
  readonly asOfMs: number;
  /** Up to and including `"sampleAgeSeconds":`. */
  readonly head: string;
  /** After the age, without the closing brace (the GPUs, read per request, may follow). */
  readonly tail: string;
}

export function buildStatisticsJson(
  node: string,
  figures: FigureReading,
  asOfMs: number,
  sampleIntervalMs: number,
): StatisticsJson {
  // The key order of buildStatistics, so the two spellings of the document are the same text.
  const head = `{"node":${JSON.stringify(node)},"timestamp":${JSON.stringify(formatRfc3339(asOfMs))},"sampleAgeSeconds":`;
  const tail =
    `,"sampleIntervalSeconds":${JSON.stringify(sampleIntervalMs / 1000)}` +
    `,"windows":${JSON.stringify(figures.values)},"coverageSeconds":${JSON.stringify(figures.coverageSeconds)}`;
  return { asOfMs, head, tail };
}

/** The document at `nowMs`; `gpusJson` is the JSON array of the GPUs, where the node has any. */
export function statisticsJson(parts: StatisticsJson, nowMs: number, gpusJson?: string): string {
  const age = JSON.stringify(sampleAgeSeconds(parts.asOfMs, nowMs));
  return gpusJson === undefined
    ? `${parts.head}${age}${parts.tail}}`
    : `${parts.head}${age}${parts.tail},"gpus":${gpusJson}}`;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
