// The GPU placement core: pure functions and plain state, no I/O and no clocks. The extender's
// filter/prioritize/bind and the trace simulator use the same entry points.
export { describeMisfit, Misfit, misfit, prepareTask, type PreparedTask } from './filter.ts';
export { GpuFleet, type NodeSpec } from './fleet.ts';
export { FragIndex } from './fragmentation.ts';
export {
  cpuPerGpuMilli,
  DEFAULT_PLACEMENT_OPTIONS,
  GpuPlacer,
  type GpuPlacement,
  modelPressure,
  type NodeEvaluation,
  type PlacementOptions,
  type WorkloadModel,
  workloadModel,
} from './placement.ts';
export {
  acceptsModel,
  invalidTaskReason,
  parseGpuModels,
  type TaskRequest,
  TaskKind,
  taskKind,
  totalGpuMilli,
} from './task.ts';
export { GPU_MILLI, milliFromVgpuCore, vgpuCoreFromMilli } from './units.ts';
export { type TargetShape, targetWorkload } from './workload.ts';
