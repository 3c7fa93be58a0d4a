// What kubelet may send to Allocate and GetPreferredAllocation, checked before anything else reads
// it: the device-plugin socket is reachable by whatever can write to kubelet's device-plugin
// directory, and a request is only as trustworthy as that. Device IDs must be units this plugin
// advertises, each at most once per call, never more than are advertised; the error names the
// offending ID clipped, so a 100 KB ID cannot become a 100 KB gRPC status (which HTTP/2 refuses to
// carry as a trailer, stalling the connection).
import { status } from '@grpc/grpc-js';
import { MAX_DEVICE_ID_LENGTH } from '../../contracts/device-plugin.ts';
import type { AllocateRequest, PreferredAllocationRequest } from './proto.ts';
import { GrpcError } from './resource-server.ts';

/** The device IDs a call may name: `has` says whether one is acceptable, `size` bounds the count. */
export interface AcceptedIds {
  has(id: string): boolean;
  readonly size: number;
}

/** kubelet asks for one container per call; a few more are tolerated, never thousands. */
export const MAX_CONTAINER_REQUESTS = 16;

function invalid(message: string): GrpcError {
  return new GrpcError(status.INVALID_ARGUMENT, message);
}

function clip(id: string): string {
  return JSON.stringify(id.length > MAX_DEVICE_ID_LENGTH ? `${id.slice(0, MAX_DEVICE_ID_LENGTH)}...` : id);
}

function checkContainerCount(count: number): void {
  if (count === 0) throw invalid('no container requests');
  if (count > MAX_CONTAINER_REQUESTS)
    throw invalid(`${count} container requests in one call; at most ${MAX_CONTAINER_REQUESTS}`);
}

/**
 * Checks a list of device IDs against the advertised ones; `seen` carries IDs across the lists of
 * one call, so one unit cannot go to two containers either.
 */
function checkIds(
  ids: readonly string[],
  advertised: AcceptedIds,
  resource: string,
  seen: Set<string>,
): void {
  if (ids.length > advertised.size) {
    throw invalid(`${ids.length} ${resource} device IDs; this plugin advertises ${advertised.size}`);
  }
  for (const id of ids) {
    if (id.length > MAX_DEVICE_ID_LENGTH) {
      throw invalid(`a device ID of ${id.length} characters (at most ${MAX_DEVICE_ID_LENGTH}): ${clip(id)}`);
    }
    if (!advertised.has(id))
      throw invalid(`device ${clip(id)} is not a ${resource} unit this plugin advertises`);
    if (seen.has(id)) throw invalid(`device ${clip(id)} is listed twice`);
    seen.add(id);
  }
}

export function checkAllocateRequest(req: AllocateRequest, advertised: AcceptedIds, resource: string): void {
  checkContainerCount(req.container_requests.length);
  const seen = new Set<string>();
  for (const c of req.container_requests) {
    if (c.devices_ids.length === 0) throw invalid('a container request without devices');
    checkIds(c.devices_ids, advertised, resource, seen);
  }
}

export function checkPreferredRequest(
  req: PreferredAllocationRequest,
  advertised: AcceptedIds,
  resource: string,
): void {
  checkContainerCount(req.container_requests.length);
  for (const c of req.container_requests) {
    // Per container: kubelet offers the same available units to each.
    checkIds(c.available_deviceIDs, advertised, resource, new Set());
    const available = new Set(c.available_deviceIDs);
    const must = new Set<string>();
    for (const id of c.must_include_deviceIDs) {
      if (!available.has(id))
        throw invalid(`must-include device ${clip(id)} is not among the available ones`);
      if (must.has(id)) throw invalid(`device ${clip(id)} is listed twice`);
      must.add(id);
    }
    const size = c.allocation_size;
    if (!Number.isSafeInteger(size) || size < 1 || size > available.size || size < must.size) {
      throw invalid(
        `allocation size ${size} must be 1..${available.size} (the available units) and at least the ${must.size} must-include ones`,
      );
    }
  }
}
