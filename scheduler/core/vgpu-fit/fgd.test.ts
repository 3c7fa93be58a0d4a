import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GpuDevice } from '../../../contracts/index.ts';
import type { TaskRequest } from '../placement/index.ts';
import { containerTask, fgdCosts, type FgdNode, type FgdPlacement, fgdPlace, fgdScores } from './fgd.ts';
import { fitPod, type GpuFree } from './fit.ts';
import type { PodGpuRequest } from './request.ts';

const MEMORY = 81920;

function devices(n: number, links?: (i: number, j: number) => string): GpuDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    index: i,
    uuid: `GPU-${i}`,
    model: 'A100',
    memoryMiB: MEMORY,
    mig: false,
    healthy: true,
    links: links ? Array.from({ length: n }, (_, j) => (i === j ? 'X' : links(i, j))) : [],
  }));
}
/** A candidate as the extender passes it: the inventory and what the ledger says is assigned. */
const asNode = (free: GpuFree[]): FgdNode => ({
  gpus: free.map((g) => g.device),
  used: new Map(
    free.map((g) => [g.device.index, { core: 100 - g.core, memoryMiB: g.device.memoryMiB - g.memoryMiB }]),
  ),
});
/** What fitPod sees of a candidate with nothing assigned. */
const freeOf = (n: FgdNode): GpuFree[] =>
  n.gpus.map((d) => ({ device: d, core: 100, memoryMiB: d.memoryMiB }));
/** A node's GPUs by free core (hundredths); memory free in proportion unless given. */
const node = (cores: number[], memory: number[] = []): FgdNode =>
  asNode(
    devices(cores.length).map((d, i) => ({
      device: d,
      core: cores[i]!,
      memoryMiB: memory[i] ?? Math.floor((MEMORY * cores[i]!) / 100),
    })),
  );

/** One container per entry: core (hundredths, 100·k = k whole GPUs) and memory MiB. */
const pod = (...containers: [number, number?][]): PodGpuRequest => ({
  containers: containers.map(([core, memoryMiB = 0], i) => ({
    container: `c${i}`,
    gpus: core >= 100 ? core / 100 : 1,
    core: Math.min(core, 100),
    memoryMiB,
  })),
  models: [],
});
/** A mix of `count` requests of each core size. */
const mix = (...parts: [number, number][]): TaskRequest[] =>
  parts
    .flatMap(([core, count]) => Array.from({ length: count }, () => pod([core]).containers[0]!))
    .map((c) => containerTask(c, []));

const gpusOf = (p: FgdPlacement | undefined, container = 'c0') => {
  assert.ok(p?.ok, 'the pod should fit');
  return p.containers[container]!.map((s) => s.index);
};
const scores = (nodes: FgdNode[], request: PodGpuRequest, seen: TaskRequest[]) =>
  fgdScores(fgdCosts(nodes, request, seen));

const halvesAndWholes = mix([50, 16], [100, 4]);
const halves = mix([50, 20]);
const wholes = mix([100, 20]);

describe('fgd placement of vGPU pods', () => {
  it('a half-GPU request fills a half-GPU hole rather than breaking a whole GPU', () => {
    // Inside a node: GPU 0 has half left, GPU 1 is whole.
    assert.deepEqual(gpusOf(fgdPlace([node([50, 100])], pod([50]), halvesAndWholes)[0]), [0]);
    // Across nodes: the node with the hole scores 10, the one that would lose a whole GPU 0.
    assert.deepEqual(scores([node([50, 0]), node([100, 0])], pod([50]), halvesAndWholes), [10, 0]);
  });

  it('a 0.3 request keeps a half-GPU hole for the halves, or fills it when whole GPUs dominate', () => {
    // Mostly halves: 0.3 on the hole would leave 0.2 no half can use; it breaks the whole GPU.
    assert.deepEqual(gpusOf(fgdPlace([node([50, 100])], pod([30]), halves)[0]), [1]);
    assert.deepEqual(scores([node([50, 0]), node([100, 0])], pod([30]), halves), [0, 10]);
    // Mostly whole GPUs: the whole GPU must stay whole; the hole takes it.
    assert.deepEqual(gpusOf(fgdPlace([node([50, 100])], pod([30]), wholes)[0]), [0]);
    assert.deepEqual(scores([node([50, 0]), node([100, 0])], pod([30]), wholes), [10, 0]);
  });

  it('with no request seen yet, a share goes to the tightest GPU it fits (best fit)', () => {
    assert.deepEqual(gpusOf(fgdPlace([node([100, 60, 40])], pod([40]), [])[0]), [2]);
  });

  it('the chosen GPU must also have the memory; else the best GPU that has both', () => {
    // GPUs 0 and 1 both have half left (equal cost), but GPU 0 has only 1 GiB of memory free.
    const gpus = node([50, 50, 100], [1024, 40960, MEMORY]);
    const placed = fgdPlace([gpus], pod([50, 4096]), halvesAndWholes)[0];
    assert.deepEqual(gpusOf(placed), [1]);
    const unconstrained = fgdPlace([node([50, 50, 100])], pod([50, 4096]), halvesAndWholes)[0];
    assert.ok(placed?.ok && unconstrained?.ok);
    assert.equal(placed.cost, unconstrained.cost);
    assert.deepEqual(placed.containers.c0, [{ index: 1, core: 50, memoryMiB: 4096 }]);
    // No GPU with the memory: the node does not take the pod.
    assert.deepEqual(fgdPlace([node([50, 50], [1024, 1024])], pod([50, 4096]), halves), [{ ok: false }]);
  });

  it('places a multi-container pod container by container, leaving the input as it was', () => {
    const gpus = node([50, 50, 100]);
    const before = JSON.stringify([...gpus.used!]);
    const placed = fgdPlace([gpus], pod([50], [50]), halvesAndWholes)[0];
    // Both holes are filled; the whole GPU stays whole.
    assert.deepEqual([gpusOf(placed, 'c0'), gpusOf(placed, 'c1')].flat().sort(), [0, 1]);
    assert.equal(JSON.stringify([...gpus.used!]), before);
    // Two halves on one node with a single half hole: the second container needs the whole GPU.
    const two = fgdPlace([node([50, 100])], pod([50], [50]), halvesAndWholes)[0];
    assert.deepEqual([gpusOf(two, 'c0'), gpusOf(two, 'c1')].flat().sort(), [0, 1]);
    assert.deepEqual(fgdPlace([node([50, 0])], pod([50], [50]), halves), [{ ok: false }]);
  });

  it('whole GPUs: the best-linked free set, never a GPU with a share on it', () => {
    const links = (i: number, j: number) => (Math.floor(i / 2) === Math.floor(j / 2) ? 'NV12' : 'SYS');
    const gpus = devices(4, links).map((d, i) => ({
      device: d,
      core: i === 0 ? 70 : 100,
      memoryMiB: i === 0 ? 1000 : MEMORY,
    }));
    const placed = fgdPlace([asNode(gpus)], pod([200]), wholes)[0];
    assert.deepEqual(gpusOf(placed), [2, 3]);
    assert.deepEqual(fgdPlace([asNode(gpus)], pod([400]), wholes), [{ ok: false }]);
  });

  it('whole GPUs must have the memory asked: a 40 GiB container never lands on idle 15 GiB GPUs', () => {
    const t4s: FgdNode = { gpus: devices(4).map((d) => ({ ...d, model: 'T4', memoryMiB: 15_360 })) };
    const a100: FgdNode = { gpus: devices(1) };
    const big = pod([100, 40_960]);
    assert.deepEqual(
      fgdPlace([t4s, a100], big, wholes).map((p) => p.ok),
      [false, true],
    );
    assert.deepEqual(fgdScores(fgdCosts([t4s, a100], big, wholes)), [0, 10]);
    // The same verdict as the fit check: both ask the one rule.
    assert.deepEqual(
      [t4s, a100].map((n) => fitPod(freeOf(n), big, 'fgd').ok),
      [false, true],
    );
  });

  it('a node without usable GPUs does not take the pod and scores 0', () => {
    const sick = { gpus: devices(1).map((d) => ({ ...d, healthy: false })) };
    const mig = { gpus: devices(1).map((d) => ({ ...d, mig: true })) };
    const placed = fgdPlace([{ gpus: [] }, sick, mig, node([100])], pod([30]), halves);
    assert.deepEqual(
      placed.map((p) => p.ok),
      [false, false, false, true],
    );
    assert.deepEqual(
      fgdScores(fgdCosts([{ gpus: [] }, sick, mig, node([100])], pod([30]), halves)),
      [0, 0, 0, 10],
    );
  });

  it('costs each candidate as if placed on its own, identical nodes alike, with one model or several', () => {
    const states = [
      [50, 0],
      [100, 100],
      [50, 0],
      [30, 70],
      [100, 100],
      [50, 0],
    ];
    const one = states.map((s) => node(s));
    const several = one.map((n, i) =>
      i % 2 ? { ...n, gpus: n.gpus.map((d) => ({ ...d, model: 'H100' })) } : n,
    );
    for (const nodes of [one, several]) {
      const costs = Array.from(fgdCosts(nodes, pod([30]), halvesAndWholes));
      const alone = nodes.map((n) => {
        const p = fgdPlace([n], pod([30]), halvesAndWholes)[0];
        assert.ok(p?.ok);
        return p.cost;
      });
      assert.deepEqual(costs, alone);
      assert.equal(costs[0], costs[2]);
      assert.equal(costs[0], costs[5]);
    }
  });

  it('scores: the cheapest 10, the costliest 0; costs a few milli apart stay close', () => {
    assert.deepEqual(fgdScores([-300, 100, 500]), [10, 5, 0]);
    assert.deepEqual(fgdScores([0, 20, Number.NaN]), [10, 8, 0]);
    assert.deepEqual(fgdScores([7, 7]), [10, 10]);
  });
});
