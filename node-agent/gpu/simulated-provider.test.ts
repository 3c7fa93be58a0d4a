import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { nodeGpuUsage } from './provider.ts';
import { parseInventoryFile, SimulatedProvider } from './simulated-provider.ts';

const sample = readFileSync(new URL('../../configs/gpus.sample.yaml', import.meta.url), 'utf8');

describe('simulated GPUs', () => {
  it('reads configs/gpus.sample.yaml: groups in order, links, stable UUIDs per node', () => {
    const { devices, idle } = parseInventoryFile(sample, 'node-a');
    assert.equal(devices.length, 6);
    assert.deepEqual(
      devices.map((d) => d.model),
      [
        'NVIDIA A100-SXM4-80GB',
        'NVIDIA A100-SXM4-80GB',
        'NVIDIA A100-SXM4-80GB',
        'NVIDIA A100-SXM4-80GB',
        'Tesla T4',
        'Tesla T4',
      ],
    );
    assert.deepEqual(devices[4]!.links, ['SYS', 'SYS', 'SYS', 'SYS', 'X', 'PIX']);
    assert.equal(idle, 0.02);
    assert.equal(parseInventoryFile(sample, 'node-a').devices[0]!.uuid, devices[0]!.uuid);
    assert.notEqual(parseInventoryFile(sample, 'node-b').devices[0]!.uuid, devices[0]!.uuid);
  });

  it('rejects a bad file with the reason', () => {
    const head = 'apiVersion: loadwise.io/v1alpha1\nkind: GpuInventory\n';
    for (const [text, why] of [
      [`${head}gpus: []`, /must NOT have fewer than 1 items/],
      [`${head}gpus: [{model: A100, memoryMiB: 0, count: 1}]`, /memoryMiB/],
      [`${head}gpus: [{model: A100, memoryMiB: 1, count: 2}]\nlinks: [[X, NV12]]`, /2x2 matrix/],
      [`${head}gpus: [{model: A100, memoryMiB: 1, count: 1}]\nlinks: [[WARP]]`, /pattern/],
      [`${head}gpus: [{model: A100, memoryMiB: 1, count: 1, colour: red}]`, /additional properties/],
      ['gpus: [', /not valid YAML/],
    ] as const) {
      assert.throws(() => parseInventoryFile(text, 'n'), why);
    }
  });

  it('reports utilisation and memory that follow allocations, and health changes', async () => {
    const allocated = new Map([[1, { core: 50, memoryMiB: 10_000 }]]);
    const { devices, idle } = parseInventoryFile(sample, 'node-a');
    const provider = new SimulatedProvider(devices, idle, () => allocated);
    let snapshot = await provider.read();
    assert.equal(snapshot.usage.get(0)!.utilization, 0.02);
    assert.ok(Math.abs(snapshot.usage.get(1)!.utilization! - 0.42) < 1e-12);
    assert.equal(snapshot.usage.get(1)!.memoryUsedMiB, 8000);
    provider.setHealthy(1, false);
    snapshot = await provider.read();
    assert.equal(snapshot.devices[1]!.healthy, false);
    assert.ok(Math.abs(nodeGpuUsage(snapshot)! - 0.02) < 1e-12);
  });
});
