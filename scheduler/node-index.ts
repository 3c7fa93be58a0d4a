// The extender's view of each node: its figures decoded once per Node update (not once per
// scheduling call) and its allocatable CPU and memory.
import type { V1Node } from '@kubernetes/client-node';
import { decodeGpuInventory, GPU_INVENTORY_ANNOTATION, type GpuDevice } from '../contracts/index.ts';
import { parseQuantity } from '../common/quantity.ts';
import type { PodDemand } from './core/load/demand.ts';
import { type DecodeOptions, decodeNodeFigures, type NodeFigures } from './core/load/node-figures.ts';

export interface NodeEntry {
  name: string;
  resourceVersion: string | undefined;
  figures: NodeFigures;
  allocatable: PodDemand | undefined;
  /** The node's GPUs as the controller published them; empty without (or with a garbled) inventory. */
  gpus: GpuDevice[];
}

export function allocatableOf(node: V1Node): PodDemand | undefined {
  const cpu = parseQuantity(String(node.status?.allocatable?.cpu ?? ''));
  const memory = parseQuantity(String(node.status?.allocatable?.memory ?? ''));
  return cpu && memory && cpu > 0 && memory > 0 ? { cpuCores: cpu, memoryBytes: memory } : undefined;
}

function gpusOf(node: V1Node): GpuDevice[] {
  const text = node.metadata?.annotations?.[GPU_INVENTORY_ANNOTATION];
  if (text === undefined) return [];
  const decoded = decodeGpuInventory(text);
  return decoded.ok ? decoded.inventory.gpus : [];
}

export function nodeEntry(node: V1Node, decode: DecodeOptions): NodeEntry {
  return {
    name: node.metadata?.name ?? '',
    resourceVersion: node.metadata?.resourceVersion,
    figures: decodeNodeFigures(node.metadata?.annotations, decode),
    allocatable: allocatableOf(node),
    gpus: gpusOf(node),
  };
}

export class NodeIndex {
  private readonly entries = new Map<string, NodeEntry>();

  /** `decode`: whether crane's bare keys are read too, and in which zone. */
  constructor(private readonly decode: DecodeOptions = { craneKeys: false }) {}

  upsert(node: V1Node): NodeEntry {
    const entry = nodeEntry(node, this.decode);
    this.entries.set(entry.name, entry);
    return entry;
  }

  delete(name: string): void {
    this.entries.delete(name);
  }

  get(name: string): NodeEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * An entry for a Node object that came in the request (nodeCacheCapable off): reuse the cached
   * decode when the object is the version already seen.
   */
  fromObject(node: V1Node): NodeEntry {
    const name = node.metadata?.name ?? '';
    const cached = this.entries.get(name);
    const version = node.metadata?.resourceVersion;
    if (cached && version !== undefined && cached.resourceVersion === version) return cached;
    return nodeEntry(node, this.decode);
  }

  get size(): number {
    return this.entries.size;
  }
}
