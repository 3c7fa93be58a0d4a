// A node's load figures as the controller annotated them, decoded once per Node update. A missing
// or garbled annotation is recorded, never thrown: one bad node must not fail a filter call.
import {
  craneAnnotationKey,
  decodeCount,
  type DecodeResult,
  decodeFraction,
  type FigureName,
  figureAnnotationKey,
  HOT_VALUE,
  HOT_VALUE_ANNOTATION,
  NODE_FIGURES,
} from '../../../contracts/index.ts';
import {
  CRANE_DEFAULT_TIME_ZONE,
  CRANE_HOT_VALUE_VALIDITY_MS,
  decodeCraneCount,
  decodeCraneFraction,
} from '../../../contracts/crane.ts';

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
  /** Set when the hot value came from crane's bare key: crane holds it valid this long, at most. */
  hotValueMaxValidityMs?: number;
  /** Annotations that were present but could not be read, with why. */
  invalid: { key: string; error: string }[];
}

export interface DecodeOptions {
  /** Also read crane-scheduler's bare keys (`cpu_usage_avg_5m`); loadwise.io/ keys win when both exist. */
  craneKeys: boolean;
  /** The zone crane's times are written in (crane's `TZ`); default Asia/Shanghai. */
  craneTimeZone?: string;
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
  const zone = opts.craneTimeZone ?? CRANE_DEFAULT_TIME_ZONE;
  const read = (key: string, decode: (text: string) => DecodeResult): TimedValue | undefined => {
    const text = annotations[key];
    if (text === undefined) return undefined;
    const decoded = decode(text);
    if (decoded.ok) return decoded.annotation;
    result.invalid.push({ key, error: decoded.error });
    return undefined;
  };
  const craneFraction = (text: string) => decodeCraneFraction(text, zone);
  NODE_FIGURES.forEach((figure, i) => {
    const value =
      read(figureAnnotationKey(figure), decodeFraction) ??
      (opts.craneKeys ? read(craneAnnotationKey(figure), craneFraction) : undefined);
    if (!value) return;
    result.figures[figure] = value;
    result.values[i] = value.value;
    result.timestamps[i] = value.timestampMs;
  });
  const hot = read(HOT_VALUE_ANNOTATION, decodeCount);
  if (hot) result.hotValue = hot;
  else if (opts.craneKeys) {
    const crane = read(craneAnnotationKey(HOT_VALUE), (text) => decodeCraneCount(text, zone));
    if (crane) {
      result.hotValue = crane;
      result.hotValueMaxValidityMs = CRANE_HOT_VALUE_VALIDITY_MS;
    }
  }
  return result;
}
