import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseQueryGpu, parseTopology } from './nvidia-smi.ts';
import { NvidiaSmiProvider, type Runner } from './nvidia-smi-provider.ts';
import { nodeGpuUsage } from './provider.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url), 'utf8');

describe('nvidia-smi --query-gpu CSV', () => {
  it('reads an 8×A100 node', () => {
    const { rows, problems } = parseQueryGpu(fixture('query-8x-a100.csv'));
    assert.deepEqual(problems, []);
    assert.equal(rows.length, 8);
    assert.deepEqual(rows[1], {
      index: 1,
      uuid: rows[1]!.uuid,
      model: 'NVIDIA A100-SXM4-80GB',
      memoryMiB: 81920,
      memoryUsedMiB: 40525,
      utilization: 0.87,
      mig: false,
    });
    assert.match(rows[1]!.uuid, /^GPU-[0-9a-f-]{36}$/);
  });

  it('leaves [N/A] and [Not Supported] fields unknown instead of 0', () => {
    const { rows } = parseQueryGpu(fixture('query-na.csv'));
    assert.equal(rows[0]!.utilization, undefined);
    assert.equal(rows[0]!.memoryUsedMiB, undefined);
    assert.equal(rows[0]!.mig, false);
    assert.equal(rows[1]!.utilization, 0.45);
  });

  it('marks MIG mode, where utilisation is not reported', () => {
    const { rows } = parseQueryGpu(fixture('query-mig.csv'));
    assert.deepEqual(
      rows.map((r) => [r.mig, r.utilization]),
      [
        [true, undefined],
        [false, 0.03],
      ],
    );
  });

  it('keeps the other GPUs when one fell off the bus, and says so', () => {
    const { rows, problems } = parseQueryGpu(fixture('query-lost.csv'));
    assert.deepEqual(
      rows.map((r) => r.index),
      [0, 2],
    );
    assert.match(problems[0]!, /Unable to determine the device handle/);
  });

  it('turns garbage into problems, not rows', () => {
    const { rows, problems } = parseQueryGpu(fixture('query-garbage.csv'));
    assert.deepEqual(rows, []);
    assert.equal(problems.length, 4);
  });
});

describe('nvidia-smi topo -m', () => {
  it('reads an 8-GPU NVLink matrix, ignoring NICs and affinity columns', () => {
    const links = parseTopology(fixture('topo-dgx-a100.txt'));
    assert.equal(links.size, 8);
    assert.deepEqual(links.get(0), ['X', 'NV12', 'NV12', 'NV12', 'NV12', 'NV12', 'NV12', 'NV12']);
    assert.equal(links.get(7)![7], 'X');
  });

  it('reads a PCIe box whose headers carry terminal escapes', () => {
    const links = parseTopology(fixture('topo-pcie-4gpu.txt'));
    assert.deepEqual(links.get(0), ['X', 'PIX', 'SYS', 'SYS']);
    assert.deepEqual(links.get(3), ['SYS', 'SYS', 'PIX', 'X']);
  });

  it('reports no links rather than wrong ones for a matrix it cannot read', () => {
    assert.equal(parseTopology(fixture('topo-garbage.txt')).size, 0);
    assert.equal(parseTopology('').size, 0);
  });
});

describe('NvidiaSmiProvider', () => {
  /** A runner that answers like nvidia-smi from fixtures, switchable mid-test. */
  function runner(state: { query: string; topo: string; calls: string[] }): Runner {
    return async (args) => {
      state.calls.push(args[0]!);
      if (args[0] === 'topo') return state.topo;
      return state.query;
    };
  }

  it('reports a GPU that vanishes as unhealthy (never forgets it) and reads topology only when the set changes', async () => {
    const state = {
      query: fixture('query-8x-a100.csv'),
      topo: fixture('topo-dgx-a100.txt'),
      calls: [] as string[],
    };
    const provider = new NvidiaSmiProvider(runner(state));
    const first = await provider.read();
    assert.equal(first.devices.length, 8);
    assert.ok(first.devices.every((d) => d.healthy && d.links.length === 8));
    assert.ok(Math.abs(nodeGpuUsage(first)! - (0 + 0.87 + 0 + 1 + 0 + 0 + 0.12 + 0) / 8) < 1e-9);
    await provider.read();
    assert.equal(state.calls.filter((c) => c === 'topo').length, 1);

    // GPU 3 falls off the bus.
    state.query = state.query
      .split('\n')
      .filter((l) => !l.startsWith('3,'))
      .join('\n')
      .concat('Unable to determine the device handle for GPU0000:47:00.0: GPU is lost\n');
    const lost = await provider.read();
    assert.equal(lost.devices.length, 8);
    assert.equal(lost.devices[3]!.healthy, false);
    assert.equal(lost.problems.length, 1);
    assert.equal(lost.usage.has(3), false);
    assert.equal(state.calls.filter((c) => c === 'topo').length, 2);
  });

  it('rejects when nvidia-smi itself fails', async () => {
    const provider = new NvidiaSmiProvider(async () => {
      throw new Error('spawn nvidia-smi ENOENT');
    });
    await assert.rejects(provider.read(), /ENOENT/);
  });
});
