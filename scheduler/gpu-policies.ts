// The vGPU placement policies (`--gpu-policy`), one object each, chosen once when the extender
// starts: the verbs ask the chosen object and never branch on the policy's name. Each answers the
// three questions the verbs put — does the pod fit the node (filter, and again at bind), how well
// does each candidate suit it (prioritize), and which GPUs does it get (bind). kube-scheduler's
// scheduler-plugins choose a scoring strategy the same way, once (noderesourcetopology's
// getScoringStrategyFunction).
import type { GpuDevice, GpuShare } from '../contracts/index.ts';
import { fgdCosts, fgdPlace, fgdScores } from './core/vgpu-fit/fgd.ts';
import { fitPod, type GpuFit, type GpuPolicy } from './core/vgpu-fit/fit.ts';
import type { RecentRequests } from './core/vgpu-fit/recent-mix.ts';
import type { PodGpuRequest } from './core/vgpu-fit/request.ts';
import type { GpuLedger } from './gpu-ledger.ts';

/** A candidate as the policies see it: its name and GPU inventory. */
export interface GpuNode {
  name: string;
  gpus: readonly GpuDevice[];
}

export interface GpuPlacementPolicy {
  readonly name: GpuPolicy;
  /** Whether the node's free GPUs take the pod, and with which shares (or why not). */
  fit(node: GpuNode, request: PodGpuRequest): GpuFit;
  /** Each candidate's GPU score, 0..10 (higher is better); NaN where the pod does not fit. */
  gpuScores(nodes: readonly GpuNode[], request: PodGpuRequest): number[];
  /** The shares the pod gets on the bind's node, given the fit that said the node takes it. */
  place(node: GpuNode, request: PodGpuRequest, fit: GpuFit & { ok: true }): Record<string, GpuShare[]>;
}

/**
 * binpack: shares go to the GPU they fill most, and nodes whose GPUs end up fullest score best;
 * spread: the emptiest GPU, and the emptiest nodes score best.
 */
function fillPolicy(name: 'binpack' | 'spread', ledger: GpuLedger): GpuPlacementPolicy {
  const fit = (node: GpuNode, request: PodGpuRequest) =>
    fitPod(ledger.free(node.name, node.gpus), request, name);
  return {
    name,
    fit,
    gpuScores: (nodes, request) =>
      nodes.map((node) => {
        const f = fit(node, request);
        if (!f.ok) return Number.NaN;
        return (name === 'binpack' ? f.fill : 1 - f.fill) * 10;
      }),
    place: (_node, _request, f) => f.containers,
  };
}

/**
 * fgd: every candidate is placed by the fragmentation rule (core/vgpu-fit/fgd.ts, one scratch fleet
 * of the candidates, measured against the recent request mix); the cheapest scores 10, costlier
 * ones less (fgdScores). Whether a node fits is the same fit check as binpack's, and at bind the
 * shares are the ones the same rule chose in prioritize (the choice inside a node depends only on
 * the node and the mix); should the rule find nothing where the fit found room, the fit's stand.
 */
function fgdPolicy(ledger: GpuLedger, mix: RecentRequests): GpuPlacementPolicy {
  const fgdNode = (node: GpuNode) => ({ gpus: node.gpus, used: ledger.usage(node.name) });
  return {
    name: 'fgd',
    fit: (node, request) => fitPod(ledger.free(node.name, node.gpus), request, 'fgd'),
    gpuScores: (nodes, request) => {
      const costs = fgdCosts(nodes.map(fgdNode), request, mix.model());
      const scores = fgdScores(costs);
      return scores.map((score, i) => (Number.isNaN(costs[i]) ? Number.NaN : score));
    },
    place: (node, request, fit) => {
      const [placed] = fgdPlace([fgdNode(node)], request, mix.model());
      return placed?.ok ? placed.containers : fit.containers;
    },
  };
}

export function gpuPlacementPolicy(
  name: GpuPolicy,
  ledger: GpuLedger,
  mix: RecentRequests,
): GpuPlacementPolicy {
  return name === 'fgd' ? fgdPolicy(ledger, mix) : fillPolicy(name, ledger);
}
