// "This machine" in the local mode is this machine: its real CPU count and memory, and the GPUs
// nvidia-smi finds — none where it finds none, whatever the simulated nodes carry.
import assert from 'node:assert/strict';
import { cpus, hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { loadPolicyFile } from '../common/policy.ts';
import { VGPU_CORE_RESOURCE } from '../contracts/resources.ts';
import { nvidiaSmiWorks } from '../node-agent/gpu/choose.ts';
import { loadLocalCluster } from './cluster-config.ts';
import { type LocalCluster, nodeNameOf } from './local-cluster.ts';
import { startLocalCluster } from '../test/support/local-mode.ts';

describe('this machine in the local mode (the shipped configs/local-cluster.yaml)', () => {
  let cluster: LocalCluster;
  let nodes: V1Node[];

  before(async () => {
    const shipped = await loadLocalCluster('configs/local-cluster.yaml');
    const policy = await loadPolicyFile('configs/policy.yaml');
    assert.ok(policy.ok);
    // This machine and one simulated GPU node; the workload never gets to submit a pod here.
    const spec = {
      ...shipped,
      nodes: shipped.nodes.filter((n) => n.gpus.length > 0).slice(0, 1),
      workload: { ...shipped.workload, intervalMs: 3_600_000 },
    };
    cluster = await startLocalCluster(spec, policy.policy);
    nodes = (await cluster.kubeConfig('test').makeApiClient(CoreV1Api).listNode()).items;
  });

  after(async () => {
    await cluster?.stop();
  });

  it('has the GPUs nvidia-smi finds, and none when it finds none', async () => {
    const mine = nodes.find((n) => n.metadata?.name === nodeNameOf(hostname()));
    assert.ok(mine, 'this machine is a node');
    assert.equal(mine.status?.capacity?.cpu, String(cpus().length));
    const gpus = mine.status?.capacity?.[VGPU_CORE_RESOURCE];
    if (await nvidiaSmiWorks()) assert.ok(Number(gpus) > 0, `nvidia-smi works but capacity is ${gpus}`);
    else assert.equal(gpus, undefined, 'no nvidia-smi here, yet this machine claims GPUs');
  });

  it('the simulated node keeps its sample GPUs', () => {
    const simulated = nodes.find((n) => n.metadata?.labels?.['loadwise.io/simulated'] === 'true');
    assert.ok(Number(simulated?.status?.capacity?.[VGPU_CORE_RESOURCE]) > 0);
  });
});
