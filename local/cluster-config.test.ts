import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadLocalCluster, parseLocalCluster } from './cluster-config.ts';

const MINIMAL = `apiVersion: loadwise.io/v1alpha1
kind: LocalCluster
sampleInterval: 500ms
syncPeriod: 2s
thisMachine: { include: false }
nodes:
  - name: gpu-1
    cpu: 8
    memory: 32Gi
    gpus: [{ model: Tesla T4, memoryMiB: 15360, count: 2 }]
    load: { base: 0.2, swing: 0.1, period: 1m }
workload:
  interval: 1s
  lifetime: 30s
  maxPods: 5
  pods:
    - { name: web, weight: 1, cpu: 500m, memory: 1Gi }
`;

function withChange(from: string, to: string): string {
  assert.ok(MINIMAL.includes(from), from);
  return MINIMAL.replace(from, to);
}

describe('local cluster config', () => {
  it('the shipped configs/local-cluster.yaml loads; this machine gets no pretend GPUs, the simulated nodes do', async () => {
    const spec = await loadLocalCluster('configs/local-cluster.yaml');
    assert.ok(spec.nodes.length >= 3);
    assert.equal(spec.thisMachine.gpuInventory, undefined);
    assert.ok(spec.nodes.some((n) => n.gpus.length > 0));
    assert.ok(
      spec.workload.pods.some((p) => p.vgpuCore > 0) && spec.workload.pods.some((p) => p.vgpuCore === 0),
    );
  });

  it('turns quantities and durations into numbers', () => {
    const spec = parseLocalCluster(MINIMAL, 'test.yaml', '/x');
    assert.equal(spec.sampleIntervalMs, 500);
    assert.equal(spec.nodes[0]!.memoryBytes, 32 * 2 ** 30);
    assert.deepEqual(spec.nodes[0]!.load, { base: 0.2, swing: 0.1, periodMs: 60_000, phaseMs: 0 });
    assert.equal(spec.workload.pods[0]!.cpuMilli, 500);
    assert.equal(spec.workload.pods[0]!.busy, 0.5);
  });

  const bad: [string, string, string, RegExp][] = [
    [
      'an unknown key (a typo)',
      'maxPods: 5',
      'maxPod: 5',
      /workload.*must have required property 'maxPods'|additional/,
    ],
    [
      'a duplicate node',
      'nodes:\n',
      'nodes:\n  - { name: gpu-1, cpu: 1, memory: 1Gi, load: { base: 0, swing: 0, period: 1m } }\n',
      /"gpu-1" appears twice/,
    ],
    [
      'a share above one GPU that is not whole GPUs',
      'memory: 1Gi }',
      'memory: 1Gi, vgpuCore: 150 }',
      /multiple of 100/,
    ],
    [
      'load that can exceed the node',
      'base: 0.2, swing: 0.1',
      'base: 0.8, swing: 0.3',
      /base \+ swing must not exceed 1/,
    ],
    ['a bad duration', 'interval: 1s', 'interval: soon', /\/workload\/interval: invalid duration "soon"/],
    ['a bad quantity', 'memory: 32Gi', 'memory: lots', /\/nodes\/0\/memory: not a positive quantity/],
    ['a sample interval below 100ms', 'sampleInterval: 500ms', 'sampleInterval: 10ms', /at least 100 ms/],
  ];
  for (const [what, from, to, message] of bad) {
    it(`rejects ${what} with one clear line`, () => {
      assert.throws(() => parseLocalCluster(withChange(from, to), 'test.yaml', '/x'), message);
    });
  }

  it('says which file it could not read', async () => {
    await assert.rejects(
      loadLocalCluster('/nonexistent/local.yaml'),
      /cannot read \/nonexistent\/local\.yaml: ENOENT/,
    );
  });
});
