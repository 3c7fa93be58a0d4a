// The pods the extender benchmark schedules, shared by the client (bench.ts) and the server it
// starts (bench-server.ts) so both measure the same request.
import type { V1Pod } from '@kubernetes/client-node';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';

/** A CPU-only pod: 2 cores, 4 GiB. */
export const BENCH_POD: V1Pod = {
  metadata: { name: 'bench', namespace: 'default', uid: 'u-bench' },
  spec: { containers: [{ name: 'c', image: 'i', resources: { requests: { cpu: '2', memory: '4Gi' } } }] },
};

/** The same with 40 % of a GPU and 8 GiB of GPU memory. */
export const BENCH_VGPU_POD: V1Pod = {
  metadata: { name: 'bench-gpu', namespace: 'default', uid: 'u-bench-gpu' },
  spec: {
    containers: [
      {
        name: 'c',
        image: 'i',
        resources: {
          requests: { cpu: '2', memory: '4Gi' },
          limits: { [VGPU_CORE_RESOURCE]: '40', [VGPU_MEMORY_RESOURCE]: '32' },
        },
      },
    ],
  },
};
