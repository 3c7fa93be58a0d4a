// The controller's cluster-wide "synced up to" record: after every sync cycle it says up to which
// measurement time the figures annotated on the Nodes are known to be current (within
// --min-change), except on the nodes it names. The controller rewrites a figure only when it moved,
// so a Node's annotation timestamp alone cannot tell the extender that a quiet node was looked at a
// moment ago; this one small write per cycle does, for every node at once, without a PATCH per node.
import { formatRfc3339, parseRfc3339 } from './time.ts';

/** The coordination.k8s.io/v1 Lease (in the controller's Lease namespace) that carries the record. */
export const SYNC_RECORD_LEASE_NAME = 'loadwise-sync';
/** The Lease annotation holding the record: `<RFC 3339 time>` or `<RFC 3339 time>;<node>,<node>...`. */
export const SYNCED_UP_TO_ANNOTATION = 'loadwise.io/synced-up-to';

/**
 * More unconfirmed nodes than this and the record is not written (it would stop being small);
 * the extender then goes by the annotation timestamps alone, as without a record.
 */
export const MAX_UNCONFIRMED_NODES = 500;

export interface SyncRecord {
  /** Every node's annotated figures match its agent's measurement of this time (epoch ms, whole seconds)... */
  syncedUpToMs: number;
  /** ...except these nodes' (agent unreachable, PATCH failed). */
  unconfirmed: string[];
}

// A DNS-1123 subdomain, which every Node name is: no ',' or ';' can occur in one.
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function encodeSyncRecord(record: SyncRecord): string {
  const time = formatRfc3339(record.syncedUpToMs);
  return record.unconfirmed.length === 0 ? time : `${time};${[...record.unconfirmed].sort().join(',')}`;
}

export type SyncRecordDecode = { ok: true; record: SyncRecord } | { ok: false; error: string };

/** Strict decode; never throws. */
export function decodeSyncRecord(text: string): SyncRecordDecode {
  const semi = text.indexOf(';');
  const timeText = semi < 0 ? text : text.slice(0, semi);
  const syncedUpToMs = parseRfc3339(timeText);
  if (syncedUpToMs === undefined)
    return { ok: false, error: `"${timeText.slice(0, 40)}" is not an RFC 3339 time` };
  const unconfirmed = semi < 0 ? [] : text.slice(semi + 1).split(',');
  if (unconfirmed.length > MAX_UNCONFIRMED_NODES)
    return { ok: false, error: `${unconfirmed.length} unconfirmed nodes, at most ${MAX_UNCONFIRMED_NODES}` };
  const bad = unconfirmed.find((n) => !NODE_NAME.test(n));
  if (bad !== undefined) return { ok: false, error: `"${bad.slice(0, 40)}" is not a node name` };
  return { ok: true, record: { syncedUpToMs, unconfirmed } };
}
