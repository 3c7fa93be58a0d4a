// Kubernetes resource quantities ("500m", "2Gi", "1.5", "1e3", "128974848"), as the API server
// accepts them. The client library's helper rejects fractional binary values like "1.5Gi" and is
// not exported, so the scheduler parses them here.

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

const MULTIPLIER: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity in base units (cores, bytes, devices), or undefined when it is not one. */
export function parseQuantity(text: string): number | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1 : 1;
  const magnitude = Number(m[2]);
  const scale = m[3] ? MULTIPLIER[m[3]]! : m[4] ? 10 ** Number(m[4]) : 1;
  const value = sign * magnitude * scale;
  return Number.isFinite(value) ? value : undefined;
}
