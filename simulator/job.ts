// One unit of work for a worker: load (and cache) the inputs, run, return the result.
import { type NodeSpec } from '../scheduler/core/placement/fleet.ts';
import { type RunResult, simulate } from './run.ts';
import { loadNodes, loadPods, type TraceTask } from './trace/openb.ts';

export interface Job {
  readonly nodesPath: string;
  readonly podsPath: string;
  readonly trace: string;
  readonly policy: string;
  readonly seed: number;
}

const nodeCache = new Map<string, NodeSpec[]>();
const podCache = new Map<string, TraceTask[]>();

export function runJob(job: Job): RunResult {
  let nodes = nodeCache.get(job.nodesPath);
  if (!nodes) {
    nodes = loadNodes(job.nodesPath);
    nodeCache.set(job.nodesPath, nodes);
  }
  let pods = podCache.get(job.podsPath);
  if (!pods) {
    pods = loadPods(job.podsPath);
    podCache.set(job.podsPath, pods);
  }
  return simulate(nodes, pods, { trace: job.trace, policy: job.policy, seed: job.seed }, () =>
    performance.now(),
  );
}
