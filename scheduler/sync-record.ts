// The extender's copy of the controller's "synced up to" record (contracts/sync-record.ts), kept by
// a watch on its one Lease. The record only ever releases pending bindings sooner, so whatever is
// wrong with it (missing, garbled, dated ahead of this clock) makes the extender fall back to the
// annotation timestamps alone: a forged record cannot buy a node more pods than its figures allow.
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../common/clock.ts';
import { requestOptions, reuseConnections } from '../common/kube.ts';
import type { Logger } from '../common/log.ts';
import { Reflector } from '../common/reflector.ts';
import {
  decodeSyncRecord,
  SYNC_RECORD_LEASE_NAME,
  SYNCED_UP_TO_ANNOTATION,
} from '../contracts/sync-record.ts';

/** A record dated further ahead of this clock than this is not believed (clock skew allowance). */
export const SYNC_RECORD_MAX_AHEAD_MS = 30_000;

export interface ConfirmedRecord {
  syncedUpToMs: number;
  unconfirmed: ReadonlySet<string>;
}

/** Decodes a Lease's record; undefined (with why) when there is none to believe. */
export function recordOfLease(lease: V1Lease | undefined): ConfirmedRecord | string {
  const text = lease?.metadata?.annotations?.[SYNCED_UP_TO_ANNOTATION];
  if (text === undefined) return 'no record';
  const decoded = decodeSyncRecord(text);
  if (!decoded.ok) return decoded.error;
  return { syncedUpToMs: decoded.record.syncedUpToMs, unconfirmed: new Set(decoded.record.unconfirmed) };
}

/**
 * When the controller last confirmed `node`'s figures, per the record: NaN when there is no
 * record, the node is named unconfirmed, or the record is dated too far ahead of `nowMs`; never
 * later than `nowMs`.
 */
export function confirmedAtMs(record: ConfirmedRecord | undefined, node: string, nowMs: number): number {
  if (!record || record.unconfirmed.has(node)) return Number.NaN;
  if (record.syncedUpToMs > nowMs + SYNC_RECORD_MAX_AHEAD_MS) return Number.NaN;
  return Math.min(record.syncedUpToMs, nowMs);
}

export class SyncRecordWatch {
  private readonly reflector: Reflector<V1Lease>;
  private record: ConfirmedRecord | undefined;

  constructor(
    kubeConfig: KubeConfig,
    namespace: string,
    private readonly clock: Clock,
    apiTimeoutMs: number,
    logger: Logger,
  ) {
    const api = reuseConnections(kubeConfig).makeApiClient(CoordinationV1Api);
    const fieldSelector = `metadata.name=${SYNC_RECORD_LEASE_NAME}`;
    this.reflector = new Reflector<V1Lease>({
      kubeConfig,
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      fieldSelector,
      list: () =>
        api.listNamespacedLease({ namespace, fieldSelector }, requestOptions(Math.max(apiTimeoutMs, 60_000))),
      logger,
      onEvent: (type, lease) => {
        const next = type === 'DELETED' ? 'deleted' : recordOfLease(lease);
        if (typeof next === 'string') {
          if (this.record) logger.warn({ why: next }, 'synced-up-to record dropped');
          this.record = undefined;
        } else this.record = next;
      },
    });
  }

  start(): void {
    this.reflector.start();
  }

  stop(): Promise<void> {
    return this.reflector.stop();
  }

  confirmedAt(node: string, nowMs = this.clock.now()): number {
    return confirmedAtMs(this.record, node, nowMs);
  }
}
