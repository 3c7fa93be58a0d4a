// An API-server double: real HTTP, kube-apiserver semantics for what loadwise uses. Code under test
// reaches it through @kubernetes/client-node exactly as it would reach a cluster, so the tests
// exercise the real client's serialisation, errors and watch handling.
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatRfc3339 } from '../../contracts/time.ts';
import {
  type Json,
  type JsonObject,
  PatchError,
  isObject,
  jsonPatch,
  mergePatch,
  strategicMergePatch,
} from './patch.ts';
import { discovery } from './discovery.ts';
import { type ResourceType, apiVersionOf, findResource, resourceId } from './resources.ts';
import { toTable, wantsTable } from './tables.ts';
import { type Matcher, fieldSelector, labelSelector } from './selectors.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One request as the double saw it; `user` is the bearer token (or basic-auth user) it carried. */
export interface RequestRecord {
  verb: Verb;
  resource: string;
  namespace: string;
  name: string;
  subresource: string;
  contentType: string;
  user: string;
  status: number;
  atMs: number;
}

export interface FaultRule {
  verb?: Verb;
  /** Plural resource name: `nodes`, `pods`, `leases`... */
  resource?: string;
  name?: string;
  /** How many matching requests it affects (default 1). */
  times?: number;
  /** Answer with this status and a Status body (500, 503, 409, 429, 504...). */
  status?: number;
  /** Hold the request without answering, until the client gives up. */
  hang?: boolean;
  /** Destroy the connection without an answer. */
  reset?: boolean;
  /** Wait this long, then serve the request normally. */
  delayMs?: number;
}

interface ActiveFault extends FaultRule {
  remaining: number;
}

interface HistoryEvent {
  rv: number;
  resource: ResourceType;
  type: WatchEventType;
  object: JsonObject;
  previous: JsonObject | undefined;
}

interface Watcher {
  resource: ResourceType;
  namespace: string;
  label: Matcher;
  field: Matcher;
  res: ServerResponse;
  timer: NodeJS.Timeout | undefined;
  bookmarks: boolean;
}

export interface ApiServerOptions {
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone. */
  historyLimit?: number;
  /** Requests kept in `requests` (oldest dropped first). */
  requestLogLimit?: number;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

export function statusBody(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  const body: JsonObject = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) body.details = details;
  return body;
}

const REASON_BY_CODE: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function metadataOf(object: JsonObject): JsonObject {
  if (!isObject(object.metadata)) object.metadata = {};
  return object.metadata as JsonObject;
}

function str(value: Json | undefined): string {
  return typeof value === 'string' ? value : '';
}

export class ApiServerDouble {
  readonly url: string;
  /** Every request served, oldest first (bounded by `requestLogLimit`). */
  readonly requests: RequestRecord[] = [];
  private readonly store = new Map<string, Map<string, JsonObject>>();
  private readonly history: HistoryEvent[] = [];
  private historyStart = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly faultRules: ActiveFault[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private rv = 1;
  /** Oldest resourceVersion a watch may resume from; anything older is 410 Gone. */
  private compactedRv = 0;
  private readonly patchCounts = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    private readonly options: Required<ApiServerOptions>,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: ApiServerOptions = {}): Promise<ApiServerDouble> {
    const server = createServer();
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const double = new ApiServerDouble(server, {
      historyLimit: options.historyLimit ?? 200_000,
      requestLogLimit: options.requestLogLimit ?? 1_000_000,
    });
    server.on('request', (req, res) => {
      double.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) double.send(res, 500, statusBody(500, 'InternalError', String(err)));
        else res.destroy();
      });
    });
    return double;
  }

  /** The newest resourceVersion handed out. */
  get resourceVersion(): number {
    return this.rv;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // ---- fault injection -------------------------------------------------------------------------

  readonly faults = {
    inject: (rule: FaultRule): void => {
      this.faultRules.push({ ...rule, remaining: rule.times ?? 1 });
    },
    /** Fails the next `count` requests (optionally only some) with a 5xx Status. */
    failNext: (count: number, rule: Omit<FaultRule, 'times'> = {}): void => {
      this.faultRules.push({ status: 500, ...rule, remaining: count });
    },
    clear: (): void => {
      this.faultRules.length = 0;
      for (const res of this.hanging) res.destroy();
      this.hanging.clear();
    },
    /** Cuts every open watch (optionally of one resource) without a goodbye, like a lost connection. */
    dropWatches: (resource?: string): number => this.closeWatches(resource, (w) => w.res.destroy()),
    /** Ends open watches with a 410 ERROR event, as the API does when etcd compacted past them. */
    expireWatches: (resource?: string): number =>
      this.closeWatches(resource, (w) => {
        w.res.end(`${JSON.stringify({ type: 'ERROR', object: this.goneStatus(this.rv) })}\n`);
      }),
  };

  /**
   * Sends a BOOKMARK (the current resourceVersion) to every open watch that allowed bookmarks, as
   * kube-apiserver does periodically; returns how many got one.
   */
  sendBookmarks(): number {
    let n = 0;
    for (const w of this.watchers) {
      if (!w.bookmarks || w.res.writableEnded) continue;
      const object = {
        kind: w.resource.kind,
        apiVersion: apiVersionOf(w.resource),
        metadata: { resourceVersion: String(this.rv) },
      };
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
      n++;
    }
    return n;
  }

  /** Forgets all watch history: any watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
    this.historyStart = 0;
  }

  // ---- inspection ----------------------------------------------------------------------------

  /** Successful PATCHes of objects themselves (not their status), per object name, or in all. */
  patchCount(name?: string): number {
    if (name !== undefined) return this.patchCounts.get(name) ?? 0;
    let total = 0;
    for (const n of this.patchCounts.values()) total += n;
    return total;
  }

  resetCounters(): void {
    this.patchCounts.clear();
    this.requests.length = 0;
  }

  count(filter: Partial<Omit<RequestRecord, 'atMs'>> & { sinceMs?: number }): number {
    let n = 0;
    for (const r of this.requests) {
      if (filter.sinceMs !== undefined && r.atMs < filter.sinceMs) continue;
      if (filter.verb !== undefined && r.verb !== filter.verb) continue;
      if (filter.resource !== undefined && r.resource !== filter.resource) continue;
      if (filter.name !== undefined && r.name !== filter.name) continue;
      if (filter.user !== undefined && r.user !== filter.user) continue;
      if (filter.status !== undefined && r.status !== filter.status) continue;
      n++;
    }
    return n;
  }

  /** A stored object (a copy), or undefined. Bypasses HTTP, for assertions. */
  getObject(plural: string, name: string, namespace = ''): JsonObject | undefined {
    const found = this.bucket(plural).get(`${namespace}/${name}`);
    return found ? structuredClone(found) : undefined;
  }

  listObjects(plural: string, namespace?: string): JsonObject[] {
    const out: JsonObject[] = [];
    for (const [key, obj] of this.bucket(plural)) {
      if (namespace === undefined || key.startsWith(`${namespace}/`)) out.push(structuredClone(obj));
    }
    return out;
  }

  /**
   * Creates or replaces an object directly (kind/apiVersion say which resource), emitting the
   * watch event a client would see. For seeding large fixtures without an HTTP round trip each.
   */
  putObject(object: JsonObject): JsonObject {
    const type = this.typeOfObject(object);
    const meta = metadataOf(object);
    const ns = type.namespaced ? str(meta.namespace) || 'default' : '';
    const key = `${ns}/${str(meta.name)}`;
    const previous = this.bucket(type.plural).get(key);
    const stored = this.stamp(type, structuredClone(object), previous);
    this.bucket(type.plural).set(key, stored);
    this.emit(type, previous ? 'MODIFIED' : 'ADDED', stored, previous);
    return structuredClone(stored);
  }

  async close(): Promise<void> {
    this.faults.clear();
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    if (url.pathname === '/healthz' || url.pathname === '/readyz' || url.pathname === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (url.pathname === '/version') {
      this.send(res, 200, {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-loadwise-double',
        platform: 'linux/amd64',
      });
      return;
    }
    const accept = String(req.headers.accept ?? '');
    const found = req.method === 'GET' ? discovery(url.pathname, accept, req.headers.host ?? '') : undefined;
    if (found) {
      this.send(res, 200, found.body, found.contentType);
      return;
    }
    const route = this.route(req.method ?? 'GET', url);
    const record: RequestRecord = {
      verb: route.verb,
      resource: route.type?.plural ?? '',
      namespace: route.namespace,
      name: route.name,
      subresource: route.subresource,
      contentType: String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim(),
      user: userOf(req),
      status: 0,
      atMs: Date.now(),
    };
    this.log(record);
    res.on('finish', () => {
      record.status = res.statusCode;
      if (record.verb === 'patch' && record.subresource === '' && res.statusCode < 300) {
        this.patchCounts.set(record.name, (this.patchCounts.get(record.name) ?? 0) + 1);
      }
    });
    try {
      const fault = this.takeFault(record);
      if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.reset) {
        req.socket.destroy();
        return;
      }
      if (fault?.hang) {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      if (fault?.status) {
        const code = fault.status;
        throw new HttpError(code, REASON_BY_CODE[code] ?? 'InternalError', `injected fault: ${code}`);
      }
      if (route.error) throw route.error;
      const type = route.type!;
      const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method ?? '')
        ? await readBody(req)
        : undefined;
      switch (route.verb) {
        case 'list': {
          const list = this.list(type, route.namespace, url.searchParams);
          if (!wantsTable(accept)) this.send(res, 200, list);
          else {
            const items = list.items as JsonObject[];
            const table = toTable(type, items, list.metadata as JsonObject, includeOf(url), Date.now());
            this.send(res, 200, table);
          }
          return;
        }
        case 'watch':
          this.watch(type, route.namespace, url.searchParams, res);
          return;
        case 'get': {
          const object = this.get(type, route.namespace, route.name, route.subresource);
          if (!wantsTable(accept)) this.send(res, 200, object);
          else this.send(res, 200, toTable(type, [object], {}, includeOf(url), Date.now()));
          return;
        }
        case 'create':
          if (route.subresource === 'binding' || (type.plural === 'pods' && route.bindingCollection)) {
            this.send(res, 201, this.bind(route.namespace, route.name, parseJson(body!)));
            return;
          }
          this.send(res, 201, this.create(type, route.namespace, parseJson(body!)));
          return;
        case 'update':
          this.send(
            res,
            200,
            this.update(type, route.namespace, route.name, route.subresource, parseJson(body!)),
          );
          return;
        case 'patch':
          this.send(
            res,
            200,
            this.patch(type, route.namespace, route.name, route.subresource, record.contentType, body!),
          );
          return;
        case 'delete':
          this.send(res, 200, this.delete(type, route.namespace, route.name, body));
          return;
      }
    } catch (err: unknown) {
      if (err instanceof HttpError) {
        this.send(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
        return;
      }
      if (err instanceof PatchError) {
        this.send(res, err.code, statusBody(err.code, REASON_BY_CODE[err.code]!, err.message));
        return;
      }
      throw err;
    }
  }

  private route(
    method: string,
    url: URL,
  ): {
    verb: Verb;
    type: ResourceType | undefined;
    namespace: string;
    name: string;
    subresource: string;
    bindingCollection?: boolean;
    error?: HttpError;
  } {
    const parts = url.pathname
      .split('/')
      .filter((p) => p.length > 0)
      .map(decodeURIComponent);
    let group = '';
    let version = '';
    let rest: string[] = [];
    if (parts[0] === 'api' && parts.length >= 2) {
      version = parts[1]!;
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1]!;
      version = parts[2]!;
      rest = parts.slice(3);
    }
    let namespace = '';
    let plural = rest[0] ?? '';
    let name = rest[1] ?? '';
    let subresource = rest[2] ?? '';
    let bindingCollection = false;
    if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, version, rest[2]!)) {
      namespace = rest[1]!;
      plural = rest[2]!;
      name = rest[3] ?? '';
      subresource = rest[4] ?? '';
    } else if (rest[0] === 'namespaces' && rest[2] === 'bindings' && group === '') {
      namespace = rest[1]!;
      plural = 'pods';
      name = '';
      bindingCollection = true;
    }
    const type = findResource(group, version, plural);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const collection = name === '' && !bindingCollection;
    const verb: Verb =
      method === 'GET'
        ? watch
          ? 'watch'
          : collection
            ? 'list'
            : 'get'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : 'delete';
    const base = { verb, type, namespace, name, subresource, bindingCollection };
    if (!type) {
      return {
        ...base,
        error: new HttpError(404, 'NotFound', `the server could not find the requested resource`),
      };
    }
    const known = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
    const allowed =
      known.includes(method) &&
      (collection ? method === 'GET' || method === 'POST' : method !== 'POST' || subresource === 'binding');
    const subOk =
      subresource === '' || subresource === 'status' || (subresource === 'binding' && type.plural === 'pods');
    if (!allowed || !subOk || (type.namespaced && namespace === '' && method !== 'GET')) {
      return {
        ...base,
        error: new HttpError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        ),
      };
    }
    return base;
  }

  private takeFault(record: RequestRecord): ActiveFault | undefined {
    const index = this.faultRules.findIndex(
      (f) =>
        (f.verb === undefined || f.verb === record.verb) &&
        (f.resource === undefined || f.resource === record.resource) &&
        (f.name === undefined || f.name === record.name),
    );
    if (index < 0) return undefined;
    const fault = this.faultRules[index]!;
    if (--fault.remaining <= 0) this.faultRules.splice(index, 1);
    return fault;
  }

  // ---- verbs -----------------------------------------------------------------------------------

  private list(type: ResourceType, namespace: string, query: URLSearchParams): JsonObject {
    const label = parseSelector(labelSelector, query.get('labelSelector'));
    const field = parseSelector(fieldSelector, query.get('fieldSelector'));
    const keys = [...this.bucket(type.plural).keys()]
      .filter((k) => namespace === '' || k.startsWith(`${namespace}/`))
      .sort();
    const after = query.get('continue') ? Buffer.from(query.get('continue')!, 'base64url').toString() : '';
    const limit = Number(query.get('limit') ?? 0);
    const items: JsonObject[] = [];
    let next = '';
    for (const key of keys) {
      if (after && key <= after) continue;
      const obj = this.bucket(type.plural).get(key)!;
      if (!label(obj) || !field(obj)) continue;
      if (limit > 0 && items.length >= limit) {
        next = Buffer.from(keyBefore(items)).toString('base64url');
        break;
      }
      // List items carry no kind/apiVersion on the wire; the list does.
      const item: JsonObject = { ...obj, _key: key };
      delete item.kind;
      delete item.apiVersion;
      items.push(item);
    }
    const metadata: JsonObject = { resourceVersion: String(this.rv) };
    if (next) metadata.continue = next;
    return {
      kind: `${type.kind}List`,
      apiVersion: apiVersionOf(type),
      metadata,
      items: items.map(({ _key, ...item }) => structuredClone(item)),
    };
  }

  private watch(type: ResourceType, namespace: string, query: URLSearchParams, res: ServerResponse): void {
    const watcher: Watcher = {
      resource: type,
      namespace,
      label: parseSelector(labelSelector, query.get('labelSelector')),
      field: parseSelector(fieldSelector, query.get('fieldSelector')),
      res,
      timer: undefined,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
    };
    const from = query.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const fromRv = Number(from);
    if (from !== '' && from !== '0' && (!Number.isSafeInteger(fromRv) || fromRv < this.compactedRv)) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: this.goneStatus(fromRv) })}\n`);
      return;
    }
    if (from === '' || from === '0') {
      for (const [key, obj] of [...this.bucket(type.plural)].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (namespace !== '' && !key.startsWith(`${namespace}/`)) continue;
        if (watcher.label(obj) && watcher.field(obj)) this.write(watcher, 'ADDED', obj);
      }
    } else {
      for (let i = this.historyStart; i < this.history.length; i++) {
        const event = this.history[i]!;
        if (event.rv > fromRv && event.resource === type) this.deliver(watcher, event);
      }
    }
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) watcher.timer = setTimeout(() => res.end(), timeout * 1000);
    this.watchers.add(watcher);
    res.on('close', () => {
      clearTimeout(watcher.timer);
      this.watchers.delete(watcher);
    });
  }

  private get(type: ResourceType, namespace: string, name: string, _subresource: string): JsonObject {
    return structuredClone(this.mustFind(type, namespace, name));
  }

  private create(type: ResourceType, namespace: string, body: Json): JsonObject {
    if (!isObject(body))
      throw new HttpError(400, 'BadRequest', 'the body of the request was not a JSON object');
    const meta = metadataOf(body);
    if (!meta.name && typeof meta.generateName === 'string') {
      meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    this.checkKind(type, body);
    const name = str(meta.name);
    if (type.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw new HttpError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
      if (type.plural !== 'namespaces' && !this.bucket('namespaces').has(`/${namespace}`)) {
        this.ensureNamespace(namespace);
      }
    }
    this.validate(type, body);
    const key = `${type.namespaced ? namespace : ''}/${name}`;
    if (this.bucket(type.plural).has(key)) {
      throw new HttpError(409, 'AlreadyExists', `${resourceId(type)} "${name}" already exists`, {
        name,
        group: type.group,
        kind: type.plural,
      });
    }
    delete meta.resourceVersion;
    if (type.plural === 'pods') {
      const status = isObject(body.status) ? body.status : {};
      body.status = { ...status, phase: 'Pending' };
      // kube-apiserver's defaulting (SetDefaults_PodSpec): a pod names its scheduler.
      if (isObject(body.spec) && !str(body.spec.schedulerName)) body.spec.schedulerName = 'default-scheduler';
    }
    const stored = this.stamp(type, body, undefined);
    this.bucket(type.plural).set(key, stored);
    this.emit(type, 'ADDED', stored, undefined);
    return structuredClone(stored);
  }

  private update(
    type: ResourceType,
    namespace: string,
    name: string,
    subresource: string,
    body: Json,
  ): JsonObject {
    if (!isObject(body))
      throw new HttpError(400, 'BadRequest', 'the body of the request was not a JSON object');
    const current = this.mustFind(type, namespace, name);
    const meta = metadataOf(body);
    if (meta.name !== undefined && meta.name !== name) {
      throw new HttpError(
        400,
        'BadRequest',
        `the name of the object (${str(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    this.checkKind(type, body);
    meta.name = name;
    if (type.namespaced) meta.namespace = namespace;
    return this.replace(type, current, body, subresource);
  }

  private patch(
    type: ResourceType,
    namespace: string,
    name: string,
    subresource: string,
    contentType: string,
    body: Buffer,
  ): JsonObject {
    const current = this.mustFind(type, namespace, name);
    if (contentType === 'application/apply-patch+yaml') {
      throw new HttpError(415, 'UnsupportedMediaType', 'server-side apply is not supported by the double');
    }
    const patch = parseJson(body);
    let next: Json;
    if (contentType === 'application/merge-patch+json') next = mergePatch(current, patch);
    else if (contentType === 'application/strategic-merge-patch+json')
      next = strategicMergePatch(current, patch);
    else if (contentType === 'application/json-patch+json') next = jsonPatch(current, patch);
    else {
      throw new HttpError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    if (!isObject(next)) throw new HttpError(422, 'Invalid', 'the patch did not produce an object');
    const meta = metadataOf(next);
    if (meta.name !== name || (type.namespaced && meta.namespace !== namespace)) {
      throw new HttpError(
        422,
        'Invalid',
        `metadata.name: Invalid value: a patch may not change the name or namespace`,
      );
    }
    // A patch that names a resourceVersion is a precondition, exactly like an update's.
    const patched = isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    if (patched === undefined || patched === null)
      meta.resourceVersion = str(metadataOf(current).resourceVersion);
    return this.replace(type, current, next, subresource);
  }

  private replace(
    type: ResourceType,
    current: JsonObject,
    next: JsonObject,
    subresource: string,
  ): JsonObject {
    const meta = metadataOf(next);
    const currentMeta = metadataOf(current);
    const name = str(currentMeta.name);
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== '' &&
      meta.resourceVersion !== currentMeta.resourceVersion
    ) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resourceId(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: type.group, kind: type.plural },
      );
    }
    let result: JsonObject;
    if (subresource === 'status') result = { ...structuredClone(current), status: next.status ?? {} };
    else {
      result = next;
      // Status belongs to its subresource for the types that have one.
      if (type.plural === 'pods' || type.plural === 'nodes' || type.plural === 'namespaces') {
        if (current.status === undefined) delete result.status;
        else result.status = structuredClone(current.status);
      }
      const m = metadataOf(result);
      // An update may name the UID (a precondition); another one is refused, never overwritten.
      const uid = str(m.uid);
      if (uid && uid !== str(currentMeta.uid)) {
        throw new HttpError(
          422,
          'Invalid',
          `${type.kind} "${name}" is invalid: metadata.uid: Invalid value: "${uid}": field is immutable`,
          { name, group: type.group, kind: type.plural },
        );
      }
      for (const field of ['uid', 'creationTimestamp', 'namespace'] as const) {
        if (currentMeta[field] !== undefined) m[field] = currentMeta[field]!;
      }
    }
    this.validate(type, result);
    if (JSON.stringify(stripRv(result)) === JSON.stringify(stripRv(current))) {
      // kube-apiserver does not bump the resourceVersion (or notify watchers) for a no-op write.
      return structuredClone(current);
    }
    const stored = this.stamp(type, result, current);
    this.bucket(type.plural).set(keyOf(type, stored), stored);
    this.emit(type, 'MODIFIED', stored, current);
    return structuredClone(stored);
  }

  private delete(type: ResourceType, namespace: string, name: string, body?: Buffer): JsonObject {
    const current = this.mustFind(type, namespace, name);
    // DeleteOptions.preconditions: the delete applies only to the object the caller means.
    const options = body && body.length > 0 ? parseJson(body) : undefined;
    const pre = isObject(options) && isObject(options.preconditions) ? options.preconditions : undefined;
    const meta = metadataOf(current);
    for (const [field, label] of [
      ['uid', 'UID'],
      ['resourceVersion', 'ResourceVersion'],
    ] as const) {
      const want = pre?.[field];
      if (typeof want === 'string' && want !== str(meta[field])) {
        throw new HttpError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${resourceId(type)} "${name}": Precondition failed: ${label} in precondition: ${want}, ${label} in object meta: ${str(meta[field])}`,
          { name, group: type.group, kind: type.plural },
        );
      }
    }
    this.remove(type, current);
    if (type.plural === 'namespaces') {
      for (const other of ['pods', 'leases', 'endpointslices', 'events']) {
        const t = this.typeOfPlural(other);
        for (const obj of this.listObjectsRaw(other, name)) this.remove(t, obj);
      }
    }
    if (type.plural === 'pods') return structuredClone(current);
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, group: type.group, kind: type.plural, uid: str(metadataOf(current).uid) },
    };
  }

  private bind(namespace: string, podName: string, body: Json): JsonObject {
    if (!isObject(body))
      throw new HttpError(400, 'BadRequest', 'the body of the request was not a JSON object');
    const name = podName || str(metadataOf(body).name);
    const target = isObject(body.target) ? body.target : {};
    const node = str(target.name);
    if (!node)
      throw new HttpError(422, 'Invalid', `Binding "${name}" is invalid: target.name: Required value`);
    const pods = this.typeOfPlural('pods');
    const pod = this.mustFind(pods, namespace, name);
    // The Binding's UID is a precondition (BindingREST.setPodHostAndAnnotations); the storage's
    // invalid-object error becomes a Conflict on "pods" (InterpretUpdateError), with its text.
    const uid = str(metadataOf(body).uid);
    const podUid = str(metadataOf(pod).uid);
    if (uid && uid !== podUid) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods "${name}": StorageError: invalid object, Code: 4, Key: /registry/pods/${namespace}/${name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${uid}, UID in object meta: ${podUid}`,
      );
    }
    const annotations = bindingAnnotations(body);
    if (metadataOf(pod).deletionTimestamp) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is being deleted, cannot be assigned to a host`,
      );
    }
    const spec = isObject(pod.spec) ? pod.spec : {};
    if (str(spec.nodeName)) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${str(spec.nodeName)}"`,
      );
    }
    const next = structuredClone(pod);
    next.spec = { ...spec, nodeName: node };
    // setPodHostAndAnnotations: the Binding's annotations are merged onto the pod (a key it names
    // is overwritten, others stay) in the same write as spec.nodeName.
    if (annotations) {
      const meta = metadataOf(next);
      meta.annotations = { ...(isObject(meta.annotations) ? meta.annotations : {}), ...annotations };
    }
    const status = isObject(next.status) ? next.status : {};
    const conditions = (Array.isArray(status.conditions) ? status.conditions : []).filter(
      (c) => !(isObject(c) && c.type === 'PodScheduled'),
    );
    conditions.push({
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: formatRfc3339(Date.now()),
    });
    next.status = { ...status, conditions };
    const stored = this.stamp(pods, next, pod);
    this.bucket('pods').set(keyOf(pods, stored), stored);
    this.emit(pods, 'MODIFIED', stored, pod);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  // ---- store and watch plumbing ----------------------------------------------------------------

  private bucket(plural: string): Map<string, JsonObject> {
    let b = this.store.get(plural);
    if (!b) {
      b = new Map();
      this.store.set(plural, b);
    }
    return b;
  }

  private listObjectsRaw(plural: string, namespace: string): JsonObject[] {
    return [...this.bucket(plural)].filter(([k]) => k.startsWith(`${namespace}/`)).map(([, v]) => v);
  }

  private typeOfPlural(plural: string): ResourceType {
    const group =
      plural === 'leases' ? 'coordination.k8s.io' : plural === 'endpointslices' ? 'discovery.k8s.io' : '';
    return findResource(group, 'v1', plural)!;
  }

  private typeOfObject(object: JsonObject): ResourceType {
    const [group, version] = str(object.apiVersion).includes('/')
      ? str(object.apiVersion).split('/')
      : ['', str(object.apiVersion)];
    const kind = str(object.kind);
    const type = ['nodes', 'namespaces', 'pods', 'events', 'leases', 'endpointslices']
      .map((p) => this.typeOfPlural(p))
      .find((t) => t.kind === kind && t.group === group && t.version === version);
    if (!type) throw new Error(`the double does not serve ${object.apiVersion}/${kind}`);
    return type;
  }

  private mustFind(type: ResourceType, namespace: string, name: string): JsonObject {
    const found = this.bucket(type.plural).get(`${type.namespaced ? namespace : ''}/${name}`);
    if (!found) {
      throw new HttpError(404, 'NotFound', `${resourceId(type)} "${name}" not found`, {
        name,
        group: type.group,
        kind: type.plural,
      });
    }
    return found;
  }

  private ensureNamespace(namespace: string): void {
    this.putObject({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
      status: { phase: 'Active' },
    });
  }

  private checkKind(type: ResourceType, body: JsonObject): void {
    if (body.kind !== undefined && body.kind !== type.kind) {
      throw new HttpError(
        400,
        'BadRequest',
        `the API version in the data (${str(body.apiVersion)}) does not match the expected API version (${apiVersionOf(type)}) or kind ${str(body.kind)} is not ${type.kind}`,
      );
    }
  }

  private validate(type: ResourceType, object: JsonObject): void {
    const meta = metadataOf(object);
    const name = str(meta.name);
    const causes: string[] = [];
    if (!name) causes.push('metadata.name: Required value: name or generateName is required');
    else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      causes.push(
        `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      );
    }
    for (const field of ['labels', 'annotations'] as const) {
      const map = meta[field];
      if (map === undefined || map === null) continue;
      if (!isObject(map)) {
        causes.push(`metadata.${field}: Invalid value: must be a map of strings`);
        continue;
      }
      for (const [k, v] of Object.entries(map)) {
        if (typeof v !== 'string')
          causes.push(`metadata.${field}: Invalid value: "${k}": value must be a string`);
        else if (field === 'labels' && (v.length > 63 || !LABEL_VALUE.test(v))) {
          causes.push(
            `metadata.labels: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`,
          );
        }
      }
    }
    if (type.plural === 'events') causes.push(...eventCauses(object));
    if (type.plural === 'leases' && isObject(object.spec)) {
      const d = object.spec.leaseDurationSeconds;
      if (d !== undefined && d !== null && !(typeof d === 'number' && Number.isInteger(d) && d > 0)) {
        causes.push('spec.leaseDurationSeconds: Invalid value: must be greater than 0');
      }
    }
    if (causes.length > 0) {
      throw new HttpError(422, 'Invalid', `${type.kind} "${name}" is invalid: ${causes.join(', ')}`, {
        name,
        group: type.group,
        kind: type.kind,
        causes: causes.map((message) => ({
          reason: 'FieldValueInvalid',
          message,
          field: message.split(':')[0]!,
        })),
      });
    }
  }

  private stamp(type: ResourceType, object: JsonObject, previous: JsonObject | undefined): JsonObject {
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    const meta = metadataOf(object);
    const prevMeta = previous ? metadataOf(previous) : undefined;
    meta.uid = str(prevMeta?.uid) || str(meta.uid) || randomUUID();
    meta.creationTimestamp = str(prevMeta?.creationTimestamp) || formatRfc3339(Date.now());
    if (type.namespaced && !meta.namespace) meta.namespace = 'default';
    meta.resourceVersion = String(++this.rv);
    return object;
  }

  private remove(type: ResourceType, object: JsonObject): void {
    this.bucket(type.plural).delete(keyOf(type, object));
    const gone = structuredClone(object);
    metadataOf(gone).resourceVersion = String(++this.rv);
    this.emit(type, 'DELETED', gone, object);
  }

  private emit(
    type: ResourceType,
    eventType: WatchEventType,
    object: JsonObject,
    previous: JsonObject | undefined,
  ): void {
    const event: HistoryEvent = { rv: this.rv, resource: type, type: eventType, object, previous };
    this.history.push(event);
    if (this.history.length - this.historyStart > this.options.historyLimit) {
      this.compactedRv = this.history[this.historyStart]!.rv;
      this.historyStart++;
      if (this.historyStart > 4096) {
        this.history.splice(0, this.historyStart);
        this.historyStart = 0;
      }
    }
    for (const watcher of this.watchers) if (watcher.resource === type) this.deliver(watcher, event);
  }

  /**
   * What a watch with selectors sees: an object that starts matching arrives as ADDED and one that
   * stops matching as DELETED, as kube-apiserver's cacher reports them.
   */
  private deliver(watcher: Watcher, event: HistoryEvent): void {
    const matches = (obj: JsonObject | undefined): boolean =>
      obj !== undefined &&
      (watcher.namespace === '' || str(metadataOf(obj).namespace) === watcher.namespace) &&
      watcher.label(obj) &&
      watcher.field(obj);
    const now = event.type !== 'DELETED' && matches(event.object);
    const before = event.type === 'ADDED' ? false : matches(event.previous);
    if (event.type === 'DELETED') {
      if (before) this.write(watcher, 'DELETED', event.object);
    } else if (now && before) this.write(watcher, 'MODIFIED', event.object);
    else if (now) this.write(watcher, 'ADDED', event.object);
    else if (before) this.write(watcher, 'DELETED', event.object);
  }

  private write(watcher: Watcher, type: WatchEventType, object: JsonObject): void {
    if (!watcher.res.writableEnded && !watcher.res.destroyed) {
      watcher.res.write(`${JSON.stringify({ type, object })}\n`);
    }
  }

  private closeWatches(resource: string | undefined, close: (w: Watcher) => void): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (resource !== undefined && w.resource.plural !== resource) continue;
      this.watchers.delete(w);
      clearTimeout(w.timer);
      close(w);
      n++;
    }
    return n;
  }

  private goneStatus(fromRv: number): JsonObject {
    return statusBody(410, 'Expired', `too old resource version: ${fromRv} (${this.compactedRv})`);
  }

  private log(record: RequestRecord): void {
    this.requests.push(record);
    if (this.requests.length > this.options.requestLogLimit)
      this.requests.splice(0, this.requests.length >> 1);
  }

  private send(res: ServerResponse, code: number, body: Json, contentType = 'application/json'): void {
    const text = JSON.stringify(body);
    // Vary: Accept because the same path answers JSON, a Table or aggregated discovery.
    res.writeHead(code, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
      vary: 'Accept',
    });
    res.end(text);
  }
}

/** The Table's includeObject parameter (Metadata, Object or None). */
function includeOf(url: URL): string | null {
  return url.searchParams.get('includeObject');
}

function keyOf(type: ResourceType, object: JsonObject): string {
  const meta = metadataOf(object);
  return `${type.namespaced ? str(meta.namespace) : ''}/${str(meta.name)}`;
}

function keyBefore(items: JsonObject[]): string {
  return str(items[items.length - 1]?._key);
}

function stripRv(object: JsonObject): JsonObject {
  const copy = { ...object, metadata: { ...metadataOf(object) } };
  delete (copy.metadata as JsonObject).resourceVersion;
  return copy;
}

function userOf(req: IncomingMessage): string {
  const auth = String(req.headers.authorization ?? '');
  if (auth.startsWith('Bearer ')) return auth.slice(7);
  if (auth.startsWith('Basic ')) return Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] ?? '';
  return '';
}

function parseSelector(parse: (text: string | null) => Matcher, text: string | null): Matcher {
  try {
    return parse(text);
  } catch (err: unknown) {
    throw new HttpError(400, 'BadRequest', `unable to parse selector "${text}": ${(err as Error).message}`);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, 'RequestEntityTooLarge', 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): Json {
  try {
    return JSON.parse(body.toString('utf8')) as Json;
  } catch (err: unknown) {
    throw new HttpError(
      400,
      'BadRequest',
      `the body of the request could not be decoded: ${(err as Error).message}`,
    );
  }
}

/**
 * kube-apiserver's checks of a core/v1 Event on create (ValidateEventCreate, legacy API): the
 * involved object's namespace must be the Event's; an Event with eventTime (the new style) also
 * needs reportingController, reportingInstance, action and reason, within their length limits.
 */
function eventCauses(event: JsonObject): string[] {
  const causes: string[] = [];
  const namespace = str(metadataOf(event).namespace);
  const involved = isObject(event.involvedObject) ? event.involvedObject : {};
  const involvedNs = str(involved.namespace);
  const mismatch = `involvedObject.namespace: Invalid value: "${involvedNs}": does not match event.namespace`;
  const newStyle = typeof event.eventTime === 'string' && event.eventTime !== '';
  if (!newStyle) {
    if (involvedNs === '' ? namespace !== '' && namespace !== 'default' : namespace !== involvedNs)
      causes.push(mismatch);
    return causes;
  }
  if (involvedNs === '' && namespace !== 'default' && namespace !== 'kube-system') causes.push(mismatch);
  const limits: [string, number][] = [
    ['reportingController', 316],
    ['reportingInstance', 128],
    ['action', 128],
    ['reason', 128],
  ];
  for (const [field, max] of limits) {
    const v = str(event[field]);
    if (v === '') causes.push(`${field}: Required value`);
    else if (v.length > max) causes.push(`${field}: Too long: may not be longer than ${max}`);
  }
  if (str(event.message).length > 1024) causes.push('message: Too long: may not be longer than 1024');
  return causes;
}

/** A Binding's metadata.annotations (a map of strings, as the API's decoder insists), or undefined. */
function bindingAnnotations(body: JsonObject): Record<string, string> | undefined {
  const raw = metadataOf(body).annotations;
  if (raw === undefined || raw === null) return undefined;
  const bad = () =>
    new HttpError(400, 'BadRequest', "the Binding's metadata.annotations must be a map of string to string");
  if (!isObject(raw)) throw bad();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw bad();
    out[k] = v;
  }
  return out;
}
