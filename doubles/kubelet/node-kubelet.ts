// The pod-admission half of a kubelet, for one node, on top of TestKubelet's device-plugin half:
// it watches the pods bound to its node and admits them one at a time, in the order the bindings
// arrive (bind order), the way kubelet's pod workers do. Admitting a pod means: for each of its
// containers with loadwise vGPU limits, ask the device plugin for devices exactly as kubelet's
// device manager does at container start (TestKubelet.allocateContainer, one resource after the
// other), keep what Allocate answered (env, mounts, device specs), then write the pod's status
// (Running; Failed with kubelet's UnexpectedAdmissionError when Allocate was refused). When a pod
// goes away its devices go back to the kubelet's pool.
//
// No assertions here: the end-to-end test and the local all-in-one mode both drive it, and wait on
// its events or on `allocated()` / `settled()`.
//
// One deliberate difference from kubelet: while the device plugin is away (not yet registered, or
// its socket gone because the agent restarts), kubelet would fail the pod's admission and leave the
// workload's controller to make a new pod. This kubelet instead waits, bounded by `pluginWaitMs`,
// for the plugin to register (again) and then admits the pod, so a test of an agent restart does
// not have to model ReplicaSets. A plugin that answers and refuses is an admission failure, as in
// kubelet.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  type V1Container,
  type V1Pod,
} from '@kubernetes/client-node';
import { status as grpcStatus } from '@grpc/grpc-js';
import { apiStatus, errorMessage, requestOptions } from '../../common/kube.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { parseQuantity } from '../../common/quantity.ts';
import { Reflector } from '../../common/reflector.ts';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';
import type { ContainerAllocateResponse } from '../../node-agent/device-plugin/proto.ts';
import type { TestKubelet } from './kubelet.ts';

/** The resources this kubelet asks the device plugin for, in the order it asks. */
/** How long a retry waits for a re-registration before asking the same plugin again. */
const RETRY_PAUSE_MS = 250;

export const DEVICE_RESOURCES: readonly string[] = [VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE];

export interface NodeKubeletOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** The node's device-plugin side (Registration server, ListAndWatch, Allocate). */
  kubelet: TestKubelet;
  logger?: Logger;
  /** How long a pod waits for the device plugin to register (again) before its admission fails. Default 30 s. */
  pluginWaitMs?: number;
  /** Timeout of one API request. Default 5 s. */
  apiTimeoutMs?: number;
  /** Write the pod status (Running / Failed) after admission. Default true. */
  writeStatus?: boolean;
  now?: () => number;
}

/** What one container got from the device plugin. */
export interface ContainerAdmission {
  container: string;
  /** Units asked per resource (the container's limits). */
  requests: Record<string, number>;
  /** The device IDs kubelet chose per resource (kubelet's own accounting). */
  deviceIds: Record<string, string[]>;
  /** Allocate's answer per resource. */
  responses: Record<string, ContainerAllocateResponse>;
  /** The environment kubelet gives the container: every resource's envs merged, in asking order. */
  envs: Record<string, string>;
}

export type AdmissionState = 'admitting' | 'allocated' | 'error';

export interface PodAdmission {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  /** 1, 2, 3… in the order this kubelet took the pods up (bind order). */
  sequence: number;
  state: AdmissionState;
  /** Containers with vGPU limits, in start order (init containers first); empty for other pods. */
  containers: ContainerAdmission[];
  /** Why admission failed: the container, the resource being allocated, the gRPC code when there was one. */
  error?: { container: string; resource?: string; code?: number; message: string };
  /** True once the status write (Running or Failed) was accepted. */
  statusWritten: boolean;
  /** Allocate attempts that failed because the plugin was away (asked again once it was back). */
  retries: number;
  /** True once its devices went back to the kubelet's pool (failed admission, or the pod is gone). */
  devicesReleased: boolean;
  admittedAtMs: number;
  doneAtMs?: number;
}

export interface NodeKubeletEvents {
  /** The pod's containers got their devices (and its status was written, when enabled). */
  allocated: [pod: PodAdmission];
  /**
   * Allocate was refused (or the plugin never came); the pod's admission failed and its record
   * has state 'error'. (Not named 'error': an EventEmitter throws an 'error' nobody listens to.)
   */
  failed: [pod: PodAdmission];
  /** The pod went away and its devices went back to the pool. */
  released: [pod: PodAdmission];
}

interface Waiter {
  key: string;
  settle: (pod: PodAdmission) => void;
  fail: (err: Error) => void;
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function units(container: V1Container, resource: string): number {
  const raw = container.resources?.limits?.[resource] ?? container.resources?.requests?.[resource];
  if (raw === undefined) return 0;
  const n = parseQuantity(String(raw));
  return n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** The containers kubelet would ask devices for, in the order it starts them. */
export function deviceRequests(pod: V1Pod): Array<{ container: string; requests: Record<string, number> }> {
  const out: Array<{ container: string; requests: Record<string, number> }> = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const requests: Record<string, number> = {};
    for (const resource of DEVICE_RESOURCES) {
      const n = units(c, resource);
      if (n > 0) requests[resource] = n;
    }
    if (Object.keys(requests).length > 0) out.push({ container: c.name, requests });
  }
  return out;
}

/** The gRPC status code of a failed call (Allocate's AllocateError, or GetPreferredAllocation's own error). */
function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The plugin is away (socket gone, not registered): worth waiting for it to come back. */
function pluginAway(err: unknown): boolean {
  const code = grpcCode(err);
  if (code === grpcStatus.UNAVAILABLE || code === grpcStatus.DEADLINE_EXCEEDED) return true;
  return err instanceof Error && err.message.startsWith('kubelet: no plugin registered');
}

class AdmissionFailed extends Error {
  constructor(
    readonly container: string,
    readonly resource: string | undefined,
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class NodeKubelet extends EventEmitter<NodeKubeletEvents> {
  private readonly core: CoreV1Api;
  private readonly pods: Reflector<V1Pod>;
  private readonly logger: Logger;
  private readonly now: () => number;
  /** By namespace/name: the latest pod of that name this kubelet took up. */
  private readonly admissions = new Map<string, PodAdmission>();
  private readonly seenUIDs = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  /** Registrations seen per resource: a change means the plugin came (back). */
  private readonly generation = new Map<string, number>();
  private readonly pluginWatchers = new Set<() => void>();
  private queue: Promise<void> = Promise.resolve();
  private sequence = 0;
  private stopped = false;
  private readonly onRegistered = (resource: string) => {
    this.logger.debug({ resource, healthy: this.opts.kubelet.healthyCount(resource) }, 'plugin registered');
    this.generation.set(resource, (this.generation.get(resource) ?? 0) + 1);
    this.wakePluginWatchers();
  };
  private readonly onDevices = (resource: string, devices: unknown[]) => {
    this.logger.debug({ resource, devices: devices.length }, 'plugin devices');
    this.wakePluginWatchers();
  };

  constructor(private readonly opts: NodeKubeletOptions) {
    super();
    this.logger = opts.logger ?? createLogger({ level: 'silent', name: 'node-kubelet' });
    this.now = opts.now ?? Date.now;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    this.pods = new Reflector<V1Pod>({
      kubeConfig: opts.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector,
      list: () => this.core.listPodForAllNamespaces({ fieldSelector }, requestOptions(60_000)),
      logger: this.logger.child({ watch: 'pods', node: opts.nodeName }),
      backoff: { initialMs: 100, maxMs: 2000 },
      onEvent: (type, pod) => (type === 'DELETED' ? this.onDeleted(pod) : this.onPod(pod)),
    });
  }

  get nodeName(): string {
    return this.opts.nodeName;
  }

  /** Starts watching the node's pods; resolves once the first list is in. */
  async start(signal?: AbortSignal): Promise<void> {
    this.stopped = false;
    this.opts.kubelet.on('registered', this.onRegistered);
    this.opts.kubelet.on('devices', this.onDevices);
    this.pods.start();
    await this.pods.waitForSync(signal);
  }

  /** Stops the watch, lets the pod being admitted finish (or give up), and fails waiters still waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.pods.stop();
    this.wakePluginWatchers();
    await this.queue;
    for (const w of [...this.waiters])
      w.fail(new Error(`${w.key}: the node kubelet of ${this.opts.nodeName} stopped`));
    this.opts.kubelet.off('registered', this.onRegistered);
    this.opts.kubelet.off('devices', this.onDevices);
  }

  /** The latest admission of `namespace/name`, if this kubelet took such a pod up. */
  pod(namespace: string, name: string): PodAdmission | undefined {
    return this.admissions.get(keyOf(namespace, name));
  }

  /** Every admission held now (pods not yet gone), in admission order. */
  list(): PodAdmission[] {
    return [...this.admissions.values()].sort((a, b) => a.sequence - b.sequence);
  }

  /** Resolves once the pod is allocated; rejects when its admission failed or after `timeoutMs`. */
  async allocated(namespace: string, name: string, timeoutMs = 30_000): Promise<PodAdmission> {
    const pod = await this.settled(namespace, name, timeoutMs);
    if (pod.state === 'error') {
      throw new Error(
        `${namespace}/${name} on ${this.opts.nodeName}: admission failed in container ${pod.error?.container}: ${pod.error?.message}`,
      );
    }
    return pod;
  }

  /** Resolves with the pod's admission once it is allocated or failed; rejects after `timeoutMs`. */
  settled(namespace: string, name: string, timeoutMs = 30_000): Promise<PodAdmission> {
    const key = keyOf(namespace, name);
    const done = this.admissions.get(key);
    if (done && done.state !== 'admitting') return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        key,
        settle: (pod) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(pod);
        },
        fail: (err) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const state = this.admissions.get(key)?.state ?? 'not seen on this node';
        reject(new Error(`${key} on ${this.opts.nodeName}: not admitted within ${timeoutMs} ms (${state})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  // ---- pods ------------------------------------------------------------------------------------

  private onPod(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    if (!uid || this.seenUIDs.has(uid) || this.stopped) return;
    // Pods already past admission (started by an earlier kubelet) or on their way out are not ours to start.
    const phase = pod.status?.phase;
    if ((phase !== undefined && phase !== 'Pending') || pod.metadata?.deletionTimestamp) return;
    this.seenUIDs.add(uid);
    const admission: PodAdmission = {
      namespace,
      name,
      uid,
      node: this.opts.nodeName,
      sequence: ++this.sequence,
      state: 'admitting',
      containers: [],
      statusWritten: false,
      retries: 0,
      devicesReleased: false,
      admittedAtMs: this.now(),
    };
    this.admissions.set(keyOf(namespace, name), admission);
    // One pod at a time, in the order the bindings arrived.
    this.queue = this.queue.then(() => this.admit(admission, pod));
  }

  private onDeleted(pod: V1Pod): void {
    const key = keyOf(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    const admission = this.admissions.get(key);
    if (!admission || admission.uid !== pod.metadata?.uid) return;
    // A pod still being admitted gives its devices back when its admission ends (see admit).
    if (admission.state === 'admitting') return;
    this.release(admission);
  }

  private release(admission: PodAdmission): void {
    this.releaseDevices(admission);
    const key = keyOf(admission.namespace, admission.name);
    if (this.admissions.get(key) === admission) this.admissions.delete(key);
    this.emit('released', admission);
  }

  /** Once only: the same IDs may belong to another pod by the time this pod is deleted. */
  private releaseDevices(admission: PodAdmission): void {
    if (admission.devicesReleased) return;
    admission.devicesReleased = true;
    for (const c of admission.containers) {
      for (const [resource, ids] of Object.entries(c.deviceIds)) this.opts.kubelet.release(resource, ids);
    }
  }

  private async admit(admission: PodAdmission, pod: V1Pod): Promise<void> {
    const log = this.logger.child({ pod: `${admission.namespace}/${admission.name}` });
    const gone = () => this.pods.get(admission.name, admission.namespace)?.metadata?.uid !== admission.uid;
    try {
      if (gone()) {
        this.release(admission);
        return;
      }
      for (const { container, requests } of deviceRequests(pod)) {
        admission.containers.push(await this.allocateContainer(admission, container, requests));
      }
      admission.state = 'allocated';
      log.info({ containers: admission.containers.length }, 'pod admitted');
    } catch (err) {
      const failed =
        err instanceof AdmissionFailed
          ? err
          : new AdmissionFailed('', undefined, undefined, errorMessage(err));
      admission.state = 'error';
      // The pod does not run: the containers that did get devices give them back, as kubelet does.
      this.releaseDevices(admission);
      admission.error = {
        container: failed.container,
        message: failed.message,
        ...(failed.resource !== undefined ? { resource: failed.resource } : {}),
        ...(failed.code !== undefined ? { code: failed.code } : {}),
      };
      log.warn({ err: failed.message, container: failed.container }, 'pod admission failed');
    }
    if (this.opts.writeStatus !== false && !this.stopped) await this.writeStatus(admission, pod, log);
    admission.doneAtMs = this.now();
    this.emit(admission.state === 'allocated' ? 'allocated' : 'failed', admission);
    const key = keyOf(admission.namespace, admission.name);
    for (const w of [...this.waiters]) if (w.key === key) w.settle(admission);
    // Deleted while we were busy with it: its devices go back now.
    if (gone()) this.release(admission);
  }

  /**
   * kubelet's device manager for one container: each resource in turn. A resource whose plugin
   * went away is asked again once the plugin is back (the agent recognises the retry, and a
   * container whose other resource it already answered before it restarted).
   */
  private async allocateContainer(
    admission: PodAdmission,
    container: string,
    requests: Record<string, number>,
  ): Promise<ContainerAdmission> {
    const kubelet = this.opts.kubelet;
    const deadline = this.now() + (this.opts.pluginWaitMs ?? 30_000);
    const result: ContainerAdmission = { container, requests, deviceIds: {}, responses: {}, envs: {} };
    try {
      for (const [resource, count] of Object.entries(requests)) {
        for (;;) {
          await this.pluginReady(resource, container, deadline);
          const generation = this.generation.get(resource) ?? 0;
          this.logger.debug(
            { pod: `${admission.namespace}/${admission.name}`, container, resource, count, generation },
            'Allocate',
          );
          try {
            const { response, ids } = await kubelet.allocateDevices(resource, count);
            result.deviceIds[resource] = ids;
            result.responses[resource] = response;
            Object.assign(result.envs, response.envs);
            break;
          } catch (err) {
            const code = grpcCode(err);
            if (!pluginAway(err) || this.stopped || this.now() >= deadline) {
              throw new AdmissionFailed(container, resource, code, errorMessage(err));
            }
            admission.retries++;
            this.logger.info(
              {
                pod: `${admission.namespace}/${admission.name}`,
                container,
                resource,
                err: errorMessage(err),
              },
              'device plugin away; asking again once it is back',
            );
            await this.pluginBack(resource, generation, container, deadline);
          }
        }
      }
      return result;
    } catch (err) {
      // The container does not start: what its other resources took goes back to the pool.
      for (const [resource, ids] of Object.entries(result.deviceIds)) kubelet.release(resource, ids);
      throw err;
    }
  }

  /** Waits until `resource` is registered with devices advertised. */
  private async pluginReady(resource: string, container: string, deadline: number): Promise<void> {
    const kubelet = this.opts.kubelet;
    await this.until(
      () => kubelet.plugin(resource) !== undefined && kubelet.healthyCount(resource) > 0,
      deadline,
      () =>
        new AdmissionFailed(
          container,
          resource,
          grpcStatus.UNAVAILABLE,
          `no device plugin for ${resource} registered with devices on ${this.opts.nodeName}`,
        ),
    );
  }

  /**
   * After Allocate found the plugin away: waits for a new registration of `resource`. Without one,
   * the plugin may still be starting up behind the same socket (answering UNAVAILABLE until it
   * knows its pods), so it is also asked again after a short pause.
   */
  private async pluginBack(
    resource: string,
    generation: number,
    container: string,
    deadline: number,
  ): Promise<void> {
    await this.until(
      () => (this.generation.get(resource) ?? 0) > generation,
      deadline,
      () =>
        new AdmissionFailed(
          container,
          resource,
          grpcStatus.UNAVAILABLE,
          `the device plugin for ${resource} did not come back on ${this.opts.nodeName}`,
        ),
      RETRY_PAUSE_MS,
    );
  }

  /**
   * Resolves when `condition` holds (re-checked on every kubelet event) or, given `pauseMs`, once
   * that long has passed; rejects at the deadline or on stop. Timer-driven: a timer may fire a
   * millisecond before Date.now() says it is due, so no clock comparison decides here.
   */
  private until(
    condition: () => boolean,
    deadline: number,
    failure: () => Error,
    pauseMs?: number,
  ): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (err?: Error) => {
        for (const t of timers) clearTimeout(t);
        this.pluginWatchers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (condition()) finish();
        else if (this.stopped) finish(failure());
      };
      this.pluginWatchers.add(check);
      timers.push(
        setTimeout(() => (condition() ? finish() : finish(failure())), Math.max(0, deadline - this.now())),
      );
      if (pauseMs !== undefined) timers.push(setTimeout(() => finish(), pauseMs));
    });
  }

  private wakePluginWatchers(): void {
    for (const check of [...this.pluginWatchers]) check();
  }

  private async writeStatus(admission: PodAdmission, pod: V1Pod, log: Logger): Promise<void> {
    const nowIso = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const ok = admission.state === 'allocated';
    const status = ok
      ? {
          phase: 'Running',
          startTime: nowIso,
          // As kubelet reports started containers (kubectl's READY column counts these).
          containerStatuses: (pod.spec?.containers ?? []).map((c) =>
            runningContainer(admission.uid, c, nowIso),
          ),
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: nowIso },
            { type: 'Initialized', status: 'True', lastTransitionTime: nowIso },
            { type: 'ContainersReady', status: 'True', lastTransitionTime: nowIso },
            { type: 'Ready', status: 'True', lastTransitionTime: nowIso },
          ],
        }
      : {
          phase: 'Failed',
          reason: 'UnexpectedAdmissionError',
          message: `Allocate failed: ${admission.error?.message ?? 'unknown'}`,
        };
    try {
      await this.core.patchNamespacedPodStatus(
        { name: admission.name, namespace: admission.namespace, body: { status } },
        requestOptions(this.opts.apiTimeoutMs ?? 5000, PatchStrategy.MergePatch),
      );
      admission.statusWritten = true;
    } catch (err) {
      // A pod deleted meanwhile has no status to write; anything else is worth a line.
      const level = apiStatus(err) === 404 ? 'debug' : 'warn';
      log[level]({ err: errorMessage(err) }, 'could not write the pod status');
    }
  }
}

/** A running container's status as kubelet writes it, its ID derived from the pod UID and name. */
function runningContainer(podUID: string, container: V1Container, startedAt: string) {
  const id = createHash('sha256').update(`${podUID}/${container.name}`).digest('hex');
  return {
    name: container.name,
    image: container.image ?? '',
    imageID: '',
    containerID: `containerd://${id}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt } },
  };
}
