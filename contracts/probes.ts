// The operational paths every loadwise HTTP server serves, the same on each: the deploy manifests'
// probes, Prometheus' scrape configs and the servers read them from here.
export const PROBE_PATHS = {
  /** Liveness: 200 while the process serves HTTP; never waits on caches or the API server. */
  healthz: '/healthz',
  /** Readiness: 200 once the server can do its job, 503 with the reason before. */
  readyz: '/readyz',
} as const;

/** Prometheus text exposition of the server's own metrics (the agent's also holds the node's figures). */
export const METRICS_PATH = '/metrics';
