// GetPreferredAllocation: which of the available unit devices kubelet should hand out. Only
// advice (kubelet may ignore it), but taking it keeps kubelet's per-device bookkeeping in step
// with the GPUs the extender really assigned, which makes kubelet's view readable.
import { type VgpuResourceKind, parseVgpuDeviceId } from '../../contracts/device-plugin.ts';
import type { V1Pod } from '@kubernetes/client-node';
import type { PluginGpu } from './devices.ts';
import { type LedgerEntry, matchAllocate, waitingPodUIDs } from './matcher.ts';
import type { ContainerPreferredAllocationRequest } from './proto.ts';

/** The preferred IDs for one container: a retry's previous IDs, else the assigned GPUs' units first. */
export function preferredDevices(
  kind: VgpuResourceKind,
  req: ContainerPreferredAllocationRequest,
  pods: readonly V1Pod[],
  ledger: readonly LedgerEntry[],
  gpus: readonly PluginGpu[],
): string[] {
  const size = Math.max(0, req.allocation_size);
  const available = new Set(req.available_deviceIDs);
  // A retry after a restart: the same IDs as last time, when kubelet still has them all, so the
  // Allocate that follows is recognised as the same container (matcher.ts, rule 2).
  const waiting = waitingPodUIDs(pods);
  const retry = ledger.find((e) => {
    const ids = e.allocation.deviceIds[kind];
    return (
      e.recovered &&
      waiting.has(e.allocation.podUID) &&
      ids?.length === size &&
      ids.every((id) => available.has(id))
    );
  });
  if (retry) return [...retry.allocation.deviceIds[kind]!];
  // Only the count matters to the match; the placeholder IDs never equal a recorded set.
  const match = matchAllocate(kind, new Array<string>(size).fill(''), pods, ledger);
  const uuids =
    match.kind === 'new'
      ? match.shares.map((s) => gpus.find((g) => g.index === s.index)?.uuid)
      : match.kind === 'existing'
        ? match.entry.allocation.shares.map((s) => s.uuid)
        : [];
  return pickPreferred(req.available_deviceIDs, req.must_include_deviceIDs, uuids, size);
}

/** must_include first, then units of the preferred GPUs (in order), then anything; `size` in all. */
export function pickPreferred(
  available: readonly string[],
  mustInclude: readonly string[],
  preferredUuids: ReadonlyArray<string | undefined>,
  size: number,
): string[] {
  const out: string[] = [];
  const chosen = new Set<string>();
  const take = (id: string) => {
    if (out.length < size && !chosen.has(id)) {
      chosen.add(id);
      out.push(id);
    }
  };
  for (const id of mustInclude) take(id);
  for (const uuid of preferredUuids) {
    if (uuid === undefined) continue;
    for (const id of available) if (parseVgpuDeviceId(id)?.uuid === uuid) take(id);
  }
  for (const id of available) take(id);
  return out;
}
