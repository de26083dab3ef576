// Informers over @kubernetes/client-node's ListWatch, with the robustness it lacks on its own:
// - it stops for good on any error but 410 Gone: we restart it with exponential backoff capped at 2 s,
//   jittered so the per-namespace watches that failed together do not retry in step;
// - a watch can stall silently on a half-open connection: a watchdog aborts a watch that shows no
//   event or bookmark for `watchdogMs` and drops the pooled request sockets with it; the error path
//   then re-watches (or re-lists on 410 Gone). Bookmarks are requested so a quiet but healthy watch
//   still shows signs of life.
// One ListWatch per namespace when a namespace list is given, one cluster-wide otherwise.
import { ListWatch, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { apiRequests } from '../metrics/registry.ts';
import { Backoff } from './backoff.ts';
import type { KubeClient } from './client.ts';

export type Handler<T> = (obj: T) => void;

export interface InformerOptions {
  /** Collection path for a namespace ('' = all namespaces), e.g. ns => paths.jobs(ns). */
  path: (namespace?: string) => string;
  namespaces?: string[];
  labelSelector?: string;
  watchdogMs?: number;
  log: Logger;
  name: string;
  /**
   * Keeps only what the cache's readers use (as controller-runtime's cache transforms do): applied to
   * every listed and watched object before it is stored, so the rest is garbage at once.
   */
  transform?: (obj: KubernetesObject) => KubernetesObject;
}

// Short, because signals must be obeyed within seconds of the API server coming back (the fault
// campaign holds it to 5 s): a longer cap left a watch down for up to its full length after an
// outage. A retry costs one list per watched namespace.
const MAX_BACKOFF_MS = 2_000;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * managedFields are often half an object's size, and `kubectl apply`'s last-applied annotation a whole
 * second copy of the spec; nothing here reads either: the cache drops them.
 */
function slim<O>(obj: O): O {
  const meta = (obj as { metadata?: { managedFields?: unknown; annotations?: Record<string, string> } } | undefined)?.metadata;
  if (meta) {
    delete meta.managedFields;
    if (meta.annotations?.[LAST_APPLIED] !== undefined) delete meta.annotations[LAST_APPLIED];
  }
  return obj;
}

/** Objects as this project reads them: timestamps stay RFC 3339 strings (raw JSON, not client-node's Dates). */
export interface ApiObject { metadata?: { name?: string; namespace?: string } }

/** namespace/name: the key of an object in caches, work queues and logs. */
export const objectKey = (o: ApiObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** What a reader of an informer's cache needs (narrow, so a plain Map can stand in for it in unit tests). */
export interface Store<T> {
  get(name: string, namespace: string): T | undefined;
  list(namespace?: string): T[];
}

export class Informer<T extends ApiObject> implements Store<T> {
  private readonly watches: Array<ListWatch<KubernetesObject>> = [];
  private readonly handlers: Record<'add' | 'update' | 'delete', Array<Handler<T>>> = { add: [], update: [], delete: [] };
  private readonly client: KubeClient;
  private readonly options: InformerOptions;
  private stopped = false;
  /** Restarts after errors, and watchdog firings, for tests and logs. */
  restarts = 0;
  watchdogFires = 0;

  constructor(client: KubeClient, options: InformerOptions) {
    this.client = client;
    this.options = options;
  }

  on(event: 'add' | 'update' | 'delete', handler: Handler<T>): void { this.handlers[event].push(handler); }

  get(name: string, namespace: string): T | undefined {
    for (const lw of this.watches) {
      const o = lw.get(name, namespace);
      if (o) return o as unknown as T;
    }
    return undefined;
  }

  list(namespace?: string): T[] { return this.watches.flatMap((lw) => lw.list(namespace)) as unknown as T[]; }

  get synced(): boolean { return this.watches.length > 0 && this.watches.every((lw) => lw.latestResourceVersion() !== ''); }

  /** Starts listing and watching; resolves once every namespace has been listed. */
  async start(): Promise<void> {
    const namespaces = this.options.namespaces?.length ? this.options.namespaces : [undefined];
    for (const ns of namespaces) this.watches.push(this.startOne(ns));
    while (!this.synced) {
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const lw of this.watches) void lw.stop();
  }

  private startOne(namespace: string | undefined): ListWatch<KubernetesObject> {
    const { log, name, labelSelector } = this.options;
    const path = this.options.path(namespace);
    const watch = new Watch(this.client.kc);
    const watchdogMs = this.options.watchdogMs ?? 75_000;
    let lastActivity = Date.now();
    let current: AbortController | undefined;
    const watcher = {
      watch: async (p: string, query: Record<string, unknown>, cb: Parameters<Watch['watch']>[2], done: Parameters<Watch['watch']>[3]) => {
        apiRequests.inc({ verb: 'watch', resource: p.split('/').pop() ?? '', code: '' });
        lastActivity = Date.now();
        current = await watch.watch(p, { ...query, allowWatchBookmarks: true }, (type, obj, raw) => {
          lastActivity = Date.now();
          cb(type, this.view(obj), raw);
        }, done);
        return current;
      },
    } as unknown as Watch;
    // The watchdog: no event or bookmark for watchdogMs means a stalled connection; abort it, and the
    // error path below re-watches (or re-lists when the server says 410 Gone).
    const dog = setInterval(() => {
      if (this.stopped) { clearInterval(dog); return; }
      if (current && Date.now() - lastActivity > watchdogMs) {
        this.watchdogFires++;
        log.warn({ informer: name, namespace, silentMs: Date.now() - lastActivity }, 'watch silent for too long; restarting it');
        lastActivity = Date.now();
        // A silent watch usually means a dead link: pooled request sockets likely share its fate.
        this.client.resetConnections();
        current.abort();
      }
    }, Math.min(5000, Math.max(250, watchdogMs / 4)));
    dog.unref();
    const listFn = async () => {
      const list = await this.client.request<{ items: KubernetesObject[]; metadata: { resourceVersion: string } }>('GET', path, { query: { labelSelector } });
      list.items = list.items.map((o) => this.view(o));
      return list;
    };
    const lw = new ListWatch<KubernetesObject>(path, watcher, listFn as never, false, labelSelector);
    const backoff = new Backoff({ initialMs: 500, maxMs: MAX_BACKOFF_MS });
    for (const event of ['add', 'update', 'delete'] as const) {
      lw.on(event, (o) => { backoff.reset(); this.emit(event, o as unknown as T); });
    }
    lw.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.restarts++;
      const delay = backoff.next();
      // The watchdog's own abort was logged when it fired.
      if ((err as Error)?.name === 'AbortError') log.debug({ informer: name, namespace, retryInMs: delay }, 'watch aborted; restarting');
      else log.warn({ informer: name, namespace, err, retryInMs: delay }, 'watch failed; restarting');
      setTimeout(() => { if (!this.stopped) void lw.start(); }, delay).unref();
    });
    void lw.start();
    return lw;
  }

  private view(obj: KubernetesObject): KubernetesObject {
    const slimmed = slim(obj);
    return this.options.transform ? this.options.transform(slimmed) : slimmed;
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T): void {
    for (const h of this.handlers[event]) {
      try { h(obj); } catch (err) { this.options.log.error({ err, informer: this.options.name }, 'informer handler failed'); }
    }
  }
}
