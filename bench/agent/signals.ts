// How the agent benchmark drives its child (agent/day.ts) without an IPC channel: each signal is
// answered with one JSON line of memory figures on the child's stdout.

/** Report memory now. */
export const MEMORY_SIGNAL = 'SIGUSR2';
/** Take the next sampling tick (where the agent trims its heap), then report memory. */
export const SAMPLE_SIGNAL = 'SIGWINCH';
