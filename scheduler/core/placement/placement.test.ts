import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NodeSpec, GpuFleet } from './fleet.ts';
import { cpuPerGpuMilli, GpuPlacer, holeWaste, modelPressure, type PlacementOptions } from './placement.ts';
import { targetWorkload } from './workload.ts';
import { type TaskRequest } from './task.ts';

const spec = (name: string, gpus: number, cpu: number): NodeSpec => ({
  name,
  cpuMilli: cpu,
  memoryMib: 262_144,
  gpuCount: gpus,
  gpuModel: 'T4',
});
const req = (cpuMilli: number, gpuCount: number, gpuMilli: number): TaskRequest => ({
  cpuMilli,
  memoryMib: 1024,
  gpuCount,
  gpuMilli,
  gpuModels: [],
});
const OPTS: PlacementOptions = { coverage: 1, strandedWeight: 1, tolerance: 0, modelPressureWeight: 2 };
// Seen mix: whole GPUs at 12 cores each, a 600m share, CPU-only tasks.
const SEEN = [...Array(6).fill(req(12_000, 1, 1000)), ...Array(3).fill(req(6_000, 1, 600)), req(8_000, 0, 0)];

function placeAll(placer: GpuPlacer, fleet: GpuFleet, t: TaskRequest) {
  const c = placer.choose(placer.prepare(t));
  if (c) {
    fleet.allocate(c.node, t, c.gpus);
    placer.committed(c.node);
  }
  return c;
}

describe('GpuPlacer', () => {
  it('learns the CPU each GPU milli brings along from the seen GPU tasks', () => {
    assert.equal(cpuPerGpuMilli(SEEN), (6 * 12_000 + 3 * 6_000) / (6 * 1000 + 3 * 600));
    assert.equal(cpuPerGpuMilli([req(1, 0, 0)]), 0);
  });

  it('puts CPU-only work where its CPU strands no GPU', () => {
    const fleet = new GpuFleet([spec('lean', 4, 48_000), spec('rich', 2, 104_000)]);
    const placer = new GpuPlacer(fleet, SEEN, OPTS);
    assert.equal(placer.choose(placer.prepare(req(16_000, 0, 0)))?.node, 1);
  });

  it('puts a share into an existing fragment, on the GPU it closes', () => {
    const fleet = new GpuFleet([spec('a', 2, 64_000), spec('b', 2, 64_000)]);
    fleet.allocate(1, req(0, 1, 600), [0]);
    const placer = new GpuPlacer(fleet, SEEN, OPTS);
    // 400m left on b's GPU 0 is a fragment for the 600m shape; a 400m share closes it.
    assert.deepEqual(placer.choose(placer.prepare(req(2_000, 1, 400))), {
      node: 1,
      gpus: [0],
      cost: placer.choose(placer.prepare(req(2_000, 1, 400)))!.cost,
    });
  });

  it('follows the given node order between equal costs, and gives whole GPUs by index', () => {
    const fleet = new GpuFleet([spec('a', 4, 64_000), spec('b', 4, 64_000), spec('c', 4, 64_000)]);
    const placer = new GpuPlacer(fleet, SEEN, OPTS, [2, 0, 1]);
    const first = placeAll(placer, fleet, req(12_000, 2, 1000));
    assert.deepEqual(first && { node: first.node, gpus: first.gpus }, { node: 2, gpus: [0, 1] });
    assert.throws(() => new GpuPlacer(fleet, SEEN, OPTS, [0, 0, 1]), /every node once/);
  });

  it('measures how much model-constrained demand claims each model', () => {
    const fleet = new GpuFleet([spec('t4', 2, 64_000), { ...spec('p100', 2, 64_000), gpuModel: 'P100' }]);
    const onlyP100 = { ...req(4_000, 1, 1000), gpuModels: ['P100'] };
    const shapes = targetWorkload([onlyP100, req(4_000, 1, 1000)], 1);
    const p = modelPressure(fleet, shapes);
    // Half the GPU demand insists on P100, which is half the fleet: pressure 1; none on T4.
    assert.deepEqual(Array.from(p), [0, 1]);
    assert.deepEqual(Array.from(modelPressure(fleet, targetWorkload([req(1, 1, 500)], 1))), [0, 0]);
  });

  it('keeps tasks that can run anywhere off the GPUs constrained tasks need', () => {
    const specs = [{ ...spec('p100', 2, 64_000), gpuModel: 'P100' }, spec('t4', 2, 64_000)];
    const seen = [
      ...Array(4).fill({ ...req(4_000, 1, 1000), gpuModels: ['P100'] }),
      ...Array(4).fill(req(4_000, 1, 1000)),
    ];
    const fleet = new GpuFleet(specs);
    const placer = new GpuPlacer(fleet, seen, OPTS);
    assert.equal(placer.choose(placer.prepare(req(4_000, 1, 1000)))?.node, 1);
    // The charge is the weight × the model's pressure × the GPU milli taken.
    const blind = new GpuPlacer(new GpuFleet(specs), seen, { ...OPTS, modelPressureWeight: 0 });
    const a = { cost: 0, gpu: -1 };
    const b = { cost: 0, gpu: -1 };
    placer.evaluate(0, placer.prepare(req(4_000, 1, 1000)), a);
    blind.evaluate(0, blind.prepare(req(4_000, 1, 1000)), b);
    const pressure = modelPressure(fleet, placer.frag.shapes)[fleet.modelId[0]!]!;
    assert.ok(pressure > 0);
    assert.ok(Math.abs(a.cost - b.cost - 2 * pressure * 1000) < 1e-9);
  });

  it('values a GPU hole by what it still wastes once the workload has had its chances to fill it', () => {
    const shapes = targetWorkload([req(1_000, 1, 600)], 1);
    const e = holeWaste(shapes, 2);
    // Below 600 nothing fits: all of it is wasted. From 600 on, a 600m task comes with
    // probability 1 − e^(−2) and leaves l − 600.
    assert.equal(e[0], 0);
    assert.equal(e[599], 599);
    const phi = 1 - Math.exp(-2);
    assert.ok(Math.abs(e[1000]! - ((1 - phi) * 1000 + phi * 400)) < 1e-9);
  });

  it('gives a share the GPU whose leftover later shares can still close, not the one they cannot', () => {
    // Mix: 470m, 320m and 650m shares and whole GPUs. GPU a0 holds a 470m share (530 left), b0 a
    // 320m one (680 left). FGD's measure alone puts the next 320m on a0, leaving 210m nothing
    // common fits; the expected final waste sends it to b0, where 360m remain for another 320m.
    const mix = [
      ...Array(10).fill(req(1_000, 1, 470)),
      ...Array(6).fill(req(1_000, 1, 320)),
      ...Array(4).fill(req(1_000, 1, 650)),
      ...Array(10).fill(req(1_000, 1, 1000)),
    ];
    const opts = { ...OPTS, holeWeight: 4, holeHorizon: 50 };
    const setup = (o: PlacementOptions) => {
      const fleet = new GpuFleet([spec('a', 1, 64_000), spec('b', 1, 64_000)]);
      fleet.allocate(0, req(1_000, 1, 470), [0]);
      fleet.allocate(1, req(1_000, 1, 320), [0]);
      return new GpuPlacer(fleet, mix, o);
    };
    const fgdLike = setup({ ...opts, holeWeight: 0 });
    assert.equal(fgdLike.choose(fgdLike.prepare(req(1_000, 1, 320)))?.node, 0);
    const placer = setup(opts);
    assert.equal(placer.choose(placer.prepare(req(1_000, 1, 320)))?.node, 1);
  });

  it('returns null when no node can host the task, and never over-commits', () => {
    const fleet = new GpuFleet([spec('a', 2, 64_000)]);
    const placer = new GpuPlacer(fleet, SEEN, OPTS);
    for (let i = 0; i < 6; i++) placeAll(placer, fleet, req(1_000, 1, 600));
    assert.deepEqual(fleet.gpuLeftOf(0), [400, 400]);
    assert.equal(placer.choose(placer.prepare(req(1_000, 1, 600))), null);
  });
});
