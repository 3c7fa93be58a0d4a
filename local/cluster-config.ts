// configs/local-cluster.yaml: the shape of the embedded cluster `npm start` runs. Parsed strictly
// (unknown keys are typos, and a typo in a demo config should say so rather than be ignored).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parseDuration } from '../common/duration.ts';
import { parseYamlDocument } from '../common/yaml-file.ts';
import { parseQuantity } from '../common/quantity.ts';
import { VGPU_CORE_PER_GPU } from '../contracts/resources.ts';

const NAME = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const Duration = Type.String({ minLength: 1, maxLength: 32 });
const Quantity = Type.String({ minLength: 1, maxLength: 32 });

const GpuGroup = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 128 }),
    memoryMiB: Type.Integer({ minimum: 1 }),
    count: Type.Integer({ minimum: 1, maximum: 16 }),
  },
  { additionalProperties: false },
);

const SimNode = Type.Object(
  {
    name: Type.String({ pattern: NAME }),
    cpu: Type.Integer({ minimum: 1, maximum: 1024 }),
    memory: Quantity,
    gpus: Type.Optional(Type.Array(GpuGroup, { maxItems: 8 })),
    load: Type.Object(
      {
        base: Type.Number({ minimum: 0, maximum: 1 }),
        swing: Type.Number({ minimum: 0, maximum: 1 }),
        period: Duration,
        phase: Type.Optional(Duration),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const PodShape = Type.Object(
  {
    name: Type.String({ pattern: NAME }),
    weight: Type.Number({ exclusiveMinimum: 0 }),
    cpu: Quantity,
    memory: Quantity,
    busy: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    vgpuCore: Type.Optional(Type.Integer({ minimum: 1, maximum: 1600 })),
    vgpuMemory: Type.Optional(Type.Integer({ minimum: 1 })),
    gpuModel: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

const LocalClusterFile = Type.Object(
  {
    apiVersion: Type.Literal('loadwise.io/v1alpha1'),
    kind: Type.Literal('LocalCluster'),
    sampleInterval: Duration,
    syncPeriod: Duration,
    thisMachine: Type.Object(
      { include: Type.Boolean(), gpuInventory: Type.Optional(Type.String({ minLength: 1 })) },
      { additionalProperties: false },
    ),
    nodes: Type.Array(SimNode, { maxItems: 64 }),
    workload: Type.Object(
      {
        interval: Duration,
        lifetime: Duration,
        maxPods: Type.Integer({ minimum: 1, maximum: 10_000 }),
        pods: Type.Array(PodShape, { minItems: 1, maxItems: 32 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
type LocalClusterFile = Static<typeof LocalClusterFile>;
const validate = new Ajv({ strict: true, allErrors: false }).compile<LocalClusterFile>(LocalClusterFile);

export interface GpuGroupSpec {
  model: string;
  memoryMiB: number;
  count: number;
}

export interface SimNodeSpec {
  name: string;
  cpuCores: number;
  memoryBytes: number;
  gpus: GpuGroupSpec[];
  load: { base: number; swing: number; periodMs: number; phaseMs: number };
}

export interface PodShapeSpec {
  name: string;
  weight: number;
  cpuMilli: number;
  memoryBytes: number;
  busy: number;
  vgpuCore: number;
  vgpuMemory: number;
  gpuModel?: string;
}

export interface LocalClusterSpec {
  sampleIntervalMs: number;
  syncPeriodMs: number;
  thisMachine: { include: boolean; gpuInventory: string | 'none' | undefined };
  nodes: SimNodeSpec[];
  workload: { intervalMs: number; lifetimeMs: number; maxPods: number; pods: PodShapeSpec[] };
}

function duration(text: string, where: string, min = 1): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  if (ms < min) throw new Error(`${where}: must be at least ${min} ms, got "${text}"`);
  return ms;
}

function quantity(text: string, where: string): number {
  const q = parseQuantity(text);
  if (q === undefined || !(q > 0)) throw new Error(`${where}: not a positive quantity: "${text}"`);
  return q;
}

/** Parses the file's text; `baseDir` resolves relative inventory paths. Throws one readable line. */
export function parseLocalCluster(text: string, origin: string, baseDir: string): LocalClusterSpec {
  const doc = parseYamlDocument(text, validate, origin);
  const names = new Set<string>();
  const nodes = doc.nodes.map((n, i): SimNodeSpec => {
    const where = `${origin}: /nodes/${i}`;
    if (names.has(n.name)) throw new Error(`${where}/name: "${n.name}" appears twice`);
    names.add(n.name);
    if (n.load.base + n.load.swing > 1) throw new Error(`${where}/load: base + swing must not exceed 1`);
    return {
      name: n.name,
      cpuCores: n.cpu,
      memoryBytes: quantity(n.memory, `${where}/memory`),
      gpus: n.gpus ?? [],
      load: {
        base: n.load.base,
        swing: n.load.swing,
        periodMs: duration(n.load.period, `${where}/load/period`, 1000),
        phaseMs: n.load.phase === undefined ? 0 : duration(n.load.phase, `${where}/load/phase`, 0),
      },
    };
  });
  const pods = doc.workload.pods.map((p, i): PodShapeSpec => {
    const where = `${origin}: /workload/pods/${i}`;
    const core = p.vgpuCore ?? 0;
    if (core > VGPU_CORE_PER_GPU && core % VGPU_CORE_PER_GPU !== 0) {
      throw new Error(
        `${where}/vgpuCore: above ${VGPU_CORE_PER_GPU} it must be whole GPUs (a multiple of 100)`,
      );
    }
    if ((p.vgpuMemory !== undefined || p.gpuModel !== undefined) && core === 0) {
      throw new Error(`${where}: vgpuMemory and gpuModel need vgpuCore`);
    }
    return {
      name: p.name,
      weight: p.weight,
      cpuMilli: Math.round(quantity(p.cpu, `${where}/cpu`) * 1000),
      memoryBytes: quantity(p.memory, `${where}/memory`),
      busy: p.busy ?? 0.5,
      vgpuCore: core,
      vgpuMemory: p.vgpuMemory ?? 0,
      gpuModel: p.gpuModel,
    };
  });
  const inventory = doc.thisMachine.gpuInventory;
  return {
    sampleIntervalMs: duration(doc.sampleInterval, `${origin}: /sampleInterval`, 100),
    syncPeriodMs: duration(doc.syncPeriod, `${origin}: /syncPeriod`, 100),
    thisMachine: {
      include: doc.thisMachine.include,
      gpuInventory: inventory === undefined || inventory === 'none' ? inventory : resolve(baseDir, inventory),
    },
    nodes,
    workload: {
      intervalMs: duration(doc.workload.interval, `${origin}: /workload/interval`, 50),
      lifetimeMs: duration(doc.workload.lifetime, `${origin}: /workload/lifetime`, 1000),
      maxPods: doc.workload.maxPods,
      pods,
    },
  };
}

export async function loadLocalCluster(path: string): Promise<LocalClusterSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseLocalCluster(text, path, dirname(resolve(path)));
}
