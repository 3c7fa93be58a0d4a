// A node's load figures as the controller annotated them, decoded once per Node update. A missing
// or garbled annotation is recorded, never thrown: one bad node must not fail a filter call.
import {
  craneAnnotationKey,
  decodeCount,
  decodeFraction,
  type FigureName,
  figureAnnotationKey,
  HOT_VALUE,
  HOT_VALUE_ANNOTATION,
  NODE_FIGURES,
} from '../../../contracts/index.ts';

export interface TimedValue {
  value: number;
  timestampMs: number;
}

export interface NodeFigures {
  figures: Partial<Record<FigureName, TimedValue>>;
  /** The same figures dense, by figureIndex(): NaN where absent. The per-call path reads these. */
  values: Float64Array;
  timestamps: Float64Array;
  hotValue?: TimedValue;
  /** Annotations that were present but could not be read, with why. */
  invalid: { key: string; error: string }[];
}

export interface DecodeOptions {
  /** Also read crane-scheduler's bare keys (`cpu_usage_avg_5m`); loadwise.io/ keys win when both exist. */
  craneKeys: boolean;
}

export function decodeNodeFigures(
  annotations: Readonly<Record<string, string>> | undefined,
  opts: DecodeOptions,
): NodeFigures {
  const result: NodeFigures = {
    figures: {},
    values: new Float64Array(NODE_FIGURES.length).fill(Number.NaN),
    timestamps: new Float64Array(NODE_FIGURES.length).fill(Number.NaN),
    invalid: [],
  };
  if (!annotations) return result;
  const read = (keys: string[], decode: typeof decodeFraction): TimedValue | undefined => {
    for (const key of keys) {
      const text = annotations[key];
      if (text === undefined) continue;
      const decoded = decode(text);
      if (decoded.ok) return decoded.annotation;
      result.invalid.push({ key, error: decoded.error });
    }
    return undefined;
  };
  NODE_FIGURES.forEach((figure, i) => {
    const keys = [figureAnnotationKey(figure)];
    if (opts.craneKeys) keys.push(craneAnnotationKey(figure));
    const value = read(keys, decodeFraction);
    if (!value) return;
    result.figures[figure] = value;
    result.values[i] = value.value;
    result.timestamps[i] = value.timestampMs;
  });
  const hotKeys = opts.craneKeys
    ? [HOT_VALUE_ANNOTATION, craneAnnotationKey(HOT_VALUE)]
    : [HOT_VALUE_ANNOTATION];
  const hot = read(hotKeys, decodeCount);
  if (hot) result.hotValue = hot;
  return result;
}
