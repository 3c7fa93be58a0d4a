// The Node annotations the extender benchmarks give their nodes, as the controller writes them:
// every load figure, the hot value and (on GPU nodes) the GPU inventory. Shared by the in-cache
// benchmark (bench-server.ts) and the replay's API-server double (replay/cluster.ts).
import {
  encodeCount,
  encodeFraction,
  encodeGpuInventory,
  GPU_INVENTORY_ANNOTATION,
  NODE_FIGURES,
} from '../../contracts/index.ts';

/** Node `i`'s annotations, dated `at` (ms); `gpus` A100s with NVLink between all, or none. */
export function benchNodeAnnotations(i: number, at: number, gpus: number): Record<string, string> {
  const annotations: Record<string, string> = {};
  NODE_FIGURES.forEach((figure, f) => {
    annotations[`loadwise.io/${figure}`] = encodeFraction(((i * 7 + f * 13) % 90) / 100, at);
  });
  annotations['loadwise.io/node_hot_value'] = encodeCount(i % 3, at);
  if (gpus > 0) {
    annotations[GPU_INVENTORY_ANNOTATION] = encodeGpuInventory({
      gpus: Array.from({ length: gpus }, (_, g) => ({
        index: g,
        uuid: `GPU-${i}-${g}`,
        model: 'A100',
        memoryMiB: 81920,
        mig: false,
        healthy: true,
        links: Array.from({ length: gpus }, (_, h) => (g === h ? 'X' : 'NV12')),
      })),
    });
  }
  return annotations;
}
