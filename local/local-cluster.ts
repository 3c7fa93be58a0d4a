// The local all-in-one mode assembled: an in-process API server seeded with this machine and the
// simulated nodes of configs/local-cluster.yaml, a real node agent per node (this machine's on the
// real /proc), a test kubelet per node that admits the pods bound to it (on a GPU node, through the agent's
// device plugin), the controller,
// the extender, and the demo workload. Each part is the production code, wired as in a cluster;
// only the API server and kubelet are the project's protocol-faithful test peers.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import type { SchedulerPolicy } from '../common/policy.ts';
import { Controller } from '../controller/controller.ts';
import { ControllerMetrics } from '../controller/metrics.ts';
import { DEFAULT_AGENT_URL_TEMPLATE } from '../contracts/controller.ts';
import { LD_SO_PRELOAD_FILE, VGPU_LIBRARY_FILE } from '../contracts/device-plugin.ts';
import {
  DEFAULT_VGPU_MEMORY_UNIT_MIB,
  VGPU_CORE_PER_GPU,
  VGPU_CORE_RESOURCE,
  VGPU_MEMORY_RESOURCE,
} from '../contracts/resources.ts';
import { type NodeAgentApp, startNodeAgent } from '../node-agent/app.ts';
import { nvidiaSmiWorks } from '../node-agent/gpu/choose.ts';
import { SchedulerApp } from '../scheduler/app.ts';
import { ApiServerDouble } from '../doubles/apiserver/server.ts';
import { kubeConfigFor, writeKubeconfig } from '../doubles/apiserver/kubeconfig.ts';
import { TestKubelet, waitForEvent } from '../doubles/kubelet/kubelet.ts';
import { NodeKubelet } from '../doubles/kubelet/node-kubelet.ts';
import type { GpuGroupSpec, LocalClusterSpec } from './cluster-config.ts';
import { DemoWorkload } from './demo-workload.ts';
import type { StatusSource } from './status.ts';
import { SyntheticNode } from './synthetic-node.ts';

export const DEMO_NAMESPACE = 'loadwise-demo';
/** Where the controller keeps its "synced up to" record, as in a cluster (configs/deploy). */
export const SYSTEM_NAMESPACE = 'loadwise-system';
const REGISTER_TIMEOUT_MS = 15_000;

export interface LocalClusterOptions {
  spec: LocalClusterSpec;
  policy: SchedulerPolicy;
  /** Port every agent listens on, each on its own loopback address (127.0.0.1, .2, ...). */
  agentPort: number;
  /** Where the extender listens; port 0 picks a free one. */
  extenderListen: { host: string; port: number };
  clock: Clock;
  logger: Logger;
}

/** One node of the local cluster and its parts. */
export interface LocalNode {
  name: string;
  ip: string;
  simulated: boolean;
  agent: NodeAgentApp;
  agentUrl: string;
  /** kubelet's device-plugin side, and the part that admits the pods bound to the node. */
  kubelet: TestKubelet;
  nodeKubelet: NodeKubelet;
  synthetic?: SyntheticNode;
}

/** A DNS-1123 node name from the hostname. */
export function nodeNameOf(host: string): string {
  const name = host
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return name || 'this-machine';
}

function gpuCapacity(groups: readonly GpuGroupSpec[]): Record<string, string> {
  const gpus = groups.reduce((n, g) => n + g.count, 0);
  if (gpus === 0) return {};
  const memoryUnits = groups.reduce(
    (n, g) => n + g.count * Math.floor(g.memoryMiB / DEFAULT_VGPU_MEMORY_UNIT_MIB),
    0,
  );
  return {
    [VGPU_CORE_RESOURCE]: String(gpus * VGPU_CORE_PER_GPU),
    [VGPU_MEMORY_RESOURCE]: String(memoryUnits),
  };
}

function nodeObject(
  name: string,
  ip: string,
  cpu: number,
  memoryBytes: number,
  gpus: Record<string, string>,
  simulated: boolean,
): V1Node {
  const capacity = { cpu: String(cpu), memory: String(memoryBytes), pods: '110', ...gpus };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'loadwise.io/simulated': String(simulated),
      },
    },
    status: {
      capacity,
      allocatable: capacity,
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'local mode' }],
    },
  };
}

export class LocalCluster {
  readonly nodes: LocalNode[] = [];
  api!: ApiServerDouble;
  kubeconfigPath = '';
  extenderUrl = '';
  controller!: Controller;
  extender!: SchedulerApp;
  workload!: DemoWorkload;
  /** The temporary folder (kubeconfig, sockets, checkpoints); stop() removes it. */
  dir = '';
  private ticker: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: LocalClusterOptions) {}

  /** Starts every part; on failure, stops what started and rethrows. */
  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(opts);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  kubeConfig(user: string): KubeConfig {
    return kubeConfigFor(this.api.url, user);
  }

  /** What the status page reads from this cluster. */
  statusSource(): StatusSource {
    return {
      apiServer: this.api.url,
      kubeconfig: this.kubeconfigPath,
      extender: this.extenderUrl,
      kubeConfig: this.kubeConfig('status-page'),
      nodes: () => this.nodes.map((n) => ({ name: n.name, simulated: n.simulated, agentUrl: n.agentUrl })),
      counts: () => this.workload.counts,
      decisions: () => this.workload.recentDecisions(),
      podsByNode: () => this.workload.podsByNode(),
      now: () => this.opts.clock.now(),
    };
  }

  private async boot(): Promise<void> {
    const { spec, logger, clock } = this.opts;
    // Short and under /tmp: unix socket paths are limited to about 107 bytes.
    this.dir = await mkdtemp('/tmp/lw-local-');
    // Bounded history: the local mode runs for hours.
    this.api = await ApiServerDouble.start({ historyLimit: 20_000, requestLogLimit: 5_000 });
    this.kubeconfigPath = await writeKubeconfig(join(this.dir, 'kubeconfig'), this.api.url, 'admin');
    const core = this.kubeConfig('admin').makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: DEMO_NAMESPACE } } });
    await core.createNamespace({ body: { metadata: { name: SYSTEM_NAMESPACE } } });

    if (spec.thisMachine.include) await this.addThisMachine(core);
    for (const [i, node] of spec.nodes.entries()) {
      const ip = `127.0.0.${i + 2}`;
      const synthetic = new SyntheticNode(node, clock.now());
      await core.createNode({
        body: nodeObject(node.name, ip, node.cpuCores, node.memoryBytes, gpuCapacity(node.gpus), true),
      });
      const inventory = node.gpus.length > 0 ? await this.inventoryFile(node.name, node.gpus) : undefined;
      await this.addNode(node.name, ip, synthetic.procPath, inventory, synthetic);
    }
    // The simulated /proc trees advance a few times per sample, so each sample sees fresh counters.
    this.ticker = setInterval(
      () => {
        const now = clock.now();
        for (const n of this.nodes) n.synthetic?.advance(now);
      },
      Math.max(50, Math.floor(spec.sampleIntervalMs / 4)),
    );

    this.controller = new Controller({
      kubeConfig: this.kubeConfig('controller'),
      policy: this.opts.policy,
      agentPort: this.opts.agentPort,
      agentUrlTemplate: DEFAULT_AGENT_URL_TEMPLATE,
      syncPeriodMs: spec.syncPeriodMs,
      concurrency: 8,
      requestTimeoutMs: 2000,
      apiTimeoutMs: 5000,
      minChange: 0.02,
      craneCompat: false,
      syncRecordNamespace: SYSTEM_NAMESPACE,
      clock,
      logger: logger.child({ component: 'controller' }),
      metrics: new ControllerMetrics(),
    });
    await this.controller.start({ signal: AbortSignal.timeout(30_000) });

    this.extender = new SchedulerApp({
      kubeConfig: this.kubeConfig('extender'),
      policy: this.opts.policy,
      craneKeys: false,
      clock,
      logger: logger.child({ component: 'extender' }),
      apiTimeoutMs: 5000,
      syncRecordNamespace: SYSTEM_NAMESPACE,
    });
    this.extender.start();
    await this.extender.waitForSync(AbortSignal.timeout(30_000));
    this.extenderUrl = await this.extender.listen(
      this.opts.extenderListen.host,
      this.opts.extenderListen.port,
    );

    const byName = new Map(this.nodes.map((n) => [n.name, n]));
    this.workload = new DemoWorkload({
      kubeConfig: this.kubeConfig('kube-scheduler'),
      namespace: DEMO_NAMESPACE,
      extender: this.extenderUrl,
      shapes: spec.workload.pods,
      intervalMs: spec.workload.intervalMs,
      lifetimeMs: spec.workload.lifetimeMs,
      maxPods: spec.workload.maxPods,
      nodeNames: () => this.nodes.map((n) => n.name),
      startPod: (node, pod, shape) => {
        const n = byName.get(node)!;
        n.synthetic?.addPod(`${pod.metadata!.namespace}/${pod.metadata!.name}`, {
          cpuBusyMilli: shape.cpuMilli * shape.busy,
          memoryBytes: shape.memoryBytes,
        });
        return n.nodeKubelet.settled(pod.metadata!.namespace!, pod.metadata!.name!).then(
          (admission) => ({
            containers: admission.containers.map((c) => ({ container: c.container, env: c.envs })),
            ...(admission.error ? { error: admission.error.message } : {}),
          }),
          (err: unknown) => ({ containers: [], error: (err as Error).message }),
        );
      },
      podGone: (node, pod) => {
        const n = byName.get(node);
        n?.synthetic?.removePod(`${pod.metadata!.namespace}/${pod.metadata!.name}`);
      },
      logger: logger.child({ component: 'demo' }),
    });
    this.workload.start();
  }

  private async addThisMachine(core: CoreV1Api): Promise<void> {
    const name = nodeNameOf(hostname());
    const wanted = this.opts.spec.thisMachine.gpuInventory;
    const real = await nvidiaSmiWorks();
    const inventory = real || wanted === 'none' ? undefined : wanted;
    let gpus: Record<string, string> = {};
    if (inventory) {
      const { parseInventoryFile } = await import('../node-agent/gpu/simulated-provider.ts');
      const { readFile } = await import('node:fs/promises');
      const { devices } = parseInventoryFile(await readFile(inventory, 'utf8'), name, inventory);
      gpus = gpuCapacity(devices.map((d) => ({ model: d.model, memoryMiB: d.memoryMiB, count: 1 })));
    }
    await core.createNode({
      body: nodeObject(name, '127.0.0.1', cpus().length, totalmem(), gpus, false),
    });
    await this.addNode(name, '127.0.0.1', '/proc', inventory, undefined, real);
  }

  private async inventoryFile(node: string, gpus: readonly GpuGroupSpec[]): Promise<string> {
    const path = join(this.dir, `${node}.gpus.yaml`);
    await writeFile(
      path,
      stringify({ apiVersion: 'loadwise.io/v1alpha1', kind: 'GpuInventory', gpus, idleUtilization: 0.02 }),
    );
    return path;
  }

  private async addNode(
    name: string,
    ip: string,
    procPath: string,
    inventory: string | undefined,
    synthetic: SyntheticNode | undefined,
    realGpus = false,
  ): Promise<void> {
    const { spec, logger, clock } = this.opts;
    const hasGpus = realGpus || inventory !== undefined;
    const dir = join(this.dir, String(this.nodes.length));
    for (const sub of ['plugins', 'checkpoint', 'vgpu', 'lib', 'dev'])
      await mkdir(join(dir, sub), { recursive: true });
    await writeFile(join(dir, 'lib', VGPU_LIBRARY_FILE), '');
    await writeFile(join(dir, 'lib', LD_SO_PRELOAD_FILE), '');
    for (const dev of ['nvidiactl', 'nvidia-uvm', ...Array.from({ length: 16 }, (_, i) => `nvidia${i}`)]) {
      await writeFile(join(dir, 'dev', dev), '');
    }
    const kubelet = await TestKubelet.start(join(dir, 'plugins'));
    const registered = hasGpus
      ? Promise.all(
          [VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE].map((r) =>
            waitForEvent(kubelet, 'registered', (res) => res === r, REGISTER_TIMEOUT_MS),
          ),
        )
      : undefined;
    const agent = await startNodeAgent({
      nodeName: name,
      procPath,
      sampleIntervalMs: spec.sampleIntervalMs,
      gpuProvider: realGpus ? 'nvidia-smi' : inventory ? 'simulated' : 'none',
      gpuInventory: inventory,
      devicePlugin: {
        mode: hasGpus ? 'on' : 'off',
        socketDir: join(dir, 'plugins'),
        checkpointDir: join(dir, 'checkpoint'),
        configRoot: join(dir, 'vgpu'),
        libraryDir: join(dir, 'lib'),
        devRoot: realGpus ? '/dev' : join(dir, 'dev'),
        memoryUnitMiB: DEFAULT_VGPU_MEMORY_UNIT_MIB,
        kubeConfig: () => this.kubeConfig(`agent-${name}`),
      },
      clock,
      logger: logger.child({ component: 'agent', node: name }),
    });
    const node: LocalNode = {
      name,
      ip,
      simulated: synthetic !== undefined,
      agent,
      agentUrl: '',
      kubelet,
      nodeKubelet: new NodeKubelet({
        kubeConfig: this.kubeConfig(`kubelet-${name}`),
        nodeName: name,
        kubelet,
        logger: logger.child({ component: 'kubelet', node: name }),
      }),
      synthetic,
    };
    this.nodes.push(node);
    node.agentUrl = await agent.listen(ip, this.opts.agentPort);
    await registered;
    await node.nodeKubelet.start(AbortSignal.timeout(REGISTER_TIMEOUT_MS));
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    const settle = (p: Promise<unknown> | undefined) => p?.catch(() => undefined);
    await settle(this.workload?.stop());
    await settle(this.extender?.stop());
    await settle(this.controller?.stop());
    await Promise.all(this.nodes.map((n) => settle(n.agent.stop())));
    await Promise.all(this.nodes.map((n) => settle(n.nodeKubelet.stop())));
    await Promise.all(this.nodes.map((n) => settle(n.kubelet.stop())));
    for (const n of this.nodes) n.synthetic?.close();
    await settle(this.api?.close());
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
