// What every placement policy of the simulator looks like.
import { type PreparedTask } from '../../scheduler/core/placement/filter.ts';
import { type GpuFleet } from '../../scheduler/core/placement/fleet.ts';
import { type FragIndex } from '../../scheduler/core/placement/fragmentation.ts';
import { type Rng } from '../rng.ts';
import { type TaskRequest } from '../../scheduler/core/placement/task.ts';

export interface Choice {
  readonly node: number;
  /** GPU indexes inside the node. */
  readonly gpus: readonly number[];
}

export interface PolicyContext {
  readonly fleet: GpuFleet;
  readonly frag: FragIndex;
  readonly rng: Rng;
  /** The trace: the mix of requests seen, for policies that learn their own target workload. */
  readonly tasks: readonly TaskRequest[];
}

export interface Policy {
  /** The node and GPUs for the task, or null when no node can host it. */
  place(task: PreparedTask): Choice | null;
  /** Told after the simulator applied a choice, for policies that keep their own state. */
  placed?(task: PreparedTask, choice: Choice): void;
}

export type PolicyFactory = (ctx: PolicyContext) => Policy;
