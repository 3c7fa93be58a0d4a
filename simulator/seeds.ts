// "42..51" → 42…51; "42,45" → 42, 45; "7" → 7.
export function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const range = /^(\d+)\.\.(\d+)$/.exec(part);
    if (range) {
      const lo = Number(range[1]);
      const hi = Number(range[2]);
      if (hi < lo) throw new Error(`seed range "${part}" runs backwards`);
      for (let s = lo; s <= hi; s++) out.push(s);
    } else if (/^\d+$/.test(part)) out.push(Number(part));
    else throw new Error(`bad seed "${part}": use N, N..M or a comma list`);
  }
  if (out.length === 0) throw new Error('no seeds given');
  return out;
}
