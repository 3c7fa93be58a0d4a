import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeVgpuConfig,
  encodeVgpuConfig,
  VGPU_CONFIG_MAX_LINE,
  type VgpuConfig,
  validateVgpuConfig,
  vgpuMemoryLimitEnv,
} from './vgpu-config.ts';

const full: VgpuConfig = {
  coreLimitPercent: 30,
  coreMode: 'soft',
  sharedRegionPath: '/etc/loadwise/vgpu/vgpu.shm',
  devices: [
    { index: 1, memoryLimitBytes: 2 * 1024 ** 3 },
    { index: 0, uuid: 'GPU-6b1a9f3e-0c1d-4e2f-8a3b-5c6d7e8f9a0b', memoryLimitBytes: 1024 ** 3 },
  ],
};

describe('vGPU config', () => {
  it('round-trips a full config, devices in index order', () => {
    const text = encodeVgpuConfig(full);
    assert.ok(text.endsWith('\n'));
    const result = decodeVgpuConfig(text);
    assert.deepEqual(result, {
      ok: true,
      config: { ...full, devices: [full.devices[1], full.devices[0]] },
    });
  });

  it('writes the documented lines', () => {
    const text = encodeVgpuConfig({
      coreLimitPercent: 100,
      coreMode: 'hard',
      devices: [{ index: 0, memoryLimitBytes: 268435456 }],
    });
    assert.deepEqual(text.split('\n').slice(1), [
      'version=1',
      'core_limit=100',
      'core_mode=hard',
      'device.0.memory_limit=268435456',
      '',
    ]);
  });

  it('refuses to encode what it could not decode', () => {
    const bad: VgpuConfig[] = [
      { ...full, coreLimitPercent: 0 },
      { ...full, coreLimitPercent: 101 },
      { ...full, coreLimitPercent: 12.5 },
      { ...full, sharedRegionPath: 'relative/path' },
      { ...full, sharedRegionPath: '/a/../b' },
      { ...full, devices: [] },
      { ...full, devices: [{ index: 16, memoryLimitBytes: 1 }] },
      { ...full, devices: [{ index: 0, memoryLimitBytes: 0 }] },
      { ...full, devices: [{ index: 0, uuid: 'GPU 1', memoryLimitBytes: 1 }] },
      {
        ...full,
        devices: [
          { index: 0, memoryLimitBytes: 1 },
          { index: 0, memoryLimitBytes: 2 },
        ],
      },
    ];
    for (const config of bad) {
      assert.notEqual(validateVgpuConfig(config), undefined, JSON.stringify(config));
      assert.throws(() => encodeVgpuConfig(config), RangeError);
    }
  });

  it('accepts comments, blank lines and any key order', () => {
    const result = decodeVgpuConfig(
      '# hi\n\ndevice.0.memory_limit=5\ncore_mode=hard\n# x y z\ncore_limit=7\nversion=1',
    );
    assert.deepEqual(result, {
      ok: true,
      config: { coreLimitPercent: 7, coreMode: 'hard', devices: [{ index: 0, memoryLimitBytes: 5 }] },
    });
  });

  const base = 'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024\n';
  const rejected: Array<[string, string, RegExp]> = [
    ['no version', 'core_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n', /version is missing/],
    ['a newer version', base.replace('version=1', 'version=2'), /unsupported version/],
    ['a duplicate key', `${base}core_limit=60\n`, /line 5: core_limit given twice/],
    ['an unknown key', `${base}colour=blue\n`, /unknown key "colour"/],
    ['a space', base.replace('core_limit=50', 'core_limit= 50'), /printable ASCII/],
    ['CRLF', base.replaceAll('\n', '\r\n'), /printable ASCII/],
    ['no equals sign', `${base}junk\n`, /expected key=value/],
    ['core limit 0', base.replace('core_limit=50', 'core_limit=0'), /core_limit must be 1..100/],
    ['core limit with a sign', base.replace('core_limit=50', 'core_limit=+5'), /core_limit/],
    ['leading zero', base.replace('core_limit=50', 'core_limit=050'), /core_limit/],
    ['an unknown mode', base.replace('core_mode=hard', 'core_mode=Hard'), /core_mode must be/],
    ['no core mode', base.replace('core_mode=hard\n', ''), /core_mode is missing/],
    ['no device', 'version=1\ncore_limit=50\ncore_mode=hard\n', /no device/],
    ['device 16', `${base}device.16.memory_limit=1\n`, /0..15/],
    ['a uuid without a limit', `${base}device.2.uuid=GPU-1\n`, /device.2.memory_limit is missing/],
    ['a zero limit', base.replace('=1024', '=0'), /memory_limit must be/],
    ['a limit past 2^53', base.replace('=1024', '=9007199254740992'), /memory_limit must be/],
    ['a relative region', `${base}shared_region=tmp/x\n`, /absolute path/],
    ['a region with ..', `${base}shared_region=/tmp/../x\n`, /absolute path/],
    ['a long line', `${base}#${'x'.repeat(VGPU_CONFIG_MAX_LINE)}\n`, /longer than 255/],
  ];
  for (const [name, text, error] of rejected) {
    it(`rejects ${name}`, () => {
      const result = decodeVgpuConfig(text);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.error, error);
    });
  }

  it('names the per-device memory override', () => {
    assert.equal(vgpuMemoryLimitEnv(3), 'LOADWISE_VGPU_MEMORY_LIMIT_3');
  });
});
