import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GpuFleet, type NodeSpec } from './fleet.ts';
import { FragIndex } from './fragmentation.ts';
import { type TargetShape } from './workload.ts';

const node = (name: string, gpus: number, cpu = 32_000, model = 'T4'): NodeSpec => ({
  name,
  cpuMilli: cpu,
  memoryMib: 65_536,
  gpuCount: gpus,
  gpuModel: gpus > 0 ? model : '',
});
const shape = (
  cpuMilli: number,
  gpuCount: number,
  gpuMilli: number,
  popularity: number,
  gpuModels: string[] = [],
): TargetShape => ({
  cpuMilli,
  gpuCount,
  gpuMilli,
  gpuModels,
  popularity,
});

function setGpus(fleet: GpuFleet, n: number, lefts: number[]): void {
  lefts.forEach((l, g) => {
    fleet.gpuLeft[fleet.gpuOffset[n]! + g] = l;
  });
}

describe('node fragmentation (hand-computed)', () => {
  it('a share shape counts only the GPUs whose leftover is below its demand', () => {
    const fleet = new GpuFleet([node('a', 4)]);
    setGpus(fleet, 0, [1000, 600, 300, 0]);
    const frag = new FragIndex(fleet, [shape(1000, 1, 500, 1)]);
    // 300 is below 500; 1000 and 600 can host the shape; 0 adds nothing.
    assert.equal(frag.nodeFrag(0), 300);
  });

  it('a CPU-only shape counts all idle GPU; a whole-GPU shape counts partial GPUs', () => {
    const fleet = new GpuFleet([node('a', 4)]);
    setGpus(fleet, 0, [1000, 600, 300, 0]);
    const frag = new FragIndex(fleet, [shape(1000, 0, 0, 0.5), shape(1000, 1, 1000, 0.5)]);
    // CPU-only: 1900 idle; whole GPU: 600 + 300 on partly used cards.
    assert.equal(frag.nodeFrag(0), 0.5 * 1900 + 0.5 * 900);
  });

  it('everything is fragment when the shape cannot run: CPU, model or too few GPUs', () => {
    const fleet = new GpuFleet([node('a', 2, 4_000)]);
    setGpus(fleet, 0, [1000, 500]);
    const shapes = [
      shape(8_000, 1, 100, 0.25),
      shape(1_000, 1, 100, 0.25, ['A100']),
      shape(1_000, 2, 1000, 0.25),
      shape(1_000, 1, 100, 0.25),
    ];
    const frag = new FragIndex(fleet, shapes);
    // Three shapes cannot run (1500 each); the last fits on both GPUs (no fragment).
    assert.equal(frag.nodeFrag(0), 0.75 * 1500);
  });

  it('a node without GPUs has no fragment, and the fleet total sums the nodes', () => {
    const fleet = new GpuFleet([node('cpu', 0), node('g', 2)]);
    setGpus(fleet, 1, [200, 1000]);
    const frag = new FragIndex(fleet, [shape(1_000, 1, 500, 1)]);
    assert.equal(frag.nodeFrag(0), 0);
    assert.equal(frag.nodeFrag(1), 200);
    assert.equal(frag.total(), 200);
  });

  it('after() predicts what refresh() computes once the placement is applied', () => {
    const shapes = [
      shape(3_000, 1, 810, 0.3),
      shape(12_000, 1, 1000, 0.2),
      shape(8_000, 0, 0, 0.2),
      shape(4_000, 1, 320, 0.1, ['T4']),
      shape(40_000, 2, 1000, 0.2),
    ];
    const fleet = new GpuFleet([node('a', 4, 64_000, 'T4'), node('b', 2, 32_000, 'V100')]);
    const frag = new FragIndex(fleet, shapes);
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      const n = rnd(2);
      const lefts = Array.from(
        { length: fleet.gpuCount[n]! },
        () => [0, 100, 320, 500, 810, 900, 1000][rnd(7)]!,
      );
      setGpus(fleet, n, lefts);
      fleet.cpuLeft[n] = rnd(65) * 1000;
      frag.refresh(n);
      const g = rnd(lefts.length);
      const d = [100, 320, 810][rnd(3)]!;
      const cpu = rnd(5) * 1000;
      if (lefts[g]! < d || fleet.cpuLeft[n]! < cpu) continue;
      const predicted = frag.after(n, cpu, lefts[g]!, lefts[g]! - d, 0);
      fleet.gpuLeft[fleet.gpuOffset[n]! + g] = lefts[g]! - d;
      fleet.cpuLeft[n] = fleet.cpuLeft[n]! - cpu;
      frag.refresh(n);
      assert.ok(Math.abs(predicted - frag.nodeFrag(n)) < 1e-9, `state ${i}`);
      assert.ok(Math.abs(frag.total() - frag.nodeFrag(0) - frag.nodeFrag(1)) < 1e-6);
    }
  });
});
