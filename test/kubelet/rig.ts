// Everything a device plugin test needs in one place: an API-server double with a namespace, a
// short temp directory (unix socket paths are limited to ~107 bytes), a fake /dev and library
// directory, four GPUs, a test kubelet, and a way to start (and restart) the plugin on them.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { LD_SO_PRELOAD_FILE, VGPU_LIBRARY_FILE } from '../../contracts/device-plugin.ts';
import {
  VGPU_CORE_RESOURCE,
  VGPU_MEMORY_RESOURCE,
  VGPU_RESOURCE_NAME_SETS,
  type VgpuResourceNameSet,
} from '../../contracts/resources.ts';
import {
  type GpuShare,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
  encodeVgpuAssignment,
} from '../../contracts/vgpu-pod.ts';
import { type PluginGpu, StaticGpuSource } from '../../node-agent/device-plugin/devices.ts';
import { type DevicePluginConfig, DevicePlugin } from '../../node-agent/device-plugin/plugin.ts';
import { type TestCluster, openTestCluster } from '../apiserver/cluster.ts';
import { TestKubelet } from '../../doubles/kubelet/kubelet.ts';

export const NODE = 'gpu-node-1';
export const GPU_MEMORY_MIB = 16_384;

export function gpuUuid(index: number): string {
  return `GPU-0000000${index}-aaaa-bbbb-cccc-00000000000${index}`;
}

export function fourGpus(): PluginGpu[] {
  return [0, 1, 2, 3].map((index) => ({
    index,
    uuid: gpuUuid(index),
    model: 'NVIDIA A100-SXM4-16GB',
    memoryMiB: GPU_MEMORY_MIB,
    healthy: true,
  }));
}

export interface GpuPodSpec {
  core: number;
  /** vgpu-memory units (256 MiB each). */
  memory: number;
  shares: GpuShare[];
  assumeMs: number;
  /** Which resource names the pod spec uses (default loadwise's). */
  names?: VgpuResourceNameSet;
}

export class Rig {
  readonly logs: string[] = [];
  readonly clock = new ManualClock(Date.UTC(2026, 10, 22, 7, 0, 0));
  readonly gpus = new StaticGpuSource(fourGpus());
  readonly core: CoreV1Api;
  private readonly plugins = new Set<DevicePlugin>();

  private constructor(
    readonly cluster: TestCluster,
    readonly dir: string,
    readonly kubelet: TestKubelet,
  ) {
    this.core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
  }

  /** `tmpRoot`: where the short temp directory goes (default /tmp; the benchmark also tries tmpfs). */
  static async open(tmpRoot = '/tmp'): Promise<Rig> {
    const cluster = await openTestCluster();
    // /tmp directly, not os.tmpdir(): a long TMPDIR would push socket paths past the limit.
    const dir = await mkdtemp(join(tmpRoot, 'lw-'));
    for (const sub of ['plugins', 'dev', 'lib', 'checkpoint', 'vgpu']) await mkdir(join(dir, sub));
    for (const dev of ['nvidiactl', 'nvidia-uvm', 'nvidia0', 'nvidia1', 'nvidia2', 'nvidia3']) {
      await writeFile(join(dir, 'dev', dev), '');
    }
    await writeFile(join(dir, 'lib', VGPU_LIBRARY_FILE), '');
    await writeFile(join(dir, 'lib', LD_SO_PRELOAD_FILE), '/usr/local/loadwise/lib/libvcuda-control.so\n');
    const kubelet = await TestKubelet.start(join(dir, 'plugins'));
    return new Rig(cluster, dir, kubelet);
  }

  get socketDir(): string {
    return join(this.dir, 'plugins');
  }
  get checkpointDir(): string {
    return join(this.dir, 'checkpoint');
  }
  get configRoot(): string {
    return join(this.dir, 'vgpu');
  }

  /** A plugin on this rig (not started). */
  plugin(overrides: Partial<DevicePluginConfig> = {}): DevicePlugin {
    const logs = this.logs;
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l.length > 0),
        );
        done();
      },
    });
    const plugin = new DevicePlugin({
      socketDir: this.socketDir,
      nodeName: NODE,
      gpus: this.gpus,
      kubeConfig: this.cluster.kubeConfig('agent'),
      checkpointDir: this.checkpointDir,
      configRoot: this.configRoot,
      libraryDir: join(this.dir, 'lib'),
      devRoot: join(this.dir, 'dev'),
      clock: this.clock,
      logger: createLogger({ level: 'info', name: 'device-plugin', destination }),
      sweepIntervalMs: 3_600_000,
      kubeletPollMs: 60_000,
      ...overrides,
    });
    this.plugins.add(plugin);
    return plugin;
  }

  /** A pod already bound to NODE with the extender's annotations, one GPU container `main`. */
  async createGpuPod(name: string, spec: GpuPodSpec): Promise<V1Pod> {
    const names = VGPU_RESOURCE_NAME_SETS[spec.names ?? 'loadwise'];
    const limits = { [names.core]: String(spec.core), [names.memory]: String(spec.memory) };
    return this.core.createNamespacedPod({
      namespace: this.cluster.namespace,
      body: {
        metadata: {
          name,
          annotations: {
            [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({ containers: { main: spec.shares } }),
            [VGPU_ASSUME_TIME_ANNOTATION]: String(spec.assumeMs),
          },
        },
        spec: {
          nodeName: NODE,
          containers: [{ name: 'main', image: 'cuda', resources: { limits, requests: limits } }],
        },
      },
    });
  }

  readPod(name: string): Promise<V1Pod> {
    return this.core.readNamespacedPod({ namespace: this.cluster.namespace, name });
  }

  async close(): Promise<void> {
    for (const p of this.plugins) await p.stop();
    await this.kubelet.stop();
    await this.cluster.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export const CORE = VGPU_CORE_RESOURCE;
export const MEMORY = VGPU_MEMORY_RESOURCE;
