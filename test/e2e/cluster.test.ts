// The end-to-end test of issue #8: the API-server double, two real agents (fixture /proc trees,
// simulated GPUs, device plugin on), the controller and the extender, and a test kubelet per node.
// Pods go created → bound (through the extender's HTTP verbs) → allocated (kubelet's Allocate to
// the agent) → Running, and each scenario checks what the parts told each other on the way.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_VGPU_CONFIG_DIR,
  VGPU_CONFIG_FILE,
  decodeVgpuConfig,
  vgpuMemoryLimitEnv,
} from '../../contracts/vgpu-config.ts';
import { VGPU_CORE_LIMIT_ENV, VGPU_CONFIG_DIR_ENV } from '../../contracts/vgpu-config.ts';
import {
  type GpuShare,
  VGPU_ALLOCATED_ANNOTATION,
  VGPU_ASSIGNMENT_ANNOTATION,
  decodeVgpuAssignment,
} from '../../contracts/vgpu-pod.ts';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';
import { Checkpoint } from '../../node-agent/device-plugin/checkpoint.ts';
import type { PodAdmission } from '../../doubles/kubelet/node-kubelet.ts';
import {
  BASELINE_LOAD,
  CPU_LIMIT,
  E2eCluster,
  GPU_MEMORY_MIB,
  GPUS_PER_NODE,
  NODE_CPU_CORES,
  removeAgentBundle,
  waitFor,
} from './harness.ts';

const MIB = 1024 * 1024;
const UNIT_MIB = 256;

function assignmentOf(pod: V1Pod | undefined): Record<string, GpuShare[]> {
  const text = pod?.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION];
  assert.ok(text, `${pod?.metadata?.name}: no vGPU assignment annotation`);
  const decoded = decodeVgpuAssignment(text);
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  return decoded.assignment.containers;
}

/**
 * Checks that what kubelet got from Allocate for every GPU container of `pod` is what the extender
 * assigned: the GPUs (by UUID, in order), the core limit, each device's memory limit, the device
 * nodes, and the config file the native library reads.
 */
async function checkAllocation(e2e: E2eCluster, admission: PodAdmission, pod: V1Pod): Promise<void> {
  const node = e2e.node(admission.node);
  const gpus = e2e.gpus(node.name);
  const assignment = assignmentOf(pod);
  const name = `${admission.name}`;
  assert.deepEqual(
    admission.containers.map((c) => c.container).sort(),
    Object.keys(assignment).sort(),
    `${name}: allocated containers = assigned containers`,
  );
  for (const c of admission.containers) {
    const shares = assignment[c.container]!;
    const uuids = shares.map((s) => {
      const gpu = gpus.find((g) => g.index === s.index);
      assert.ok(gpu, `${name}: assigned GPU ${s.index} is not in ${node.name}'s inventory`);
      return gpu.uuid;
    });
    const expected: Record<string, string> = {
      NVIDIA_VISIBLE_DEVICES: uuids.join(','),
      [VGPU_CONFIG_DIR_ENV]: DEFAULT_VGPU_CONFIG_DIR,
      [VGPU_CORE_LIMIT_ENV]: String(Math.min(...shares.map((s) => s.core))),
    };
    shares.forEach((s, i) => (expected[vgpuMemoryLimitEnv(i)] = String(s.memoryMiB * MIB)));
    // Both resources' answers carry the container's whole environment, and agree.
    for (const [resource, response] of Object.entries(c.responses)) {
      assert.deepEqual(response.envs, expected, `${name}/${c.container}: env from the ${resource} Allocate`);
      const devices = response.devices.map((d) => d.host_path).sort();
      for (const s of shares)
        assert.ok(devices.includes(`/dev/nvidia${s.index}`), `${name}: /dev/nvidia${s.index}`);
    }
    assert.deepEqual(c.envs, expected);
    assert.equal(c.deviceIds[VGPU_CORE_RESOURCE]?.length, c.requests[VGPU_CORE_RESOURCE]);
    // The config file the native library will read inside the container says the same.
    const mount = c.responses[VGPU_CORE_RESOURCE]!.mounts.find(
      (m) => m.container_path === DEFAULT_VGPU_CONFIG_DIR,
    );
    assert.ok(mount, `${name}: the vGPU config directory is mounted`);
    const config = decodeVgpuConfig(await readFile(join(mount.host_path, VGPU_CONFIG_FILE), 'utf8'));
    assert.ok(config.ok, config.ok ? '' : config.error);
    assert.equal(config.config.coreLimitPercent, Math.min(...shares.map((s) => s.core)));
    assert.deepEqual(
      config.config.devices.map((d) => [d.uuid, d.memoryLimitBytes]),
      shares.map((s, i) => [uuids[i], s.memoryMiB * MIB]),
    );
  }
}

/** Per GPU of `node`, what the assignments of the given pods add up to. */
function assignedPerGpu(pods: V1Pod[], node: string): Map<number, { core: number; memoryMiB: number }> {
  const sums = new Map<number, { core: number; memoryMiB: number }>();
  for (const pod of pods) {
    if (pod.spec?.nodeName !== node) continue;
    for (const shares of Object.values(assignmentOf(pod))) {
      for (const s of shares) {
        const sum = sums.get(s.index) ?? { core: 0, memoryMiB: 0 };
        sum.core += s.core;
        sum.memoryMiB += s.memoryMiB;
        sums.set(s.index, sum);
      }
    }
  }
  return sums;
}

/** The agent's own account (/statistics gpus[].allocated) equals the assignments, and no GPU is over-committed. */
async function checkAgentLedger(e2e: E2eCluster, pods: V1Pod[]): Promise<void> {
  for (const node of e2e.nodes) {
    const expected = assignedPerGpu(pods, node.name);
    const stats = await node.statistics();
    assert.equal(stats.gpus?.length, GPUS_PER_NODE, `${node.name}: GPUs in /statistics`);
    for (const gpu of stats.gpus!) {
      const want = expected.get(gpu.index) ?? { core: 0, memoryMiB: 0 };
      assert.deepEqual(
        gpu.allocated,
        want,
        `${node.name} GPU ${gpu.index}: agent's allocated = extender's assignments`,
      );
      assert.ok(
        gpu.allocated.core <= 100,
        `${node.name} GPU ${gpu.index} core over-committed: ${gpu.allocated.core}`,
      );
      assert.ok(
        gpu.allocated.memoryMiB <= GPU_MEMORY_MIB,
        `${node.name} GPU ${gpu.index} memory over-committed`,
      );
    }
  }
}

/** Waits until the test's pod watch shows `name` marked allocated by the agent and Running by the kubelet. */
async function runningAndMarked(e2e: E2eCluster, names: string[], gpu = true): Promise<V1Pod[]> {
  await waitFor(
    () =>
      names.every((n) => {
        const pod = e2e.cachedPod(n);
        return (
          pod?.status?.phase === 'Running' &&
          (!gpu || pod.metadata?.annotations?.[VGPU_ALLOCATED_ANNOTATION] !== undefined)
        );
      }),
    () =>
      `pods Running${gpu ? ' and marked allocated' : ''}: ${names
        .map(
          (n) =>
            `${n}=${e2e.cachedPod(n)?.status?.phase}/${e2e.cachedPod(n)?.metadata?.annotations?.[VGPU_ALLOCATED_ANNOTATION] ? 'marked' : 'unmarked'}`,
        )
        .join(' ')}`,
  );
  return names.map((n) => e2e.cachedPod(n)!);
}

function admissionOf(e2e: E2eCluster, name: string, node: string): Promise<PodAdmission> {
  return e2e.node(node).nodeKubelet.allocated(e2e.namespace, name);
}

describe('end to end: API server, agents, controller, extender, kubelets', { timeout: 120_000 }, () => {
  after(() => removeAgentBundle());

  describe('a pod goes created → bound → allocated with the GPUs the extender chose', () => {
    let e2e: E2eCluster;
    before(async () => {
      e2e = await E2eCluster.open();
    });
    after(() => e2e?.close());

    it('GPU pods of several shapes and a CPU pod', async () => {
      const specs = {
        'half-gpu': { core: 50, memory: 16, cpu: '500m' },
        'whole-gpu': { core: 100 },
        'two-containers': { core: 25, memory: 8, sidecars: { helper: { core: 10, memory: 4 } } },
        'cpu-only': { cpu: '250m' },
      };
      const decisions = new Map<string, string>();
      for (const [name, spec] of Object.entries(specs)) {
        const { decision } = await e2e.createAndSchedule(name, spec);
        assert.deepEqual(decision.filtered, {}, `${name}: no node filtered`);
        decisions.set(name, decision.node!);
      }
      const names = [...decisions.keys()];
      const admissions = await Promise.all(names.map((n) => admissionOf(e2e, n, decisions.get(n)!)));
      const gpuNames = names.filter((n) => n !== 'cpu-only');
      const pods = await runningAndMarked(e2e, gpuNames);
      await runningAndMarked(e2e, ['cpu-only'], false);
      for (const [i, name] of names.entries()) {
        const pod = e2e.cachedPod(name)!;
        assert.equal(pod.spec?.nodeName, decisions.get(name), `${name} bound where the extender said`);
        assert.equal(admissions[i]!.node, decisions.get(name));
        assert.equal(admissions[i]!.statusWritten, true);
        if (name === 'cpu-only') {
          assert.deepEqual(admissions[i]!.containers, [], 'a CPU pod asks no devices');
          assert.equal(pod.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION], undefined);
          continue;
        }
        await checkAllocation(e2e, admissions[i]!, pod);
      }
      // Shapes as the extender translated them: a whole GPU is 100 core and all of its memory;
      // a share without vgpu-memory gets memory in proportion to its core.
      assert.deepEqual(
        assignmentOf(e2e.cachedPod('whole-gpu')).main!.map((s) => [s.core, s.memoryMiB]),
        [[100, GPU_MEMORY_MIB]],
      );
      assert.deepEqual(
        assignmentOf(e2e.cachedPod('half-gpu')).main!.map((s) => s.memoryMiB),
        [16 * UNIT_MIB],
      );
      const two = assignmentOf(e2e.cachedPod('two-containers'));
      assert.deepEqual([two.main![0]!.core, two.helper![0]!.core], [25, 10]);
      await checkAgentLedger(e2e, pods);
    });
  });

  describe('raising one node’s load moves new pods away from it', () => {
    let e2e: E2eCluster;
    before(async () => {
      e2e = await E2eCluster.open();
    });
    after(() => e2e?.close());

    it('a busier node scores lower, an overloaded one is filtered, a quiet one wins again', async () => {
      const [a, b] = e2e.nodeNames as [string, string];
      const small = { cpu: '100m' };
      // Equal load: a tie, which kube-scheduler's stand-in breaks by name.
      const first = await e2e.createAndSchedule('r1', small);
      assert.equal(first.decision.scores[a], first.decision.scores[b], 'equal nodes score equal');
      assert.equal(first.decision.node, a);

      await e2e.setLoad(a, 0.5);
      for (const name of ['r2', 'r3', 'r4']) {
        const { decision } = await e2e.createAndSchedule(name, small);
        assert.equal(decision.node, b, `${name} goes to the quieter node`);
        assert.ok(decision.scores[a]! < decision.scores[b]!, `${name}: ${JSON.stringify(decision.scores)}`);
      }

      await e2e.setLoad(a, 0.95);
      // A GPU pod too: the load filter rejects the node whatever its GPUs could take.
      const hot = await e2e.createAndSchedule('r5-gpu', { core: 30, memory: 8, cpu: '100m' });
      assert.equal(hot.decision.node, b);
      assert.match(hot.decision.filtered[a] ?? '', new RegExp(`cpu_usage_active 0\\.9\\d.* > ${CPU_LIMIT}`));
      assert.deepEqual(Object.keys(hot.decision.scores), [b]);

      // The load drops below the other node's (which now carries four pods' estimates): back to a.
      await e2e.setLoad(a, 0.05);
      const back = await e2e.createAndSchedule('r6', small);
      assert.equal(back.decision.node, a, JSON.stringify(back.decision.scores));

      const placed = { r1: a, r2: b, r3: b, r4: b, 'r5-gpu': b, r6: a };
      for (const [name, node] of Object.entries(placed)) await admissionOf(e2e, name, node);
      const pods = await runningAndMarked(
        e2e,
        Object.keys(placed).filter((n) => n !== 'r5-gpu'),
        false,
      );
      for (const pod of pods)
        assert.equal(pod.spec?.nodeName, placed[pod.metadata!.name! as keyof typeof placed]);
      const [gpuPod] = await runningAndMarked(e2e, ['r5-gpu']);
      await checkAllocation(e2e, await admissionOf(e2e, 'r5-gpu', b), gpuPod!);
    });
  });

  describe('a burst of GPU pods', () => {
    let e2e: E2eCluster;
    before(async () => {
      e2e = await E2eCluster.open();
    });
    after(() => e2e?.close());

    it('neither over-commits a GPU nor piles onto one node', async () => {
      // Each pod: a quarter GPU and 2 GiB, and 1 CPU. One node's two GPUs could take 8 of them, so
      // on GPU fit alone (binpack) the first node would get 8. The load figures cannot move within a
      // burst; what stops the pile is the extender counting each binding's CPU on its node at once:
      // baseline + n × 1/8 of the node must stay within the limit, so at most 6 per node.
      const perPodCpu = 1;
      const cap = Math.floor((CPU_LIMIT - BASELINE_LOAD) / (perPodCpu / NODE_CPU_CORES)) + 1;
      assert.equal(cap, 6);
      const names = Array.from({ length: 12 }, (_, i) => `burst-${String(i + 1).padStart(2, '0')}`);
      // Created at once, as a Job or a ReplicaSet would; scheduled one by one from the queue.
      const created = await Promise.all(
        names.map((n) => e2e.createPod(n, { core: 25, memory: 8, cpu: String(perPodCpu) })),
      );
      const placed = new Map<string, string>();
      for (const pod of created) {
        const decision = await e2e.schedule(pod);
        assert.ok(decision.node, `${pod.metadata?.name}: ${decision.error}`);
        placed.set(pod.metadata!.name!, decision.node);
      }
      const perNode = e2e.nodeNames.map((n) => [...placed.values()].filter((p) => p === n).length);
      assert.deepEqual(perNode, [cap, cap], `pods per node: ${perNode.join(', ')}`);

      const admissions = await Promise.all(names.map((n) => admissionOf(e2e, n, placed.get(n)!)));
      const pods = await runningAndMarked(e2e, names);
      for (const [i, pod] of pods.entries()) {
        assert.equal(pod.spec?.nodeName, placed.get(names[i]!));
        await checkAllocation(e2e, admissions[i]!, pod);
      }
      // No GPU over-committed, by the extender's assignments and by the agents' own ledgers.
      for (const node of e2e.nodeNames) {
        for (const [index, sum] of assignedPerGpu(pods, node)) {
          assert.ok(
            sum.core <= 100 && sum.memoryMiB <= GPU_MEMORY_MIB,
            `${node} GPU ${index}: ${JSON.stringify(sum)}`,
          );
        }
      }
      await checkAgentLedger(e2e, pods);
      // kubelet's own unit accounting agrees: 6 × 25 core units and 6 × 8 memory units per node.
      for (const node of e2e.nodes) {
        const units = (resource: string) =>
          node.kubelet.healthyCount(resource) - node.kubelet.available(resource).length;
        assert.equal(units(VGPU_CORE_RESOURCE), cap * 25);
        assert.equal(units(VGPU_MEMORY_RESOURCE), cap * 8);
      }
    });
  });

  describe('killing and restarting an agent mid-run', () => {
    let e2e: E2eCluster;
    before(async () => {
      e2e = await E2eCluster.open();
    });
    after(() => e2e?.close());

    it('loses no allocation and allocates nothing twice', async () => {
      const [a] = e2e.nodeNames as [string, string];
      const node = e2e.node(a);
      const spec = { core: 25, memory: 8 };
      // Pods for node a only (as a nodeSelector would narrow kube-scheduler's candidates).
      const early = ['k-01', 'k-02', 'k-03', 'k-04'];
      for (const name of early) await e2e.createAndSchedule(name, spec, [a]);
      for (const name of early) await admissionOf(e2e, name, a);
      await runningAndMarked(e2e, early);
      const before = await node.statistics();

      const oldPid = node.agent!.child.pid;
      await node.killAgent();
      // While the agent is down the extender keeps placing (it knows what it assigned), and the
      // kubelet's Allocate finds nobody on the plugin socket.
      const late = ['k-05', 'k-06'];
      for (const name of late) await e2e.createAndSchedule(name, spec, [a]);
      await waitFor(
        () =>
          node.nodeKubelet.pod(e2e.namespace, 'k-05')?.retries !== undefined &&
          node.nodeKubelet.pod(e2e.namespace, 'k-05')!.retries > 0,
        'the kubelet finding the plugin gone',
      );

      const restarted = await node.startAgent();
      assert.notEqual(restarted.child.pid, oldPid);
      const recovered = JSON.parse(
        await restarted.waitFor('recovered vGPU allocations from the checkpoint'),
      ) as {
        allocations: number;
      };
      assert.equal(recovered.allocations, early.length, 'every allocation made before the kill is recovered');

      const admissions = await Promise.all([...early, ...late].map((n) => admissionOf(e2e, n, a)));
      const pods = await runningAndMarked(e2e, [...early, ...late]);
      for (const [i, pod] of pods.entries()) await checkAllocation(e2e, admissions[i]!, pod);
      assert.ok(admissions[4]!.retries > 0, 'k-05 was asked for while the agent was down');
      // The four early pods filled GPU 0; the late ones went to GPU 1 and were not given GPU 0 again.
      assert.deepEqual(
        pods.map((p) => assignmentOf(p).main![0]!.index),
        [0, 0, 0, 0, 1, 1],
      );
      // The restarted agent reports the early allocations as before, plus the late ones: nothing
      // lost, nothing counted twice.
      const gpu0Before = before.gpus!.find((g) => g.index === 0)!.allocated;
      assert.deepEqual(gpu0Before, { core: 100, memoryMiB: 4 * 8 * UNIT_MIB });
      await checkAgentLedger(e2e, pods);
      const checkpoint = await new Checkpoint(node.checkpointDir, Date.now).load();
      assert.equal(checkpoint.kind, 'ok');
      const held = checkpoint.kind === 'ok' ? checkpoint.allocations : [];
      assert.deepEqual(
        held.map((h) => h.podName).sort(),
        [...early, ...late],
        'the checkpoint holds each pod once',
      );
    });

    // The extender frees a deleted pod's share on the Pod watch's DELETED event and may place the
    // next pod on it at once; the agent must have freed it by then too.
    it('a share freed by a deleted pod can be allocated again at once', async () => {
      const [a] = e2e.nodeNames as [string, string];
      const node = e2e.node(a);
      await e2e.core.deleteNamespacedPod({ namespace: e2e.namespace, name: 'k-01' });
      await waitFor(
        () => node.nodeKubelet.pod(e2e.namespace, 'k-01') === undefined,
        'the kubelet releasing k-01',
      );
      // The extender's pod watch frees k-01's quarter of GPU 0 (GPU 1 still has half free).
      await waitFor(
        () => e2e.extender.ledger.usage(a)?.get(0)?.core === 75,
        'the extender freeing the deleted pod’s share',
      );
      const { decision } = await e2e.createAndSchedule('k-07', { core: 25, memory: 8 }, [a]);
      assert.equal(decision.node, a);
      const placed = await e2e.core.readNamespacedPod({ namespace: e2e.namespace, name: 'k-07' });
      assert.equal(
        assignmentOf(placed).main![0]!.index,
        0,
        'the extender gives k-07 the freed share on GPU 0',
      );
      const admission = await node.nodeKubelet.settled(e2e.namespace, 'k-07');
      assert.equal(admission.state, 'allocated', JSON.stringify(admission.error));
    });
  });
});
