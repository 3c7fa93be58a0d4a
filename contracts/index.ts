// The shared contracts: every string that crosses a component boundary is spelled in this folder.
export * from './agent-api.ts';
export * from './annotations.ts';
export * from './controller.ts';
export * from './extender-api.ts';
export * from './figures.ts';
export * from './gpu-inventory.ts';
export * from './metrics.ts';
export * from './probes.ts';
export * from './node-metrics.ts';
export * from './resources.ts';
export * from './time.ts';
export * from './vgpu-config.ts';
export * from './vgpu-pod.ts';
export * from './sync-record.ts';
export * from './crane.ts';
