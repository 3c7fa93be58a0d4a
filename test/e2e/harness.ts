// Every part of loadwise on one machine, wired as in a cluster: the API-server double; per node a
// fixture /proc (whose counters a ticker advances at a load the test sets), a simulated GPU
// inventory, a test kubelet (device-plugin side over real unix sockets, pod admission through
// NodeKubelet) and the real agent as its own process (`node-agent/main.ts`, device plugin on); the
// controller and the extender in-process; kube-scheduler's part played by local/'s scheduleOne
// over the extender's HTTP verbs.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { parsePolicy } from '../../common/policy.ts';
import { Reflector } from '../../common/reflector.ts';
import { Controller } from '../../controller/controller.ts';
import { ControllerMetrics } from '../../controller/metrics.ts';
import { LD_SO_PRELOAD_FILE, VGPU_LIBRARY_FILE } from '../../contracts/device-plugin.ts';
import { type FigureName, figureIndex } from '../../contracts/figures.ts';
import type { GpuDevice } from '../../contracts/gpu-inventory.ts';
import { parseStatistics } from '../../contracts/statistics-parser.ts';
import type { ParsedStatistics } from '../../contracts/agent-api.ts';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';
import { type SchedulingDecision, scheduleOne } from '../../local/scheduling-cycle.ts';
import { SchedulerApp } from '../../scheduler/app.ts';
import type { NodeEntry } from '../../scheduler/node-index.ts';
import { type TestCluster, openTestCluster } from '../apiserver/cluster.ts';
import { TestKubelet } from '../../doubles/kubelet/kubelet.ts';
import { spawnWatched, type WatchedProcess } from '../support/process.ts';
import { waitFor as waitForCondition } from '../support/wait.ts';
import { NodeKubelet } from '../../doubles/kubelet/node-kubelet.ts';
import { FakeProc } from '../../doubles/fake-proc.ts';
// @ts-expect-error: a plain JavaScript module without type declarations
import { NODE_FLAGS, bundle } from '../../hack/build.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AGENT_SERVICE = 'loadwise-agent';
const LOG_LEVEL = process.env.LOADWISE_TEST_LOG ?? 'silent';

let agentBundle: Promise<string> | undefined;

/**
 * The agent as its image runs it: the source bundled by hack/build.mjs, run by plain node with the
 * image's flags. Built once per test process from the working tree (so never stale), under dist/.
 * It also starts in well under a second, where tsx needs several to load the Kubernetes client.
 */
export function agentEntry(): Promise<string> {
  agentBundle ??= (
    bundle('node-agent/main.ts', `dist/e2e-${process.pid}/node-agent.mjs`) as Promise<string>
  ).then((relative) => join(ROOT, relative));
  return agentBundle;
}

/** Removes the bundle agentEntry() built. */
export async function removeAgentBundle(): Promise<void> {
  if (!agentBundle) return;
  agentBundle = undefined;
  await rm(join(ROOT, `dist/e2e-${process.pid}`), { recursive: true, force: true });
}

export type AgentProcess = WatchedProcess;

async function startAgentProcess(args: string[]): Promise<{ agent: AgentProcess; address: string }> {
  const entry = await agentEntry();
  const agent = spawnWatched([...(NODE_FLAGS['node-agent'] as string[]), entry, ...args]);
  const { child, waitFor } = agent;
  const listening = JSON.parse(await waitFor('node agent listening')) as { address?: string };
  if (!listening.address) {
    child.kill('SIGKILL');
    throw new Error('"node agent listening" carried no address');
  }
  return { agent, address: listening.address };
}

/** Every node: two 16 GiB GPUs. */
export const GPU_MEMORY_MIB = 16_384;
export const GPUS_PER_NODE = 2;
/** Every node's allocatable CPU: what the extender turns a pod's CPU request into a fraction of. */
export const NODE_CPU_CORES = 8;
/** The load every node runs at unless a test changes it (busy fraction of its CPU). */
export const BASELINE_LOAD = 0.1;
/** Figures on the CPU's newest sample, valid a minute (+5 m grace): a raised load shows at the next sync. */
export const CPU_LIMIT = 0.8;

/**
 * The policy of these tests. The shipped one filters and scores on 5-minute averages, which a test
 * of seconds cannot move; this one does the same on the newest sample. `settle: 10m` keeps every
 * binding of a test counted on its node (nothing the fixture /proc does would ever show it).
 */
export const E2E_POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy:
  - name: cpu_usage_active
    period: 1m
  - name: mem_usage_active
    period: 1m
predicate:
  - name: cpu_usage_active
    maxLimitPercent: ${CPU_LIMIT}
priority:
  - name: cpu_usage_active
    weight: 1
staleness: deny
estimate:
  cpuFactor: 1
  memoryFactor: 1
  settle: 10m
`;

const GPU_INVENTORY = `apiVersion: loadwise.io/v1alpha1
kind: GpuInventory
gpus:
  - model: NVIDIA A10-16GB
    memoryMiB: ${GPU_MEMORY_MIB}
    count: ${GPUS_PER_NODE}
links:
  - [X, PIX]
  - [PIX, X]
idleUtilization: 0.02
`;

/** waitFor with this suite's default deadline (agents start and sync within it on a loaded CI box). */
export function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 15_000,
): Promise<void> {
  return waitForCondition(condition, what, timeoutMs);
}

export class E2eNode {
  readonly proc = new FakeProc();
  /** Busy fraction the ticker runs the fixture CPU at. */
  private load = BASELINE_LOAD;
  private ticker: NodeJS.Timeout | undefined;
  agent: AgentProcess | undefined;
  port = 0;
  nodeKubelet!: NodeKubelet;

  constructor(
    readonly name: string,
    /** Short: unix socket paths must stay under ~107 bytes. */
    readonly dir: string,
    readonly kubelet: TestKubelet,
    private readonly kubeconfig: string,
  ) {}

  get pluginDir(): string {
    return join(this.dir, 'plugins');
  }
  get checkpointDir(): string {
    return join(this.dir, 'ckpt');
  }
  get configRoot(): string {
    return join(this.dir, 'vgpu');
  }
  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The node's CPU runs at `busy` (0..1) from now on: the next samples show exactly that. */
  setLoad(busy: number): void {
    this.load = busy;
  }

  /** A node's CPU does not stand still: the counters move 100 ticks every 20 ms at the set load. */
  startTicking(): void {
    this.ticker = setInterval(() => this.proc.runFor(100, Math.round(this.load * 100)), 20);
  }

  /** Starts the agent (again, on the same port and checkpoint after a kill); resolves once it listens. */
  async startAgent(): Promise<AgentProcess> {
    const args = [
      '--listen',
      `127.0.0.1:${this.port}`,
      '--proc-path',
      this.proc.dir,
      '--sample-interval',
      '100ms',
      '--node-name',
      this.name,
      '--gpu-provider',
      'simulated',
      '--gpu-inventory',
      join(this.dir, 'gpus.yaml'),
      '--device-plugin',
      'on',
      '--device-plugin-path',
      this.pluginDir,
      '--checkpoint-path',
      this.checkpointDir,
      '--vgpu-config-root',
      this.configRoot,
      '--vgpu-library-dir',
      join(this.dir, 'lib'),
      '--dev-root',
      join(this.dir, 'dev'),
      '--kubeconfig',
      this.kubeconfig,
      '--log-level',
      'info',
    ];
    const { agent, address } = await startAgentProcess(args);
    this.agent = agent;
    this.port = Number(new URL(address).port);
    return agent;
  }

  /** SIGKILL, as the OOM killer or a node problem does it: no shutdown code runs. */
  async killAgent(): Promise<void> {
    const child = this.agent?.child;
    if (!child) return;
    await stopChild(child, 'SIGKILL');
  }

  /** The agent's /statistics, validated. */
  async statistics(): Promise<ParsedStatistics> {
    const res = await fetch(`${this.base}/statistics`, { signal: AbortSignal.timeout(5000) });
    const parsed = parseStatistics(await res.json());
    if (!parsed.ok) throw new Error(`${this.name}: bad /statistics: ${parsed.error}`);
    return parsed.stats;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    if (this.agent) await stopChild(this.agent.child, 'SIGTERM');
    await this.kubelet.stop();
    this.proc.cleanup();
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface PodSpec {
  /** vgpu-core units per GPU container; absent: a CPU-only pod. */
  core?: number;
  /** vgpu-memory units (256 MiB). */
  memory?: number;
  /** CPU request, e.g. '1' or '100m'. */
  cpu?: string;
  /** More GPU containers (name → core/memory units), after `main`. */
  sidecars?: Record<string, { core: number; memory?: number }>;
}

export class E2eCluster {
  readonly core: CoreV1Api;
  /** Every pod of the test namespace as the API has it now (a watch). */
  readonly pods: Reflector<V1Pod>;
  private controller: Controller | undefined;

  private constructor(
    readonly cluster: TestCluster,
    readonly nodes: E2eNode[],
    readonly extender: SchedulerApp,
    readonly extenderBase: string,
  ) {
    this.core = cluster.kubeConfig('e2e').makeApiClient(CoreV1Api);
    const namespace = cluster.namespace;
    this.pods = new Reflector<V1Pod>({
      kubeConfig: cluster.kubeConfig('e2e'),
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => this.core.listNamespacedPod({ namespace }),
      logger: createLogger({ level: 'silent', name: 'e2e' }),
      backoff: { initialMs: 50, maxMs: 1000 },
    });
  }

  /** Two nodes (`<prefix>-a`, `<prefix>-b`), their agents registered and their figures on the Nodes. */
  static async open(): Promise<E2eCluster> {
    const cluster = await openTestCluster();
    const parsed = parsePolicy(E2E_POLICY);
    if (!parsed.ok) throw new Error(parsed.error);
    const policy = parsed.policy;
    const nodes: E2eNode[] = [];
    let e2e: E2eCluster | undefined;
    const extender = new SchedulerApp({
      kubeConfig: cluster.kubeConfig('extender'),
      policy,
      craneKeys: false,
      clock: systemClock,
      logger: createLogger({ level: LOG_LEVEL, name: 'extender' }),
      apiTimeoutMs: 5000,
    });
    try {
      const kubeconfig = await cluster.kubeconfigFile('agent');
      const suffix = cluster.namespace.slice(-6);
      for (const letter of ['a', 'b']) {
        const dir = await mkdtemp(`/tmp/lw-e2e-${letter}-`);
        for (const sub of ['plugins', 'ckpt', 'vgpu', 'lib', 'dev']) await mkdir(join(dir, sub));
        for (const dev of ['nvidiactl', 'nvidia-uvm', 'nvidia0', 'nvidia1'])
          await writeFile(join(dir, 'dev', dev), '');
        await writeFile(join(dir, 'lib', VGPU_LIBRARY_FILE), '');
        await writeFile(
          join(dir, 'lib', LD_SO_PRELOAD_FILE),
          '/usr/local/loadwise/lib/libvcuda-control.so\n',
        );
        await writeFile(join(dir, 'gpus.yaml'), GPU_INVENTORY);
        const kubelet = await TestKubelet.start(join(dir, 'plugins'));
        nodes.push(new E2eNode(`e2e-${suffix}-${letter}`, dir, kubelet, kubeconfig));
      }
      for (const node of nodes) {
        await cluster.createNode({
          metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name } },
          status: {
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            capacity: { cpu: String(NODE_CPU_CORES), memory: '32Gi', pods: '110' },
            allocatable: { cpu: String(NODE_CPU_CORES), memory: '32Gi', pods: '110' },
          },
        });
        node.startTicking();
      }
      // The agents start side by side; each logs "listening" once its device plugin registered.
      await Promise.all(nodes.map((n) => n.startAgent()));
      const discovery = cluster.kubeConfig('setup').makeApiClient(DiscoveryV1Api);
      for (const node of nodes) {
        // What the DaemonSet's Service publishes: the agent Pod's address and port on each node.
        await discovery.createNamespacedEndpointSlice({
          namespace: cluster.namespace,
          body: {
            metadata: {
              name: `${AGENT_SERVICE}-${node.name}`,
              labels: { 'kubernetes.io/service-name': AGENT_SERVICE },
            },
            addressType: 'IPv4',
            ports: [{ name: 'http', port: node.port, protocol: 'TCP' }],
            endpoints: [{ addresses: ['127.0.0.1'], nodeName: node.name, conditions: { ready: true } }],
          },
        });
      }
      extender.start();
      await extender.waitForSync(AbortSignal.timeout(15_000));
      const base = await extender.listen('127.0.0.1', 0);
      e2e = new E2eCluster(cluster, nodes, extender, base);
      for (const node of nodes) {
        node.nodeKubelet = new NodeKubelet({
          kubeConfig: cluster.kubeConfig(`kubelet-${node.name}`),
          nodeName: node.name,
          kubelet: node.kubelet,
          logger: createLogger({ level: LOG_LEVEL, name: `kubelet-${node.name}` }),
        });
        await node.nodeKubelet.start(AbortSignal.timeout(15_000));
      }
      e2e.pods.start();
      await e2e.pods.waitForSync(AbortSignal.timeout(15_000));
      e2e.controller = new Controller({
        kubeConfig: cluster.kubeConfig('controller'),
        policy,
        agentPort: 0,
        agentUrlTemplate: 'http://{ip}:{port}/statistics',
        agentService: { namespace: cluster.namespace, service: AGENT_SERVICE, portName: 'http' },
        syncPeriodMs: 200,
        concurrency: 4,
        requestTimeoutMs: 2000,
        apiTimeoutMs: 5000,
        minChange: 0.02,
        craneCompat: false,
        clock: systemClock,
        logger: createLogger({ level: LOG_LEVEL, name: 'controller' }),
        metrics: new ControllerMetrics(),
        apiBackoff: { initialMs: 20, maxMs: 200 },
      });
      await e2e.controller.start({ signal: AbortSignal.timeout(15_000) });
      for (const node of nodes) {
        await e2e.waitForNode(
          node.name,
          (entry) =>
            entry.gpus.length === GPUS_PER_NODE &&
            Math.abs(e2e!.figure(entry, 'cpu_usage_active') - BASELINE_LOAD) < 0.01,
          'its GPU inventory and baseline CPU figure',
        );
      }
      return e2e;
    } catch (err) {
      if (e2e) await e2e.close();
      else {
        await extender.stop().catch(() => undefined);
        for (const node of nodes) await node.close();
        await cluster.close();
      }
      throw err;
    }
  }

  get namespace(): string {
    return this.cluster.namespace;
  }

  node(name: string): E2eNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  get nodeNames(): string[] {
    return this.nodes.map((n) => n.name);
  }

  /** A figure as the extender decoded it from the Node's annotations (NaN when absent). */
  figure(entry: NodeEntry, figure: FigureName): number {
    return entry.figures.values[figureIndex(figure)]!;
  }

  /** The node's GPUs as the controller published them and the extender read them. */
  gpus(node: string): GpuDevice[] {
    return this.extender.nodes.get(node)?.gpus ?? [];
  }

  /** Waits until the extender's view of the Node (from its watch) satisfies `condition`. */
  waitForNode(node: string, condition: (entry: NodeEntry) => boolean, what: string): Promise<void> {
    return waitFor(
      () => {
        const entry = this.extender.nodes.get(node);
        return entry !== undefined && condition(entry);
      },
      () => {
        const entry = this.extender.nodes.get(node);
        return `${node}: ${what} (cpu_usage_active=${entry ? this.figure(entry, 'cpu_usage_active') : 'no entry'}, gpus=${entry?.gpus.length ?? 0})`;
      },
    );
  }

  /** Sets a node's load and waits until the extender sees its CPU figure at that level. */
  async setLoad(node: string, busy: number): Promise<void> {
    this.node(node).setLoad(busy);
    await this.waitForNode(
      node,
      (entry) => Math.abs(this.figure(entry, 'cpu_usage_active') - busy) < 0.01,
      `cpu_usage_active at ${busy}`,
    );
  }

  /** Creates a pod that asks for the given vGPU units (in container `main`) and CPU. */
  async createPod(name: string, spec: PodSpec): Promise<V1Pod> {
    const container = (cname: string, core?: number, memory?: number, cpu?: string) => {
      const limits: Record<string, string> = {};
      if (core !== undefined) limits[VGPU_CORE_RESOURCE] = String(core);
      if (memory !== undefined) limits[VGPU_MEMORY_RESOURCE] = String(memory);
      const requests: Record<string, string> = { ...limits };
      if (cpu !== undefined) requests.cpu = cpu;
      return { name: cname, image: 'cuda:12', resources: { limits, requests } };
    };
    return this.core.createNamespacedPod({
      namespace: this.namespace,
      body: {
        metadata: { name, labels: { app: 'e2e' } },
        spec: {
          schedulerName: 'loadwise-scheduler',
          containers: [
            container('main', spec.core, spec.memory, spec.cpu),
            ...Object.entries(spec.sidecars ?? {}).map(([n, s]) => container(n, s.core, s.memory)),
          ],
        },
      },
    });
  }

  /** One scheduling cycle through the extender's HTTP verbs (filter, prioritize, bind). */
  schedule(pod: V1Pod, nodeNames: readonly string[] = this.nodeNames): Promise<SchedulingDecision> {
    return scheduleOne(pod, nodeNames, { extender: this.extenderBase, timeoutMs: 10_000 });
  }

  /** Creates and schedules a pod; fails when the cycle did not bind it. */
  async createAndSchedule(
    name: string,
    spec: PodSpec,
    nodeNames?: readonly string[],
  ): Promise<{ pod: V1Pod; decision: SchedulingDecision }> {
    const pod = await this.createPod(name, spec);
    const decision = await this.schedule(pod, nodeNames);
    if (!decision.node) throw new Error(`${name} was not bound: ${decision.error}`);
    return { pod, decision };
  }

  /** The pod from the test's pod watch. */
  cachedPod(name: string): V1Pod | undefined {
    return this.pods.get(name, this.namespace);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.nodeKubelet?.stop()));
    await this.controller?.stop();
    await this.pods.stop();
    await this.extender.stop();
    await Promise.allSettled(this.nodes.map((n) => n.close()));
    await this.cluster.close();
  }
}
