// A resourceVersion-correct cache of one Kubernetes resource, kept by list + watch: the part of
// client-go's reflector loadwise needs. The client library's informer stops for good on the first
// error; this one re-lists after "410 Gone", resumes from the last resourceVersion after a dropped
// connection, backs off (with jitter) while the API is unreachable, and never throws.
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import type { Logger } from './log.ts';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface ObjectList<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export type ReflectorEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReflectorOptions<T extends KubeObject> {
  kubeConfig: KubeConfig;
  /** Collection path to watch, e.g. `/api/v1/nodes`. */
  path: string;
  /** Lists the collection (the same selectors as the watch). */
  list: () => Promise<ObjectList<T>>;
  fieldSelector?: string;
  labelSelector?: string;
  /** Keep objects in memory (default). Without it, only events are delivered (large collections). */
  cache?: boolean;
  onEvent?: (type: ReflectorEvent, object: T, previous: T | undefined) => void;
  /** Restarts, for a metric: `closed` (server ended the watch), `gone` (410), `error`. */
  onRestart?: (reason: 'closed' | 'gone' | 'error') => void;
  logger: Logger;
  /** Server-side watch timeout; each watch gets this plus up to 50% jitter so replicas spread out. */
  watchTimeoutSeconds?: number;
  backoff?: { initialMs: number; maxMs: number };
  random?: () => number;
}

class GoneError extends Error {}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

export class Reflector<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private resourceVersion = '';
  private stopped = true;
  private loop: Promise<void> | undefined;
  private abortWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private syncedOnce = false;
  private syncWaiters: Array<(err?: Error) => void> = [];
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly random: () => number;

  constructor(private readonly options: ReflectorOptions<T>) {
    this.backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.random = options.random ?? Math.random;
  }

  /** True once the first list has been loaded. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  get size(): number {
    return this.objects.size;
  }

  get(name: string, namespace = ''): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /**
   * Takes a newer copy of a cached object (the answer to our own PATCH), so the next decision
   * sees our write before the watch delivers it. An object no longer cached stays out.
   */
  offer(object: T): void {
    const key = keyOf(object);
    const cached = this.objects.get(key);
    if (!cached) return;
    const a = Number(cached.metadata?.resourceVersion);
    const b = Number(object.metadata?.resourceVersion);
    // resourceVersions are opaque in general, but where both are numbers (etcd) newer is larger.
    if (Number.isFinite(a) && Number.isFinite(b) && b <= a) return;
    this.objects.set(key, object);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    // Nobody should wait for a list that will not come.
    for (const w of this.syncWaiters) w(new Error('the reflector was stopped before its first list'));
    this.syncWaiters = [];
  }

  /** Resolves once the first list is in; rejects when `signal` fires or the reflector stops first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push((err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '') await this.relist();
        const { events, durationMs } = await this.watchOnce();
        this.options.onRestart?.('closed');
        // A watch the server ends at once, with nothing in it, would otherwise be re-opened in a
        // tight loop (a proxy cutting long requests, an overloaded API): pace those like errors.
        if (events === 0 && durationMs < 1000 && !this.stopped) {
          failures++;
          await this.sleep(this.backoffMs(failures));
        } else {
          failures = 0;
        }
      } catch (err: unknown) {
        if (this.stopped) break;
        if (err instanceof GoneError || statusCodeOf(err) === 410) {
          this.options.logger.info({ path: this.options.path }, 'watch expired (410 Gone); re-listing');
          this.resourceVersion = '';
          this.options.onRestart?.('gone');
          continue;
        }
        failures++;
        this.options.onRestart?.('error');
        const delay = this.backoffMs(failures);
        this.options.logger.warn(
          {
            path: this.options.path,
            err: (err as Error).message ?? String(err),
            retryInMs: Math.round(delay),
          },
          'list/watch failed; retrying',
        );
        await this.sleep(delay);
      }
    }
  }

  /** Equal-jitter exponential backoff for the n-th failure in a row. */
  private backoffMs(failures: number): number {
    const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(failures - 1, 20));
    return cap / 2 + (cap / 2) * this.random();
  }

  private async relist(): Promise<void> {
    const list = await this.options.list();
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = keyOf(item);
      seen.add(key);
      this.apply('ADDED', item);
    }
    if (this.options.cache !== false) {
      for (const [key, object] of [...this.objects]) {
        if (!seen.has(key)) this.apply('DELETED', object);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private apply(type: ReflectorEvent, object: T): void {
    const key = keyOf(object);
    const previous = this.objects.get(key);
    let effective = type;
    if (this.options.cache !== false) {
      if (type === 'DELETED') {
        if (!this.objects.delete(key)) return;
      } else {
        if (previous?.metadata?.resourceVersion === object.metadata?.resourceVersion && previous) return;
        this.objects.set(key, object);
        effective = previous ? 'MODIFIED' : 'ADDED';
      }
    }
    this.options.onEvent?.(effective, object, previous);
  }

  /** One watch until it ends; resolves with how many events it carried and how long it lasted. */
  private watchOnce(): Promise<{ events: number; durationMs: number }> {
    const startedMs = Date.now();
    let events = 0;
    return new Promise<{ events: number; durationMs: number }>((resolve, reject) => {
      const base = this.options.watchTimeoutSeconds ?? 300;
      const timeoutSeconds = Math.round(base * (1 + 0.5 * this.random()));
      const query: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      };
      if (this.options.fieldSelector) query.fieldSelector = this.options.fieldSelector;
      if (this.options.labelSelector) query.labelSelector = this.options.labelSelector;
      let settled = false;
      let gone = false;
      let watchdog: NodeJS.Timeout | undefined;
      let controller: AbortController | undefined;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.abortWatch = undefined;
        controller?.abort();
        if (gone) reject(new GoneError('resource version expired'));
        else if (err && !this.stopped) reject(err);
        else resolve({ events, durationMs: Date.now() - startedMs });
      };
      // A connection that dies without a FIN never ends on its own: give the server its timeout
      // plus a margin, then drop it ourselves.
      const armWatchdog = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish(new Error('watch stalled')), (timeoutSeconds + 30) * 1000);
        watchdog.unref();
      };
      armWatchdog();
      this.abortWatch = () => finish(null);
      new Watch(this.options.kubeConfig)
        .watch(
          this.options.path,
          query,
          (type: string, object: T & { code?: number; metadata?: { resourceVersion?: string } }) => {
            if (settled) return;
            events++;
            if (type === 'ERROR') {
              if (object.code === 410) gone = true;
              finish(gone ? null : new Error(`watch error: ${JSON.stringify(object)}`));
              return;
            }
            const rv = object.metadata?.resourceVersion;
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.apply(type, object);
            if (rv) this.resourceVersion = rv;
          },
          (err: unknown) => finish(err),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch((err: unknown) => finish(err));
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
