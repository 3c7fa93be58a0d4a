import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DEVICE_ID_LENGTH, parseVgpuDeviceId, vgpuDeviceId } from './device-plugin.ts';

describe('vGPU device IDs', () => {
  it('round-trip and stay within kubelet’s length limit for a real GPU UUID', () => {
    const uuid = 'GPU-fef8089b-4820-abfc-e83e-94318197576e';
    for (const kind of ['core', 'memory'] as const) {
      const id = vgpuDeviceId(kind, uuid, 319);
      assert.ok(id.length <= MAX_DEVICE_ID_LENGTH, id);
      assert.deepEqual(parseVgpuDeviceId(id), { uuid, kind, unit: 319 });
    }
  });

  it('rejects what is not ours', () => {
    for (const id of [
      'GPU-1',
      'GPU-1-core-',
      'GPU-1-core-01',
      '-core-1',
      'GPU-1-disk-3',
      `${'x'.repeat(60)}-core-1`,
    ]) {
      assert.equal(parseVgpuDeviceId(id), undefined, id);
    }
  });
});
