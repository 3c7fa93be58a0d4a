import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  acceptsGpuModel,
  decodeAssumeTime,
  decodeVgpuAssignment,
  encodeVgpuAssignment,
  gpuModelMatches,
} from './vgpu-pod.ts';

describe('vGPU pod annotations', () => {
  it('round-trips an assignment', () => {
    const assignment = {
      containers: {
        train: [
          { index: 0, core: 100, memoryMiB: 81920 },
          { index: 1, core: 100, memoryMiB: 81920 },
        ],
        sidecar: [{ index: 3, core: 25, memoryMiB: 2048 }],
      },
    };
    const text = encodeVgpuAssignment(assignment);
    assert.deepEqual(decodeVgpuAssignment(text), { ok: true, assignment });
  });

  it('rejects anything malformed with a reason, never throwing', () => {
    for (const [text, why] of [
      ['', /not JSON/],
      ['[]', /not an object/],
      ['{"v":2,"containers":{}}', /version 2/],
      ['{"v":1}', /containers must be an object/],
      ['{"v":1,"containers":{"c":[]}}', /expected 1\.\.16 GPUs/],
      ['{"v":1,"containers":{"c":[{"index":-1,"core":50,"memoryMiB":1}]}}', /bad or repeated GPU index/],
      [
        '{"v":1,"containers":{"c":[{"index":0,"core":50,"memoryMiB":1},{"index":0,"core":50,"memoryMiB":1}]}}',
        /repeated/,
      ],
      ['{"v":1,"containers":{"c":[{"index":0,"core":101,"memoryMiB":1}]}}', /core must be 1\.\.100/],
      ['{"v":1,"containers":{"c":[{"index":0,"core":50,"memoryMiB":0}]}}', /memoryMiB must be positive/],
      ['{"v":1,"containers":{"c":[null]}}', /bad or repeated GPU index/],
      [`{"v":1,"containers":{"c":"${'x'.repeat(20000)}"}}`, /longer than/],
    ] as const) {
      const r = decodeVgpuAssignment(text);
      assert.equal(r.ok, false, text.slice(0, 60));
      if (!r.ok) assert.match(r.error, why);
    }
  });

  it('reads the assume time as epoch milliseconds only', () => {
    assert.equal(decodeAssumeTime('1795000000123'), 1795000000123);
    for (const bad of [undefined, '', '-1', '1.5', '2026-11-22T06:00:00Z', '1e12'])
      assert.equal(decodeAssumeTime(bad), undefined);
  });
});

describe('GPU model constraint', () => {
  it('matches a short name against the product name nvidia-smi reports, as whole words', () => {
    assert.ok(gpuModelMatches('A100', 'NVIDIA A100-SXM4-80GB'));
    assert.ok(gpuModelMatches('a100-sxm4', 'NVIDIA A100-SXM4-80GB'));
    assert.ok(gpuModelMatches('Tesla T4', 'Tesla T4'));
    assert.ok(gpuModelMatches('T4', 'T4'));
    assert.equal(gpuModelMatches('A10', 'NVIDIA A100-PCIE-40GB'), false);
    assert.equal(gpuModelMatches('A10', 'A100'), false);
    assert.equal(gpuModelMatches('V100M16', 'V100M32'), false);
    assert.equal(gpuModelMatches('', 'T4'), false);
  });
  it('any listed model will do, and no list means any GPU', () => {
    assert.ok(acceptsGpuModel(['H100', 'A100'], 'NVIDIA A100-SXM4-80GB'));
    assert.equal(acceptsGpuModel(['H100'], 'NVIDIA A100-SXM4-80GB'), false);
    assert.ok(acceptsGpuModel([], 'anything'));
  });
});
