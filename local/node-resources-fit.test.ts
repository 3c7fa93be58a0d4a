// The local mode's kube-scheduler stand-in refuses what kube-scheduler's NodeResourcesFit refuses:
// node totals, extended resources included, before the extender is asked.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { type ExtenderArgs, EXTENDER_PATHS } from '../contracts/extender-api.ts';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../contracts/resources.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { nodeResourcesMisfit, podRequests } from './node-resources-fit.ts';
import { scheduleOne } from './scheduling-cycle.ts';

/** Four 15 GiB T4s: 400 vgpu-core, 240 vgpu-memory units of 256 MiB. */
const t4Node = (name: string): V1Node => {
  const allocatable = {
    cpu: '8',
    memory: '32Gi',
    pods: '3',
    [VGPU_CORE_RESOURCE]: '400',
    [VGPU_MEMORY_RESOURCE]: '240',
  };
  return { metadata: { name }, status: { capacity: allocatable, allocatable } };
};
const pod = (name: string, limits: Record<string, string>, node?: string, phase = 'Running'): V1Pod => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { nodeName: node, containers: [{ name: 'main', image: 'cuda', resources: { limits } }] },
  status: { phase },
});

describe("NodeResourcesFit (the local mode's kube-scheduler stand-in)", () => {
  it('sums containers, takes the largest init container, adds overhead, requests default to limits', () => {
    const p: V1Pod = {
      spec: {
        containers: [
          {
            name: 'a',
            resources: { requests: { cpu: '250m' }, limits: { cpu: '1', [VGPU_CORE_RESOURCE]: '30' } },
          },
          { name: 'b', resources: { limits: { cpu: '500m', memory: '1Gi' } } },
        ],
        initContainers: [{ name: 'i', resources: { requests: { cpu: '2' } } }],
        overhead: { memory: '1Mi' },
      },
    };
    assert.deepEqual(Object.fromEntries(podRequests(p)), {
      cpu: 2000,
      [VGPU_CORE_RESOURCE]: 30,
      memory: 1024 ** 3 + 1024 ** 2,
    });
  });

  it('refuses extended resources beyond what is left, counting only pods that still hold theirs', () => {
    const node = t4Node('t4');
    const big = pod('big', { [VGPU_CORE_RESOURCE]: '100', [VGPU_MEMORY_RESOURCE]: '160' });
    assert.deepEqual(nodeResourcesMisfit(big, node, []), []);
    const holder = pod('holder', { [VGPU_MEMORY_RESOURCE]: '100', [VGPU_CORE_RESOURCE]: '10' }, 't4');
    assert.deepEqual(nodeResourcesMisfit(big, node, [holder]), [`Insufficient ${VGPU_MEMORY_RESOURCE}`]);
    // A finished pod or one on another node holds nothing here.
    const done = pod(
      'done',
      { [VGPU_MEMORY_RESOURCE]: '100', [VGPU_CORE_RESOURCE]: '10' },
      't4',
      'Succeeded',
    );
    const elsewhere = pod('other', { [VGPU_MEMORY_RESOURCE]: '100', [VGPU_CORE_RESOURCE]: '10' }, 'a100');
    assert.deepEqual(nodeResourcesMisfit(big, node, [done, elsewhere]), []);
    // A node that does not advertise the resource has none of it.
    const cpuOnly: V1Node = {
      metadata: { name: 'cpu' },
      status: { allocatable: { cpu: '8', memory: '8Gi' } },
    };
    assert.deepEqual(nodeResourcesMisfit(big, cpuOnly, []), [
      `Insufficient ${VGPU_CORE_RESOURCE}`,
      `Insufficient ${VGPU_MEMORY_RESOURCE}`,
    ]);
    assert.deepEqual(nodeResourcesMisfit(pod('c', { cpu: '9' }), node, []), ['Insufficient cpu']);
    const three = [1, 2, 3].map((i) => pod(`p${i}`, {}, 't4'));
    assert.deepEqual(nodeResourcesMisfit(pod('c', {}), node, three), ['Too many pods']);
  });
});

describe('scheduleOne checks node resources before it asks the extender', () => {
  let cluster: TestCluster;
  let extender = '';
  const asked: string[][] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const args = JSON.parse(body) as ExtenderArgs;
      res.setHeader('content-type', 'application/json');
      if (req.url === EXTENDER_PATHS.filter) {
        asked.push(args.NodeNames ?? []);
        res.end(JSON.stringify({ NodeNames: args.NodeNames, FailedNodes: {}, Error: '' }));
      } else if (req.url === EXTENDER_PATHS.prioritize) {
        res.end(JSON.stringify((args.NodeNames ?? []).map((Host) => ({ Host, Score: 5 }))));
      } else res.end(JSON.stringify({ Error: '' }));
    });
  });

  before(async () => {
    cluster = await openTestCluster();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    extender = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await cluster.close();
  });

  it('never sends the extender a node whose allocatable cannot take the pod, and says why', async () => {
    const core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    const small = cluster.unique('t4');
    const bigNode = cluster.unique('a100');
    await cluster.createNode(t4Node(small));
    const a100 = t4Node(bigNode);
    a100.status!.allocatable![VGPU_MEMORY_RESOURCE] = '320';
    await cluster.createNode(a100);
    const body = pod('wants-40gib', { [VGPU_CORE_RESOURCE]: '100', [VGPU_MEMORY_RESOURCE]: '300' });
    body.metadata!.namespace = cluster.namespace;
    delete body.status;
    const created = await core.createNamespacedPod({ namespace: cluster.namespace, body });
    const decision = await scheduleOne(created, [small, bigNode], { extender, core });
    assert.equal(decision.node, bigNode);
    assert.deepEqual(decision.filtered, { [small]: `Insufficient ${VGPU_MEMORY_RESOURCE}` });
    assert.deepEqual(asked.at(-1), [bigNode]);
    const none = await scheduleOne(created, [small], { extender, core });
    assert.equal(none.node, undefined);
    assert.match(none.error!, /0\/1 nodes are available: 1 Insufficient loadwise.io\/vgpu-memory/);
  });
});
