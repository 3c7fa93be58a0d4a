// Writes the cluster-wide "synced up to" record (contracts/sync-record.ts) after a sync cycle: one
// merge patch of a small Lease per cycle, created on first use, instead of a PATCH per quiet node.
import { CoordinationV1Api, type KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { classifyApiError, errorMessage, requestOptions, reuseConnections } from '../common/kube.ts';
import type { Logger } from '../common/log.ts';
import {
  encodeSyncRecord,
  MAX_UNCONFIRMED_NODES,
  SYNC_RECORD_LEASE_NAME,
  SYNCED_UP_TO_ANNOTATION,
  type SyncRecord,
} from '../contracts/sync-record.ts';

/** Nodes of one cycle: when each confirmed node was measured, and which could not be confirmed. */
export class CycleConfirmations {
  private oldestMs = Number.POSITIVE_INFINITY;
  readonly unconfirmed: string[] = [];

  confirmed(measuredAtMs: number): void {
    this.oldestMs = Math.min(this.oldestMs, measuredAtMs);
  }

  failed(node: string): void {
    this.unconfirmed.push(node);
  }

  /**
   * The record this cycle supports, or undefined: no node confirmed, or too many failed for a small
   * record (the extender then goes by annotation timestamps alone, which is always safe).
   */
  record(): SyncRecord | undefined {
    if (!Number.isFinite(this.oldestMs) || this.unconfirmed.length > MAX_UNCONFIRMED_NODES) return undefined;
    // Annotations carry whole seconds; never claim a later instant than was measured.
    return { syncedUpToMs: Math.floor(this.oldestMs / 1000) * 1000, unconfirmed: [...this.unconfirmed] };
  }
}

export class SyncRecordWriter {
  private readonly api: CoordinationV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.api = reuseConnections(kubeConfig).makeApiClient(CoordinationV1Api);
  }

  /** Never throws: a record that cannot be written only delays releases until the next cycle. */
  async write(record: SyncRecord): Promise<boolean> {
    const annotations = { [SYNCED_UP_TO_ANNOTATION]: encodeSyncRecord(record) };
    try {
      await this.api.patchNamespacedLease(
        { name: SYNC_RECORD_LEASE_NAME, namespace: this.namespace, body: { metadata: { annotations } } },
        requestOptions(this.timeoutMs, PatchStrategy.MergePatch),
      );
      return true;
    } catch (err) {
      if (classifyApiError(err) !== 'not_found') {
        this.logger.warn({ err: errorMessage(err) }, 'synced-up-to record not written');
        return false;
      }
    }
    try {
      await this.api.createNamespacedLease(
        {
          namespace: this.namespace,
          body: { metadata: { name: SYNC_RECORD_LEASE_NAME, namespace: this.namespace, annotations } },
        },
        requestOptions(this.timeoutMs),
      );
      return true;
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'synced-up-to record not created');
      return false;
    }
  }
}
