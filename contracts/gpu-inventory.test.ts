import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeGpuInventory,
  encodeGpuInventory,
  GPU_NODE_LABELS,
  type GpuInventory,
  gpuNodeLabels,
  labelValue,
} from './gpu-inventory.ts';

const inventory: GpuInventory = {
  gpus: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
    index: i,
    uuid: `GPU-${String(i).repeat(8)}-1111-2222-3333-444444444444`,
    model: 'NVIDIA A100-SXM4-80GB',
    memoryMiB: 81920,
    mig: i === 7,
    healthy: i !== 3,
    links: [0, 1, 2, 3, 4, 5, 6, 7].map((j) => (i === j ? 'X' : 'NV12')),
  })),
};

describe('GPU inventory annotation', () => {
  it('round-trips an 8-GPU node in well under 2 KiB', () => {
    const text = encodeGpuInventory(inventory);
    assert.ok(text.length < 2048, `${text.length} bytes`);
    assert.deepEqual(decodeGpuInventory(text), { ok: true, inventory });
  });

  it('rejects a malformed or hostile document with a reason', () => {
    for (const [text, why] of [
      ['', /not JSON/],
      ['{"v":2,"gpus":[]}', /version 2/],
      ['{"v":1,"gpus":{}}', /must be a list/],
      [
        '{"v":1,"gpus":[{"i":0,"u":"GPU-1","m":"A","mem":1},{"i":0,"u":"GPU-2","m":"A","mem":1}]}',
        /repeated GPU index/,
      ],
      ['{"v":1,"gpus":[{"i":0,"u":"","m":"A","mem":1}]}', /bad uuid/],
      ['{"v":1,"gpus":[{"i":0,"u":"GPU-1","m":"A","mem":0}]}', /memory must be positive/],
      ['{"v":1,"gpus":[{"i":0,"u":"GPU-1","m":"A","mem":1,"l":["WARP"]}]}', /bad links/],
      ['{"v":1,"gpus":[null]}', /not an object/],
      [`{"v":1,"gpus":[],"pad":"${'x'.repeat(70000)}"}`, /too large/],
    ] as const) {
      const r = decodeGpuInventory(text);
      assert.equal(r.ok, false, text.slice(0, 60));
      if (!r.ok) assert.match(r.error, why);
    }
  });

  it('GPU node labels: valid label values from model names, count, smallest memory', () => {
    assert.equal(labelValue('NVIDIA A100-SXM4-80GB'), 'NVIDIA-A100-SXM4-80GB');
    assert.equal(labelValue('  Tesla T4 (rev 2)/x '), 'Tesla-T4-rev-2-x');
    assert.equal(labelValue('___'), '');
    const long = labelValue(`${'A'.repeat(62)} B`);
    assert.ok(long.length <= 63 && /[A-Za-z0-9]$/.test(long), long);
    const gpus = [
      { index: 0, model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 },
      { index: 1, model: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960 },
      { index: 2, model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 },
    ];
    assert.deepEqual(gpuNodeLabels(gpus), {
      [GPU_NODE_LABELS.model]: 'NVIDIA-A100-SXM4-80GB',
      [GPU_NODE_LABELS.count]: '3',
      [GPU_NODE_LABELS.memoryMiB]: '40960',
    });
    assert.deepEqual(gpuNodeLabels([]), {});
  });
});
