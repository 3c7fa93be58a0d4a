// Property tests for every decoder of data that crosses a boundary (issue 13, item 7): whatever
// the text, a decoder answers a value or an error and never throws, and what an encoder writes
// decodes to what was encoded. Fixed seed, bounded runs (test/support/fuzz.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseQuantity } from '../../common/quantity.ts';
import { parsePolicy } from '../../common/policy.ts';
import {
  decodeCount,
  decodeFraction,
  decodeGpuInventory,
  decodeVgpuAssignment,
  decodeVgpuConfig,
  encodeCount,
  encodeFraction,
  encodeGpuInventory,
  encodeVgpuAssignment,
  type GpuDevice,
} from '../../contracts/index.ts';
import { parseVgpuDeviceId } from '../../contracts/device-plugin.ts';
import { parseStatistics } from '../../contracts/statistics-parser.ts';
import { decodeNodeFigures } from '../../scheduler/core/load/node-figures.ts';
import { podDemand } from '../../scheduler/core/load/demand.ts';
import { podGpuRequest } from '../../scheduler/core/vgpu-fit/request.ts';
import { fuzz, hostileString } from '../support/fuzz.ts';

/** Whole seconds from 1970 to 9999: what an RFC 3339 annotation timestamp can say. */
const timestampMs = fc.integer({ min: 0, max: 253_402_300_799 }).map((s) => s * 1000);

describe('decoders never throw, and read back what was written', () => {
  it('annotation codec: fractions and counts', () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        for (const decoded of [decodeFraction(text), decodeCount(text)]) {
          if (decoded.ok) {
            assert.ok(Number.isFinite(decoded.annotation.value) && decoded.annotation.value >= 0);
            assert.ok(Number.isFinite(decoded.annotation.timestampMs));
          } else assert.equal(typeof decoded.error, 'string');
        }
        const fraction = decodeFraction(text);
        if (fraction.ok) assert.ok(fraction.annotation.value <= 1);
      }),
      fuzz(2000),
    );
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), timestampMs, (value, at) => {
        const decoded = decodeFraction(encodeFraction(value, at));
        assert.ok(decoded.ok);
        assert.ok(Math.abs(decoded.annotation.value - value) <= 5e-6);
        assert.equal(decoded.annotation.timestampMs, at);
      }),
      fuzz(1000),
    );
    fc.assert(
      fc.property(fc.maxSafeNat(), timestampMs, (count, at) => {
        assert.deepEqual(decodeCount(encodeCount(count, at)), {
          ok: true,
          annotation: { value: count, timestampMs: at },
        });
      }),
      fuzz(1000),
    );
  });

  it('node figures: any annotations map', () => {
    const key = fc.oneof(
      fc.constantFrom('loadwise.io/cpu_usage_avg_5m', 'loadwise.io/node_hot_value', 'cpu_usage_avg_5m'),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(key, hostileString, { maxKeys: 8 }),
        fc.boolean(),
        (annotations, craneKeys) => {
          const figures = decodeNodeFigures(annotations, { craneKeys });
          for (const f of Object.values(figures.figures)) assert.ok(Number.isFinite(f?.value));
        },
      ),
      fuzz(1000),
    );
  });

  it('agent statistics: any JSON document', () => {
    const valid = {
      node: 'n1',
      timestamp: '2026-12-03T12:00:00Z',
      sampleAgeSeconds: 1,
      sampleIntervalSeconds: 10,
      windows: { cpu_usage_avg_5m: 0.5 },
      coverageSeconds: { cpu_usage_avg_5m: 300 },
    };
    // Any JSON, and the valid document with one field replaced by any JSON.
    const mutated = fc
      .tuple(fc.constantFrom(...Object.keys(valid)), fc.jsonValue({ maxDepth: 3 }))
      .map(([k, v]) => ({ ...valid, [k]: v }));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 5 }), mutated), (doc) => {
        const parsed = parseStatistics(doc);
        if (!parsed.ok) return assert.match(parsed.error, /./);
        assert.ok(Number.isFinite(parsed.stats.timestampMs));
        for (const v of Object.values(parsed.stats.windows)) assert.ok(v! >= 0 && v! <= 1);
      }),
      fuzz(1500),
    );
  });

  it('policy: any text, and the example policy with any line changed', () => {
    const lines = [
      'apiVersion: loadwise.io/v1alpha1',
      'kind: SchedulerPolicy',
      'syncPolicy:',
      '  - {name: cpu_usage_avg_5m, period: 3m}',
      'predicate:',
      '  - {name: cpu_usage_avg_5m, maxLimitPercent: 0.65}',
      'priority:',
      '  - {name: cpu_usage_avg_5m, weight: 1}',
      'hotValue:',
      '  - {timeRange: 5m, count: 5}',
    ];
    const edited = fc
      .tuple(fc.nat({ max: lines.length - 1 }), hostileString)
      .map(([i, line]) => lines.map((l, j) => (j === i ? line : l)).join('\n'));
    fc.assert(
      fc.property(fc.oneof(hostileString, edited), (text) => {
        const result = parsePolicy(text);
        if (!result.ok) return assert.match(result.error, /./);
        for (const p of result.policy.predicate) assert.ok(p.maxLimitPercent >= 0 && p.maxLimitPercent <= 1);
      }),
      fuzz(500),
    );
  });

  const gpu: fc.Arbitrary<GpuDevice> = fc.record(
    {
      index: fc.nat({ max: 63 }),
      uuid: fc.stringMatching(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}$/),
      model: fc.stringMatching(/^[A-Za-z0-9 -]{1,40}$/),
      memoryMiB: fc.integer({ min: 1, max: 1 << 20 }),
      mig: fc.boolean(),
      healthy: fc.boolean(),
      links: fc.constant([]),
    },
    { noNullPrototype: true },
  );

  it('GPU inventory: any text, and every inventory it encodes', () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const decoded = decodeGpuInventory(text);
        if (decoded.ok) for (const g of decoded.inventory.gpus) assert.ok(g.memoryMiB > 0);
      }),
      fuzz(2000),
    );
    const inventory = fc.uniqueArray(gpu, { selector: (g) => g.index, maxLength: 16 });
    fc.assert(
      fc.property(inventory, (gpus) => {
        const decoded = decodeGpuInventory(encodeGpuInventory({ gpus }));
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
        // Decoded in index order.
        assert.deepEqual(
          decoded.inventory.gpus,
          [...gpus].sort((a, b) => a.index - b.index),
        );
      }),
      fuzz(500),
    );
  });

  it('vGPU assignment: any text, and every assignment it encodes', () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const decoded = decodeVgpuAssignment(text);
        if (!decoded.ok) return;
        for (const shares of Object.values(decoded.assignment.containers))
          for (const s of shares) assert.ok(s.core >= 1 && s.core <= 100 && s.memoryMiB >= 0);
      }),
      fuzz(2000),
    );
    const share = fc.record(
      {
        index: fc.nat({ max: 15 }),
        core: fc.integer({ min: 1, max: 100 }),
        memoryMiB: fc.integer({ min: 1, max: 1 << 20 }),
      },
      { noNullPrototype: true },
    );
    const containers = fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      fc.uniqueArray(share, { selector: (s) => s.index, minLength: 1, maxLength: 4 }),
      {
        maxKeys: 4,
        noNullPrototype: true,
      },
    );
    fc.assert(
      fc.property(containers, (c) => {
        const decoded = decodeVgpuAssignment(encodeVgpuAssignment({ containers: c }));
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
        assert.deepEqual(decoded.assignment.containers, c);
      }),
      fuzz(500),
    );
  });

  it('vGPU container config and device IDs: any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileString,
          fc.array(hostileString, { maxLength: 8 }).map((l) => l.join('\n')),
        ),
        (text) => {
          const decoded = decodeVgpuConfig(text);
          if (decoded.ok) assert.ok(decoded.config.devices.length <= 16);
          const id = parseVgpuDeviceId(text);
          if (id) assert.ok(Number.isSafeInteger(id.unit));
        },
      ),
      fuzz(2000),
    );
  });

  it('quantities: any text, and every integer with every suffix', () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const q = parseQuantity(text);
        assert.ok(q === undefined || Number.isFinite(q));
      }),
      fuzz(2000),
    );
    const suffixes: [string, number][] = [
      ['', 1],
      ['m', 1e-3],
      ['k', 1e3],
      ['M', 1e6],
      ['G', 1e9],
      ['Ki', 1024],
      ['Mi', 1024 ** 2],
      ['Gi', 1024 ** 3],
    ];
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom(...suffixes), (n, [suffix, scale]) => {
        assert.equal(parseQuantity(`${n}${suffix}`), n * scale);
      }),
      fuzz(1000),
    );
  });

  it('pod requests: any resources map a validated pod can carry', () => {
    const quantity = fc.oneof(hostileString, fc.double(), fc.integer());
    const resources = fc.dictionary(
      fc.constantFrom('cpu', 'memory', 'loadwise.io/vgpu-core', 'loadwise.io/vgpu-memory', 'x'),
      quantity,
      { maxKeys: 4 },
    );
    const container = fc.record({
      name: fc.string({ maxLength: 10 }),
      resources: fc.option(fc.record({ requests: fc.option(resources), limits: fc.option(resources) }), {
        nil: undefined,
      }),
    });
    fc.assert(
      fc.property(
        fc.array(container, { maxLength: 4 }),
        fc.array(container, { maxLength: 2 }),
        (containers, initContainers) => {
          // Pods as the extender's request schema admits them (null where Go writes nil).
          const pod = JSON.parse(
            JSON.stringify({ metadata: { name: 'p' }, spec: { containers, initContainers } }),
          );
          const demand = podDemand(pod);
          assert.ok(Number.isFinite(demand.cpuCores) || demand.cpuCores === Infinity);
          const request = podGpuRequest(pod);
          if (!request.ok) assert.match(request.error, /./);
        },
      ),
      fuzz(1000),
    );
  });
});
