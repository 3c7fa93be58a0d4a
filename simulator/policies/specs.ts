// The largest node the artifact's scores normalise by (128 cores, 8 GPUs).
export const MAX_SPEC_CPU_MILLI = 128_000;
export const MAX_SPEC_GPU_MILLI = 8_000;
