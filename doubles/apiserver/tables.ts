// Server-side printing: the meta.k8s.io/v1 Table that kube-apiserver returns when a client asks for
// `application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` sends). The columns are the
// real server's for nodes, pods and namespaces (kubernetes/pkg/printers/internalversion); every
// other resource gets the server's default table, Name and Created At. Priority-1 columns are the
// ones `kubectl get -o wide` adds.
import { hasParams } from './discovery.ts';
import { type Json, type JsonObject, isObject } from './patch.ts';
import type { ResourceType } from './resources.ts';

export function wantsTable(accept: string): boolean {
  return accept.split(',').some((range) => hasParams(range, { as: 'Table', v: 'v1', g: 'meta.k8s.io' }));
}

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  description: string;
  priority?: number;
  cell: (o: JsonObject, nowMs: number) => Json;
}

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const text = (v: Json | undefined, otherwise = '<none>'): string =>
  typeof v === 'string' && v !== '' ? v : otherwise;

/** kubectl's duration.HumanDuration: the AGE column's "5m2s", "3h", "12d". */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / (24 * 365));
  return h < 24 * 365 * 8 ? `${y}y${Math.floor((h % (24 * 365)) / 24)}d` : `${y}y`;
}

function age(o: JsonObject, nowMs: number): string {
  const created = Date.parse(text(obj(o.metadata).creationTimestamp, ''));
  return Number.isNaN(created) ? '<unknown>' : humanDuration(nowMs - created);
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: (o) => text(obj(o.metadata).name, ''),
};
const AGE: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: age,
};

function nodeStatus(o: JsonObject): string {
  const ready = arr(obj(o.status).conditions)
    .map(obj)
    .find((c) => c.type === 'Ready');
  const state = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  return obj(o.spec).unschedulable === true ? `${state},SchedulingDisabled` : state;
}

function nodeRoles(o: JsonObject): string {
  const labels = obj(obj(o.metadata).labels);
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && typeof v === 'string' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function nodeAddress(o: JsonObject, type: string): string {
  const found = arr(obj(o.status).addresses)
    .map(obj)
    .find((a) => a.type === type);
  return text(found?.address);
}

const nodeInfo = (o: JsonObject, key: string) => text(obj(obj(o.status).nodeInfo)[key], '<unknown>');

const NODE_COLUMNS: Column[] = [
  NAME,
  { name: 'Status', type: 'string', description: 'The status of the node', cell: nodeStatus },
  { name: 'Roles', type: 'string', description: 'The roles of the node', cell: nodeRoles },
  AGE,
  {
    name: 'Version',
    type: 'string',
    description: 'Kubelet Version',
    cell: (o) => nodeInfo(o, 'kubeletVersion'),
  },
  wide('Internal-IP', 'List of internal IPs in this node', (o) => nodeAddress(o, 'InternalIP')),
  wide('External-IP', 'List of external IPs in this node', (o) => nodeAddress(o, 'ExternalIP')),
  wide('OS-Image', 'OS Image reported by the node', (o) => nodeInfo(o, 'osImage')),
  wide('Kernel-Version', 'Kernel Version reported by the node', (o) => nodeInfo(o, 'kernelVersion')),
  wide('Container-Runtime', 'Container Runtime Version', (o) => nodeInfo(o, 'containerRuntimeVersion')),
];

function wide(name: string, description: string, cell: Column['cell']): Column {
  return { name, type: 'string', description, priority: 1, cell };
}

/** The STATUS kubectl shows: a waiting or terminated container's reason wins over the phase. */
function podStatus(o: JsonObject): string {
  const status = obj(o.status);
  let reason = text(status.reason, text(status.phase, 'Pending'));
  for (const c of arr(status.containerStatuses).map(obj)) {
    const state = obj(c.state);
    const why = text(obj(state.waiting).reason, '') || text(obj(state.terminated).reason, '');
    if (why) reason = why;
  }
  return obj(o.metadata).deletionTimestamp ? 'Terminating' : reason;
}

function podReady(o: JsonObject): string {
  const statuses = arr(obj(o.status).containerStatuses).map(obj);
  return `${statuses.filter((c) => c.ready === true).length}/${arr(obj(o.spec).containers).length}`;
}

function podRestarts(o: JsonObject): string {
  const n = arr(obj(o.status).containerStatuses)
    .map(obj)
    .reduce((sum, c) => sum + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0);
  return String(n);
}

const POD_COLUMNS: Column[] = [
  NAME,
  { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod', cell: podReady },
  { name: 'Status', type: 'string', description: 'The aggregate status of the containers', cell: podStatus },
  {
    name: 'Restarts',
    type: 'string',
    description: 'The number of times the containers restarted',
    cell: podRestarts,
  },
  AGE,
  wide('IP', 'IP address allocated to the pod.', (o) => text(obj(o.status).podIP)),
  wide('Node', 'Name of the node the pod is assigned to.', (o) => text(obj(o.spec).nodeName)),
  wide('Nominated Node', 'Name of the node nominated for the pod.', (o) =>
    text(obj(o.status).nominatedNodeName),
  ),
  wide('Readiness Gates', 'Readiness gates of the pod.', (o) =>
    arr(obj(o.spec).readinessGates).length ? `0/${arr(obj(o.spec).readinessGates).length}` : '<none>',
  ),
];

const NAMESPACE_COLUMNS: Column[] = [
  NAME,
  {
    name: 'Status',
    type: 'string',
    description: 'The status of the namespace',
    cell: (o) => text(obj(o.status).phase, 'Active'),
  },
  AGE,
];

const DEFAULT_COLUMNS: Column[] = [
  NAME,
  {
    name: 'Created At',
    type: 'date',
    description:
      'CreationTimestamp is a timestamp representing the server time when this object was created.',
    cell: (o) => text(obj(o.metadata).creationTimestamp, ''),
  },
];

const COLUMNS: Readonly<Record<string, Column[]>> = {
  nodes: NODE_COLUMNS,
  pods: POD_COLUMNS,
  namespaces: NAMESPACE_COLUMNS,
};

/**
 * The Table for `objects` (one object for a get, the page for a list). `includeObject` is the
 * request's parameter: Metadata (the default) puts PartialObjectMetadata in each row, which kubectl
 * needs for its NAMESPACE column; Object the whole object; None nothing.
 */
export function toTable(
  type: ResourceType,
  objects: JsonObject[],
  listMetadata: JsonObject,
  includeObject: string | null,
  nowMs: number,
): JsonObject {
  const columns = COLUMNS[type.plural] ?? DEFAULT_COLUMNS;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMetadata,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const row: JsonObject = { cells: columns.map((c) => c.cell(o, nowMs)) };
      if (includeObject === 'Object') row.object = o;
      else if (includeObject !== 'None') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: obj(o.metadata),
        };
      }
      return row;
    }),
  };
}
