// API discovery as kube-apiserver serves it, derived from RESOURCES so that what discovery announces
// is exactly what the double serves. kubectl (and any client-go program) reads discovery before its
// first request: without it, `kubectl get nodes` fails with "the server could not find the
// requested resource". Two forms, chosen by the Accept header as the real server does:
// - aggregated (apidiscovery.k8s.io/v2, one document per /api and /apis), which kubectl ≥ 1.26 asks
//   for first;
// - legacy (APIVersions, APIGroupList, APIGroup, APIResourceList), for older clients and any client
//   that accepts only application/json.
import type { Json, JsonObject } from './patch.ts';
import { RESOURCES, type ResourceType } from './resources.ts';

/** What the double supports on every resource (no deletecollection: it does not serve that). */
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** Singular names, short names and categories as kube-apiserver announces them. */
const NAMES: Readonly<Record<string, { singular: string; short?: string[]; categories?: string[] }>> = {
  nodes: { singular: 'node', short: ['no'] },
  namespaces: { singular: 'namespace', short: ['ns'] },
  pods: { singular: 'pod', short: ['po'], categories: ['all'] },
  events: { singular: 'event', short: ['ev'] },
  leases: { singular: 'lease' },
  endpointslices: { singular: 'endpointslice' },
};

/** Subresources the double serves, per plural; their verbs. */
const SUBRESOURCES: Readonly<Record<string, ReadonlyArray<{ name: string; kind: string; verbs: string[] }>>> =
  {
    nodes: [{ name: 'status', kind: 'Node', verbs: ['get', 'patch', 'update'] }],
    namespaces: [{ name: 'status', kind: 'Namespace', verbs: ['get', 'patch', 'update'] }],
    pods: [
      { name: 'binding', kind: 'Binding', verbs: ['create'] },
      { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    ],
  };

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** True when the client asked for aggregated discovery v2 (kubectl lists it first, then JSON). */
export function wantsAggregated(accept: string): boolean {
  return accept
    .split(',')
    .some((range) => hasParams(range, { g: 'apidiscovery.k8s.io', v: 'v2', as: 'APIGroupDiscoveryList' }));
}

/** True when `range` (one media range of an Accept header) carries every parameter in `params`. */
export function hasParams(range: string, params: Readonly<Record<string, string>>): boolean {
  const [type, ...rest] = range.split(';').map((p) => p.trim());
  if (type !== 'application/json') return false;
  const got = new Map(rest.map((p) => p.split('=').map((s) => s.trim()) as [string, string]));
  return Object.entries(params).every(([k, v]) => got.get(k) === v);
}

interface GroupVersion {
  group: string;
  version: string;
  resources: ResourceType[];
}

function groupVersions(core: boolean): GroupVersion[] {
  const out: GroupVersion[] = [];
  for (const r of RESOURCES) {
    if ((r.group === '') !== core) continue;
    let gv = out.find((g) => g.group === r.group && g.version === r.version);
    if (!gv) out.push((gv = { group: r.group, version: r.version, resources: [] }));
    gv.resources.push(r);
  }
  return out;
}

const gvString = (g: { group: string; version: string }) => (g.group ? `${g.group}/${g.version}` : g.version);

function legacyResources(gv: GroupVersion): JsonObject {
  const resources: Json[] = [];
  for (const r of gv.resources) {
    const names = NAMES[r.plural];
    const entry: JsonObject = {
      name: r.plural,
      singularName: names?.singular ?? r.kind.toLowerCase(),
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
    };
    if (names?.short) entry.shortNames = names.short;
    if (names?.categories) entry.categories = names.categories;
    resources.push(entry);
    for (const sub of SUBRESOURCES[r.plural] ?? []) {
      resources.push({
        name: `${r.plural}/${sub.name}`,
        singularName: '',
        namespaced: r.namespaced,
        kind: sub.kind,
        verbs: sub.verbs,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gvString(gv), resources };
}

function legacyGroup(name: string): JsonObject {
  const versions = groupVersions(false)
    .filter((g) => g.group === name)
    .map((g) => ({ groupVersion: gvString(g), version: g.version }));
  return { name, versions, preferredVersion: versions[0]! };
}

function aggregated(core: boolean): JsonObject {
  const groups = new Map<string, GroupVersion[]>();
  for (const gv of groupVersions(core)) groups.set(gv.group, [...(groups.get(gv.group) ?? []), gv]);
  const items = [...groups].map(([group, versions]) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: versions.map((gv) => ({
      version: gv.version,
      freshness: 'Current',
      resources: gv.resources.map((r) => {
        const names = NAMES[r.plural];
        const entry: JsonObject = {
          resource: r.plural,
          responseKind: { group: r.group, version: r.version, kind: r.kind },
          scope: r.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: names?.singular ?? r.kind.toLowerCase(),
          verbs: VERBS,
        };
        if (names?.short) entry.shortNames = names.short;
        if (names?.categories) entry.categories = names.categories;
        const subs = SUBRESOURCES[r.plural];
        if (subs) {
          entry.subresources = subs.map((s) => ({
            subresource: s.name,
            responseKind: { group: s.kind === 'Binding' ? '' : r.group, version: r.version, kind: s.kind },
            verbs: s.verbs,
          }));
        }
        return entry;
      }),
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

/**
 * The discovery document for `path`, or undefined when `path` is not a discovery path (then it is
 * a resource request, or a 404). `contentType` is what the real server labels it with.
 */
export function discovery(
  path: string,
  accept: string,
  serverAddress: string,
): { body: JsonObject; contentType: string } | undefined {
  const json = 'application/json';
  const parts = path.split('/').filter((p) => p.length > 0);
  if (parts.length === 1 && (parts[0] === 'api' || parts[0] === 'apis')) {
    const core = parts[0] === 'api';
    if (wantsAggregated(accept)) return { body: aggregated(core), contentType: AGGREGATED_CONTENT_TYPE };
    if (core) {
      return {
        body: {
          kind: 'APIVersions',
          versions: groupVersions(true).map((g) => g.version),
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
        },
        contentType: json,
      };
    }
    const names = [...new Set(groupVersions(false).map((g) => g.group))];
    return {
      body: { kind: 'APIGroupList', apiVersion: 'v1', groups: names.map(legacyGroup) },
      contentType: json,
    };
  }
  if (parts[0] === 'api' && parts.length === 2) {
    const gv = groupVersions(true).find((g) => g.version === parts[1]);
    return gv ? { body: legacyResources(gv), contentType: json } : undefined;
  }
  if (parts[0] === 'apis' && parts.length === 2) {
    if (!groupVersions(false).some((g) => g.group === parts[1])) return undefined;
    return { body: { kind: 'APIGroup', apiVersion: 'v1', ...legacyGroup(parts[1]!) }, contentType: json };
  }
  if (parts[0] === 'apis' && parts.length === 3) {
    const gv = groupVersions(false).find((g) => g.group === parts[1] && g.version === parts[2]);
    return gv ? { body: legacyResources(gv), contentType: json } : undefined;
  }
  return undefined;
}
