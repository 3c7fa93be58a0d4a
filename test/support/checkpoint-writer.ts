// A process that does nothing but change the vGPU checkpoint, op after op, printing `ack <k>` once
// op k is durable, so a test can kill -9 it at any point and check what a restart recovers. The ops
// are a pure function of k (applyOp), so the test knows the state after every acknowledged op.
//   node --import tsx test/support/checkpoint-writer.ts <dir> <compact bytes>
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpoint } from '../../node-agent/device-plugin/checkpoint.ts';
import type { ContainerAllocation } from '../../node-agent/device-plugin/matcher.ts';

export const NODE = 'node-a';

export function allocationFor(i: number): ContainerAllocation {
  return {
    podUID: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    namespace: 'ns',
    podName: `pod-${i}`,
    container: 'main',
    shares: [{ index: i % 4, core: 2, memoryMiB: 64, uuid: `GPU-${i % 4}` }],
    request: { core: 2, memory: 1 },
    deviceIds: { core: [`GPU-${i % 4}-core-${i}`] },
    allocatedAtMs: 1000 + i,
  };
}

export type Op = { kind: 'put'; allocation: ContainerAllocation } | { kind: 'sweep' };

/**
 * Op k on `state` (keyed `<uid>/<container>`): every 50th frees a tenth of the allocations and
 * writes a snapshot, as the sweep does; every 5th adds the memory IDs of the previous allocation,
 * as a container's second Allocate does; the rest allocate a new container.
 */
export function applyOp(state: Map<string, ContainerAllocation>, k: number): Op {
  if (k % 50 === 49) {
    for (const [key, a] of state) if (a.allocatedAtMs % 10 === 0) state.delete(key);
    return { kind: 'sweep' };
  }
  const allocation = allocationFor(k % 5 === 4 ? k - 1 : k);
  if (k % 5 === 4) allocation.deviceIds.memory = [`GPU-${(k - 1) % 4}-memory-${k - 1}`];
  state.set(`${allocation.podUID}/${allocation.container}`, allocation);
  return { kind: 'put', allocation };
}

async function main(dir: string, compactBytes: number): Promise<void> {
  const checkpoint = new Checkpoint(dir, Date.now, compactBytes);
  const state = new Map<string, ContainerAllocation>();
  const all = () => [...state.values()];
  for (let k = 0; ; k++) {
    const op = applyOp(state, k);
    if (op.kind === 'sweep') await checkpoint.save(NODE, all());
    else await checkpoint.record(NODE, op.allocation, all);
    // Pipes are synchronous on Linux: the line is out before the next op starts.
    process.stdout.write(`ack ${k}\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  void main(process.argv[2]!, Number(process.argv[3]));
}
