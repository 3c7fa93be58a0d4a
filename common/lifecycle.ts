// How every loadwise process stops: on SIGTERM or SIGINT, close what it serves and exit 0, within a
// grace period even if something hangs (kubelet sends SIGKILL after its own grace period).
import type { Logger } from './log.ts';

export const SHUTDOWN_GRACE_MS = 1500;

/**
 * `stop` gets the signal that asked for it; `onTimeout` runs when the grace period ran out first
 * (a last word before the forced exit).
 */
export function exitOnSignals(
  logger: Logger,
  stop: (signal: NodeJS.Signals) => Promise<void>,
  graceMs = SHUTDOWN_GRACE_MS,
  onTimeout: (signal: NodeJS.Signals) => void = () => undefined,
): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.warn('did not close in time; exiting anyway');
      onTimeout(signal);
      process.exit(0);
    }, graceMs).unref();
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while closing');
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
