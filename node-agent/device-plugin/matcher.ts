// Which container an Allocate is for. kubelet's Allocate names only device IDs (a count, for our
// unit devices), never the pod, so the agent infers it. The rule, deterministic and documented:
//
//  1. A container already half-answered — one of its resources allocated in this process, this
//     one not yet, with the same count — is continued first. kubelet allocates every resource of a
//     container back to back, and admits pods one at a time, so this is the container in flight.
//  2. After a restart, a recovered allocation whose recorded device IDs for this resource equal the
//     request's is the same container asked again (kubelet retrying): it gets the same answer.
//  3. Otherwise, among the pods on this node that the extender assigned (assignment + assume time),
//     not yet marked allocated, not finished and not being deleted: the containers with a GPU
//     assignment, no allocation yet, and a request for this resource equal to the count. The
//     oldest assume time wins (the extender stamps its binds strictly increasing, so this is bind
//     order, the order kubelet admits pods in); ties — binds from elsewhere in the same millisecond
//     — by creation time (kubelet sorts pods it gets together by it), then UID. Within a pod, its
//     first unallocated GPU container (init containers first, as kubelet starts them).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { VGPU_RESOURCE_NAMES, type VgpuResourceKind } from '../../contracts/device-plugin.ts';
import { vgpuResourceQuantity } from '../../contracts/resources.ts';
import {
  type GpuShare,
  VGPU_ALLOCATED_ANNOTATION,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
  decodeAssumeTime,
  decodeVgpuAssignment,
} from '../../contracts/vgpu-pod.ts';
import { parseQuantity } from '../../common/quantity.ts';

export interface UnitRequest {
  core: number;
  memory: number;
}

/** One container's allocation, as held in memory and in the checkpoint. */
export interface ContainerAllocation {
  podUID: string;
  namespace: string;
  podName: string;
  container: string;
  /** The assigned GPUs, with the UUIDs they had at allocation. */
  shares: Array<GpuShare & { uuid: string }>;
  /** Units the container requests per resource (0: not requested). */
  request: UnitRequest;
  /** Device IDs kubelet sent per resource, sorted: how a retry after a restart is recognised. */
  deviceIds: Partial<Record<VgpuResourceKind, string[]>>;
  allocatedAtMs: number;
}

/** An allocation plus what only this process knows. */
export interface LedgerEntry {
  allocation: ContainerAllocation;
  /** Resources answered by this process (empty for one recovered from the checkpoint). */
  answered: Set<VgpuResourceKind>;
  recovered: boolean;
}

export type MatchResult =
  | { kind: 'existing'; entry: LedgerEntry; why: 'in-flight' | 'retry' }
  | {
      kind: 'new';
      pod: V1Pod;
      container: string;
      shares: readonly Readonly<GpuShare>[];
      request: Readonly<UnitRequest>;
      assumeTimeMs: number;
    }
  | { kind: 'none'; reason: string };

/**
 * Units a container asks of one resource, under loadwise's names or gpu-manager's (the node
 * registered one set, so kubelet only sends Allocates for that one); 0 when absent or unreadable.
 */
function units(container: V1Container, kind: VgpuResourceKind): number {
  const asked = vgpuResourceQuantity(container.resources, kind);
  if (asked === undefined || 'conflict' in asked) return 0;
  const n = parseQuantity(String(asked.value));
  return n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** What a container asks of each vGPU resource. */
export function containerRequest(container: V1Container): UnitRequest {
  return { core: units(container, 'core'), memory: units(container, 'memory') };
}

/** Containers in the order kubelet allocates them. */
export function podContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

export function isPodFinished(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export function isMarkedAllocated(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[VGPU_ALLOCATED_ANNOTATION] !== undefined;
}

export interface GpuContainer {
  readonly name: string;
  readonly request: Readonly<UnitRequest>;
  readonly shares: readonly Readonly<GpuShare>[];
}

/**
 * Decoded once per pod object: the watch hands a new object for every change of a pod, so an
 * object's annotations and spec never change under this cache, and Allocate (which scans every
 * pod on the node) stops re-parsing ~200 assignment annotations and quantities per call. Frozen,
 * because every caller shares the one answer.
 */
const decodedContainers = new WeakMap<V1Pod, readonly GpuContainer[]>();

/** The containers of `pod` that need vGPU units, with their assignment; empty when it has none. */
export function gpuContainers(pod: V1Pod): readonly GpuContainer[] {
  let out = decodedContainers.get(pod);
  if (out === undefined) {
    out = Object.freeze(decodeGpuContainers(pod));
    decodedContainers.set(pod, out);
  }
  return out;
}

function decodeGpuContainers(pod: V1Pod): GpuContainer[] {
  const text = pod.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION];
  if (text === undefined) return [];
  const decoded = decodeVgpuAssignment(text);
  if (!decoded.ok) return [];
  const out: GpuContainer[] = [];
  for (const container of podContainers(pod)) {
    const shares = decoded.assignment.containers[container.name];
    const request = containerRequest(container);
    if (shares && (request.core > 0 || request.memory > 0))
      out.push(
        Object.freeze({
          name: container.name,
          request: Object.freeze(request),
          shares: Object.freeze(shares.map((share) => Object.freeze({ ...share }))),
        }),
      );
  }
  return out;
}

/** UIDs of the pods that may still receive an Allocate: not marked, not finished, not deleting. */
export function waitingPodUIDs(pods: readonly V1Pod[]): Set<string> {
  const out = new Set<string>();
  for (const p of pods) {
    const uid = p.metadata?.uid;
    if (uid && !isMarkedAllocated(p) && !isPodFinished(p) && !p.metadata?.deletionTimestamp) out.add(uid);
  }
  return out;
}

const sameIds = (a: readonly string[] | undefined, b: readonly string[]): boolean =>
  a !== undefined && a.length === b.length && a.every((id, i) => id === b[i]);

/**
 * Applies the rule above. `sortedIds` are the request's device IDs, sorted. Pure: the caller
 * commits the result.
 */
export function matchAllocate(
  kind: VgpuResourceKind,
  sortedIds: readonly string[],
  pods: readonly V1Pod[],
  ledger: readonly LedgerEntry[],
  /** The name the node registered the resource under, for the reason given back to kubelet. */
  resourceName: string = VGPU_RESOURCE_NAMES[kind],
): MatchResult {
  const count = sortedIds.length;
  // Continuing an allocation only makes sense while its pod still waits: a recovered entry of a
  // pod that is gone (not yet swept) must not be handed to whoever starts next.
  const waiting = waitingPodUIDs(pods);
  // filter makes the copy sort needs; no spread of the whole ledger first.
  const byAge = ledger
    .filter((e) => waiting.has(e.allocation.podUID))
    .sort((a, b) => a.allocation.allocatedAtMs - b.allocation.allocatedAtMs);
  const inFlight = byAge.find(
    (e) =>
      e.allocation.request[kind] === count &&
      !e.answered.has(kind) &&
      e.allocation.deviceIds[kind] === undefined &&
      (e.answered.size > 0 || (e.recovered && Object.keys(e.allocation.deviceIds).length > 0)),
  );
  if (inFlight) return { kind: 'existing', entry: inFlight, why: 'in-flight' };
  const retry = byAge.find(
    (e) => e.recovered && !e.answered.has(kind) && sameIds(e.allocation.deviceIds[kind], sortedIds),
  );
  if (retry) return { kind: 'existing', entry: retry, why: 'retry' };

  // The containers already allocated, of waiting pods only: the loop below skips every other pod,
  // and on a busy node most allocations belong to pods already marked. Keyed by pod, then name, so
  // neither building it nor asking it makes a `uid/name` string per pod on every Allocate.
  const taken = new Map<string, Set<string>>();
  for (const e of byAge) {
    const names = taken.get(e.allocation.podUID);
    if (names) names.add(e.allocation.container);
    else taken.set(e.allocation.podUID, new Set([e.allocation.container]));
  }
  let best: Extract<MatchResult, { kind: 'new' }> | undefined;
  let assigned = 0;
  for (const pod of pods) {
    const uid = pod.metadata?.uid;
    const assumeTimeMs = decodeAssumeTime(pod.metadata?.annotations?.[VGPU_ASSUME_TIME_ANNOTATION]);
    if (!uid || assumeTimeMs === undefined) continue;
    if (isMarkedAllocated(pod) || isPodFinished(pod) || pod.metadata?.deletionTimestamp) continue;
    assigned++;
    // Only a pod's first unallocated GPU container can be next: kubelet goes through them in order.
    const c = firstUnallocated(gpuContainers(pod), taken.get(uid));
    if (c && c.request[kind] === count) {
      if (
        !best ||
        assumeTimeMs < best.assumeTimeMs ||
        (assumeTimeMs === best.assumeTimeMs && podOrder(pod, best.pod) < 0)
      ) {
        best = { kind: 'new', pod, container: c.name, shares: c.shares, request: c.request, assumeTimeMs };
      }
    }
  }
  if (best) return best;
  return {
    kind: 'none',
    reason:
      `no pod on this node waits for ${count} ${resourceName} ` +
      `(${assigned} assigned pod(s) not yet allocated; none has an unallocated container requesting exactly ${count})`,
  };
}

/** The first of `containers` not in `held`: a loop, not `find`, so no closure per pod per call. */
function firstUnallocated(
  containers: readonly GpuContainer[],
  held: ReadonlySet<string> | undefined,
): GpuContainer | undefined {
  for (const c of containers) if (!held?.has(c.name)) return c;
  return undefined;
}

/** Creation time, earliest first (a pod without one last), then UID. */
function podOrder(a: V1Pod, b: V1Pod): number {
  const ca = createdMs(a);
  const cb = createdMs(b);
  if (ca !== cb) return ca < cb ? -1 : 1;
  const ua = a.metadata?.uid ?? '';
  const ub = b.metadata?.uid ?? '';
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

function createdMs(pod: V1Pod): number {
  const t = pod.metadata?.creationTimestamp;
  // The client hands a Date; a pod built by hand may carry the RFC 3339 text.
  const ms = t === undefined ? Number.NaN : new Date(t as Date | string).getTime();
  return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
}
