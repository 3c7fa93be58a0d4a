// kubelet's part in the local mode: when a pod lands on a node, "start" its containers. For a vGPU
// pod that means what kubelet does at container start: Allocate on the node agent's device plugin
// (through the test kubelet, over the real gRPC socket), one container at a time; then the pod is
// reported Running. Allocations on one node run one after another, as kubelet admits pods in turn.
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  type V1Pod,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';
import type { TestKubelet } from '../../test/kubelet/kubelet.ts';

const GPU_RESOURCES = [VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE] as const;

export interface StartedContainer {
  container: string;
  /** The environment the device plugin gave the container (visible devices, limits). */
  env: Record<string, string>;
}

export interface StartOutcome {
  containers: StartedContainer[];
  error?: string;
}

/** Container name → resource → count of device units it asks for. */
function gpuRequests(pod: V1Pod): [string, Record<string, number>][] {
  const out: [string, Record<string, number>][] = [];
  for (const c of pod.spec?.containers ?? []) {
    const limits = c.resources?.limits ?? {};
    const req: Record<string, number> = {};
    for (const r of GPU_RESOURCES) {
      const n = Number(limits[r] ?? 0);
      if (n > 0) req[r] = n;
    }
    if (Object.keys(req).length > 0) out.push([c.name, req]);
  }
  return out;
}

export class PodStarter {
  private readonly core: CoreV1Api;
  private queue: Promise<unknown> = Promise.resolve();
  /** Pod key → device IDs kubelet handed out per resource, to give back when the pod goes. */
  private readonly held = new Map<string, Map<string, string[]>>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly kubelet: TestKubelet | undefined,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Starts the pod's containers; never throws, a refused Allocate is in the outcome. */
  start(pod: V1Pod): Promise<StartOutcome> {
    const run = this.queue.then(() => this.startNow(pod));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The pod is gone: kubelet gives its devices back. */
  stopped(namespace: string, name: string): void {
    const held = this.held.get(`${namespace}/${name}`);
    if (!held || !this.kubelet) return;
    for (const [resource, ids] of held) this.kubelet.release(resource, ids);
    this.held.delete(`${namespace}/${name}`);
  }

  private async startNow(pod: V1Pod): Promise<StartOutcome> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const outcome: StartOutcome = { containers: [] };
    const requests = gpuRequests(pod);
    try {
      if (requests.length > 0 && !this.kubelet) throw new Error('the node has no device plugin');
      const held = new Map<string, string[]>();
      this.held.set(`${namespace}/${name}`, held);
      for (const [container, req] of requests) {
        // The IDs kubelet picks are the ones that stop being available; allocations here are serial.
        const before = new Map(GPU_RESOURCES.map((r) => [r, new Set(this.kubelet!.available(r))]));
        const responses = await this.kubelet!.allocateContainer(req);
        for (const r of GPU_RESOURCES) {
          const now = new Set(this.kubelet!.available(r));
          const taken = [...before.get(r)!].filter((id) => !now.has(id));
          held.set(r, [...(held.get(r) ?? []), ...taken]);
        }
        const env: Record<string, string> = {};
        for (const res of Object.values(responses)) Object.assign(env, res.envs ?? {});
        outcome.containers.push({ container, env });
      }
      await this.core.patchNamespacedPodStatus(
        {
          name,
          namespace,
          body: {
            status: {
              phase: 'Running',
              conditions: [{ type: 'Ready', status: 'True' }],
              startTime: new Date(),
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      outcome.error = (err as Error).message;
    }
    return outcome;
  }
}
