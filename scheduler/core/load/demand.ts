// What a pod is expected to add to a node's real load: max(request, limit) per resource, the way
// the kubelet sizes a pod (sum of app containers, at least the largest init container, plus overhead).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '../../../common/quantity.ts';

export interface PodDemand {
  cpuCores: number;
  memoryBytes: number;
}

/**
 * A container that declares neither request nor limit still runs; count it as a small one rather
 * than free (Koordinator's estimator uses the same defaults).
 */
export const BEST_EFFORT_DEMAND: PodDemand = { cpuCores: 0.25, memoryBytes: 200 * 1024 * 1024 };

function quantity(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : 0;
  if (typeof value !== 'string') return 0;
  const parsed = parseQuantity(value);
  return parsed !== undefined && parsed > 0 ? parsed : 0;
}

function containerDemand(container: V1Container): PodDemand {
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const pick = (name: string, fallback: number): number => {
    const r = quantity(requests[name]);
    const l = quantity(limits[name]);
    return r === 0 && l === 0 ? fallback : Math.max(r, l);
  };
  return {
    cpuCores: pick('cpu', BEST_EFFORT_DEMAND.cpuCores),
    memoryBytes: pick('memory', BEST_EFFORT_DEMAND.memoryBytes),
  };
}

/** Never throws: a malformed quantity counts as absent. */
export function podDemand(pod: V1Pod): PodDemand {
  const spec = pod.spec;
  const sum: PodDemand = { cpuCores: 0, memoryBytes: 0 };
  for (const c of spec?.containers ?? []) {
    const d = containerDemand(c);
    sum.cpuCores += d.cpuCores;
    sum.memoryBytes += d.memoryBytes;
  }
  for (const c of spec?.initContainers ?? []) {
    const d = containerDemand(c);
    sum.cpuCores = Math.max(sum.cpuCores, d.cpuCores);
    sum.memoryBytes = Math.max(sum.memoryBytes, d.memoryBytes);
  }
  sum.cpuCores += quantity(spec?.overhead?.cpu);
  sum.memoryBytes += quantity(spec?.overhead?.memory);
  return sum;
}
