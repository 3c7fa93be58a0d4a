import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareTask } from '../../scheduler/core/placement/filter.ts';
import { GpuFleet, type NodeSpec } from '../../scheduler/core/placement/fleet.ts';
import { FragIndex } from '../../scheduler/core/placement/fragmentation.ts';
import { type TaskRequest } from '../../scheduler/core/placement/task.ts';
import { type TargetShape } from '../../scheduler/core/placement/workload.ts';
import { Rng } from '../rng.ts';
import { POLICIES } from './index.ts';
import { type Choice } from './policy.ts';

const spec = (name: string, gpus: number, cpu = 32_000): NodeSpec => ({
  name,
  cpuMilli: cpu,
  memoryMib: 131_072,
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
const shape = (cpuMilli: number, gpuCount: number, gpuMilli: number, popularity: number): TargetShape => ({
  cpuMilli,
  gpuCount,
  gpuMilli,
  gpuModels: [],
  popularity,
});

/** A fleet with some tasks already placed, and a policy over it. */
function setup(
  policy: string,
  nodes: NodeSpec[],
  placed: [number, TaskRequest, number[]][],
  shapes: TargetShape[],
  seen: TaskRequest[] = [],
) {
  const fleet = new GpuFleet(nodes);
  for (const [n, t, g] of placed) fleet.allocate(n, t, g);
  const frag = new FragIndex(fleet, shapes);
  const p = POLICIES[policy]!({ fleet, frag, rng: new Rng(1), tasks: seen });
  const place = (t: TaskRequest): Choice | null => p.place(prepareTask(fleet, t));
  return { fleet, place };
}

const SHARE_600 = [shape(1000, 1, 600, 1)];

describe('baseline policies on small cases', () => {
  it('fgd-paper puts a share where it closes a fragment: the GPU with 400 left, not a whole one', () => {
    // Node 0: GPUs with 1000 and 400 left; node 1 empty. A 400m share on the 400 GPU cuts the
    // 600m shape's fragment from 400 to 0; anywhere else it leaves the fragment as it is.
    const { place } = setup('fgd-paper', [spec('a', 2), spec('b', 2)], [[0, req(0, 1, 600), [1]]], SHARE_600);
    assert.deepEqual(place(req(1000, 1, 400)), { node: 0, gpus: [1] });
  });

  it('packing fills a partly used GPU before a free one', () => {
    const { place } = setup('packing', [spec('a', 2), spec('b', 2)], [[1, req(0, 1, 500), [0]]], SHARE_600);
    assert.deepEqual(place(req(1000, 1, 300)), { node: 1, gpus: [0] });
  });

  it('bestfit takes the node left with the least', () => {
    const { place } = setup(
      'bestfit',
      [spec('a', 2), spec('b', 2)],
      [[0, req(8000, 1, 1000), [0]]],
      SHARE_600,
    );
    assert.equal(place(req(1000, 1, 1000))?.node, 0);
  });

  it('clustering gathers tasks of the same GPU kind', () => {
    const fleet = new GpuFleet([spec('a', 4), spec('b', 4), spec('c', 4)]);
    const p = POLICIES.clustering!({
      fleet,
      frag: new FragIndex(fleet, SHARE_600),
      rng: new Rng(3),
      tasks: [],
    });
    const run = (t: TaskRequest): number => {
      const prepared = prepareTask(fleet, t);
      const c = p.place(prepared)!;
      fleet.allocate(c.node, t, c.gpus);
      p.placed?.(prepared, c);
      return c.node;
    };
    const share = run(req(1000, 1, 300));
    const whole = run(req(1000, 1, 1000));
    assert.notEqual(share, whole);
    assert.equal(run(req(1000, 1, 200)), share);
    assert.equal(run(req(1000, 1, 1000)), whole);
  });

  it('dotprod prefers the node whose free vector is least aligned with the demand', () => {
    const { place } = setup('dotprod', [spec('a', 2, 64_000), spec('b', 2, 16_000)], [], SHARE_600);
    assert.equal(place(req(8000, 1, 1000))?.node, 1);
  });

  it('random picks some node that fits, and whole GPUs are the first free ones', () => {
    const { place } = setup('random', [spec('a', 2), spec('b', 4)], [[1, req(0, 1, 1000), [0]]], SHARE_600);
    for (let i = 0; i < 5; i++) {
      const c = place(req(1000, 3, 1000));
      assert.deepEqual(c, { node: 1, gpus: [1, 2, 3] });
    }
  });

  it('every policy fails a task no node can host', () => {
    for (const name of Object.keys(POLICIES)) {
      const { place } = setup(name, [spec('a', 2)], [], SHARE_600, [req(1000, 1, 500)]);
      assert.equal(place(req(1000, 4, 1000)), null, name);
      assert.equal(place(req(64_000, 0, 0)), null, name);
    }
  });
});

describe('GPU memory (GpuFleet.takes: the rule the extender uses)', () => {
  const t4 = { ...spec('t4', 4), gpuMemoryMib: 15_360 };
  const a100 = { ...spec('a100', 1), gpuModel: 'A100', gpuMemoryMib: 81_920 };
  const big: TaskRequest = { ...req(1000, 1, 1000), gpuMemoryMib: 40_960 };

  it('every policy puts a whole-GPU task asking 40 GiB on the 80 GiB GPU, never on an idle 15 GiB one', () => {
    for (const name of Object.keys(POLICIES)) {
      const { place } = setup(name, [t4, a100], [], SHARE_600, [big]);
      assert.deepEqual(place(big), { node: 1, gpus: [0] }, name);
    }
  });

  it('every policy fails it once the 80 GiB GPU is taken, though four T4s are idle', () => {
    for (const name of Object.keys(POLICIES)) {
      const { place } = setup(name, [t4, a100], [[1, req(0, 1, 1000), [0]]], SHARE_600, [big]);
      assert.equal(place(big), null, name);
    }
  });

  it('a share asking more memory than is left on a GPU goes to another', () => {
    // GPU 0 of the T4 node holds a 500m share that took 12 GiB; a 200m share asking 4 GiB fits
    // its compute but not its memory.
    for (const name of Object.keys(POLICIES)) {
      const t4one = { ...spec('t4', 2), gpuMemoryMib: 15_360 };
      const { place } = setup(
        name,
        [t4one],
        [[0, { ...req(0, 1, 500), gpuMemoryMib: 12_288 }, [0]]],
        SHARE_600,
        [req(1000, 1, 200)],
      );
      assert.deepEqual(place({ ...req(1000, 1, 200), gpuMemoryMib: 4096 }), { node: 0, gpus: [1] }, name);
    }
  });
});

describe('fgd', () => {
  const seen = [...Array(8).fill(req(12_000, 1, 1000)), req(8000, 0, 0)];

  it('sends a CPU-only task where its CPU strands no GPU', () => {
    // Node a: 2 GPUs and 24 cores (12 per GPU, the workload's ratio); node b: 2 GPUs, 104 cores.
    const { place } = setup('fgd', [spec('a', 2, 24_000), spec('b', 2, 104_000)], [], SHARE_600, seen);
    assert.equal(place(req(8000, 0, 0))?.node, 1);
  });

  it('closes a fragment with a share, like FGD', () => {
    const mix = [...Array(8).fill(req(1000, 1, 600)), req(1000, 1, 400)];
    const { place } = setup('fgd', [spec('a', 2), spec('b', 2)], [[0, req(0, 1, 600), [1]]], SHARE_600, mix);
    assert.deepEqual(place(req(1000, 1, 400)), { node: 0, gpus: [1] });
  });

  it('leaves a share where later shares can still close the hole, not a 210m leftover', () => {
    // a: a 470m share (530 left); b: a 320m one (680 left). A 320m on a would leave 210m that no
    // common share fits; on b, 360m wait for the next 320m.
    const mix = [
      ...Array(10).fill(req(1000, 1, 470)),
      ...Array(6).fill(req(1000, 1, 320)),
      ...Array(4).fill(req(1000, 1, 650)),
      ...Array(10).fill(req(1000, 1, 1000)),
    ];
    const { place } = setup(
      'fgd',
      [spec('a', 1, 64_000), spec('b', 1, 64_000)],
      [
        [0, req(1000, 1, 470), [0]],
        [1, req(1000, 1, 320), [0]],
      ],
      SHARE_600,
      mix,
    );
    assert.deepEqual(place(req(1000, 1, 320)), { node: 1, gpus: [0] });
  });
});
