// GPUs from a file, for local mode, tests and machines without nvidia-smi. They report like real
// ones: utilisation and memory follow what loadwise has allocated on them.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parseYamlDocument } from '../../common/yaml-file.ts';
import type { GpuDevice } from '../../contracts/index.ts';
import type { GpuProvider, GpuSnapshot } from './provider.ts';

const Link = Type.String({ pattern: '^(X|NV\\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$' });
const InventoryFile = Type.Object(
  {
    apiVersion: Type.Literal('loadwise.io/v1alpha1'),
    kind: Type.Literal('GpuInventory'),
    gpus: Type.Array(
      Type.Object(
        {
          model: Type.String({ minLength: 1, maxLength: 128 }),
          memoryMiB: Type.Integer({ minimum: 1 }),
          count: Type.Integer({ minimum: 1, maximum: 64 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 64 },
    ),
    links: Type.Optional(Type.Array(Type.Array(Link, { maxItems: 64 }), { maxItems: 64 })),
    idleUtilization: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
type InventoryFile = Static<typeof InventoryFile>;
const validate = new Ajv({ strict: true }).compile<InventoryFile>(InventoryFile);

/** What loadwise has allocated on each GPU, by index: compute in hundredths, memory in MiB. */
export type Allocations = () => ReadonlyMap<number, { core: number; memoryMiB: number }>;

/** Share of an allocation a simulated workload keeps busy. */
const BUSY_PER_ALLOCATED = 0.8;

/** A stable UUID per node and index, so a restarted agent reports the same GPUs. */
function simulatedUuid(node: string, index: number): string {
  const h = createHash('sha1').update(`${node}/${index}`).digest('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function parseInventoryFile(
  text: string,
  node: string,
  origin = 'GPU inventory',
): { devices: GpuDevice[]; idle: number } {
  const doc = parseYamlDocument(text, validate, origin);
  const devices: GpuDevice[] = [];
  for (const group of doc.gpus) {
    for (let i = 0; i < group.count; i++) {
      const index = devices.length;
      devices.push({
        index,
        uuid: simulatedUuid(node, index),
        model: group.model,
        memoryMiB: group.memoryMiB,
        mig: false,
        healthy: true,
        links: [],
      });
    }
  }
  if (devices.length > 64) throw new Error(`${origin}: more than 64 GPUs`);
  if (doc.links) {
    const n = devices.length;
    if (doc.links.length !== n || doc.links.some((row, i) => row.length !== n || row[i] !== 'X')) {
      throw new Error(`${origin}: links must be a ${n}x${n} matrix with X on the diagonal`);
    }
    doc.links.forEach((row, i) => (devices[i]!.links = row));
  }
  return { devices, idle: doc.idleUtilization ?? 0 };
}

export class SimulatedProvider implements GpuProvider {
  readonly name = 'simulated';
  private readonly healthy = new Map<number, boolean>();

  constructor(
    private readonly devices: GpuDevice[],
    private readonly idle: number,
    private readonly allocations: Allocations = () => new Map(),
  ) {}

  static async fromFile(path: string, node: string, allocations?: Allocations): Promise<SimulatedProvider> {
    const { devices, idle } = parseInventoryFile(await readFile(path, 'utf8'), node, path);
    return new SimulatedProvider(devices, idle, allocations);
  }

  /** Tests and local mode take a GPU off the bus and put it back. */
  setHealthy(index: number, healthy: boolean): void {
    this.healthy.set(index, healthy);
  }

  async read(): Promise<GpuSnapshot> {
    const allocated = this.allocations();
    const devices = this.devices.map((d) => ({ ...d, healthy: this.healthy.get(d.index) ?? true }));
    const usage = new Map(
      devices.map((d) => {
        const a = allocated.get(d.index);
        return [
          d.index,
          {
            utilization: Math.min(1, this.idle + ((a?.core ?? 0) / 100) * BUSY_PER_ALLOCATED),
            memoryUsedMiB: Math.min(d.memoryMiB, Math.round((a?.memoryMiB ?? 0) * BUSY_PER_ALLOCATED)),
          },
        ] as const;
      }),
    );
    return { devices, usage, problems: [] };
  }
}
