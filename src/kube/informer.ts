// Informers: a list, then a watch from the list's resourceVersion, per namespace (one cluster-wide
// when no namespace list is given), keeping a cache of the objects and telling handlers what changed.
// Written on our REST client rather than @kubernetes/client-node's ListWatch (which loads all of
// client-node: about 80 MiB per process, see kubeconfig.ts). What it guarantees:
// - a watch that ends (the server's timeout) resumes from the last resourceVersion seen (bookmarks are
//   requested so a quiet watch still advances it); one the server answers 410 Gone relists, and the
//   handlers hear the difference (adds, updates, deletes), so nothing is missed;
// - after an error it retries with exponential backoff capped at 2 s, jittered so the per-namespace
//   watches that failed together do not retry in step;
// - a watch can stall silently on a half-open connection: a watchdog aborts a watch that shows no
//   event or bookmark for `watchdogMs` and drops the pooled request sockets with it; the loop then
//   re-watches.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { Backoff } from './backoff.ts';
import { KubeError, type KubeClient } from './client.ts';

export type Handler<T> = (obj: T) => void;

export interface InformerOptions {
  /** Collection path for a namespace ('' = all namespaces), e.g. ns => paths.jobs(ns). */
  path: (namespace?: string) => string;
  namespaces?: string[];
  labelSelector?: string;
  /** e.g. metadata.name=x: one object by name, which a Role with resourceNames may allow to list and watch. */
  fieldSelector?: string;
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

interface Reflector {
  store: Map<string, KubernetesObject>;
  listed: boolean;
}

const rvOf = (o: unknown) => (o as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion ?? '';
const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const isGone = (e: unknown) => e instanceof KubeError && e.status === 410;

export class Informer<T extends ApiObject> implements Store<T> {
  private readonly reflectors: Reflector[] = [];
  private readonly aborts = new Set<AbortController>();
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
    for (const r of this.reflectors) {
      const o = r.store.get(`${namespace}/${name}`);
      if (o) return o as unknown as T;
    }
    return undefined;
  }

  list(namespace?: string): T[] {
    const all = this.reflectors.flatMap((r) => [...r.store.values()]) as unknown as T[];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  get synced(): boolean { return this.reflectors.length > 0 && this.reflectors.every((r) => r.listed); }

  /**
   * The objects as the API server holds them now, not as the watch has brought them so far: one list
   * per watched namespace (a quorum read), through the same selectors and transform. For the reader
   * that must not miss an object created a moment ago (the kill switch); the cache is not changed.
   */
  async fresh(): Promise<T[]> {
    const lists = await Promise.all(this.scopes().map((ns) => this.listAt(this.options.path(ns))));
    return lists.flatMap((l) => l.items.map((o) => this.view(o))) as unknown as T[];
  }

  /** The namespaces watched, one list and watch each; [undefined]: one cluster-wide. */
  private scopes(): Array<string | undefined> {
    return this.options.namespaces?.length ? this.options.namespaces : [undefined];
  }

  /** One list of the collection at `path`, with the informer's selectors. */
  private listAt(path: string) {
    const { labelSelector, fieldSelector } = this.options;
    return this.client.request<{ items: KubernetesObject[]; metadata: { resourceVersion: string } }>('GET', path, { query: { labelSelector, fieldSelector } });
  }

  /** Starts listing and watching; resolves once every namespace has been listed. */
  async start(): Promise<void> {
    for (const ns of this.scopes()) this.reflectors.push(this.startOne(ns));
    while (!this.synced) {
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  private startOne(namespace: string | undefined): Reflector {
    const { log, name, labelSelector, fieldSelector } = this.options;
    const path = this.options.path(namespace);
    const watchdogMs = this.options.watchdogMs ?? 75_000;
    const reflector: Reflector = { store: new Map(), listed: false };
    const { store } = reflector;
    const backoff = new Backoff({ initialMs: 500, maxMs: MAX_BACKOFF_MS });
    let rv = '';
    let lastActivity = Date.now();
    let current: AbortController | undefined;

    const relist = async () => {
      const list = await this.listAt(path);
      const fresh = new Map(list.items.map((o) => { const v = this.view(o); return [keyOf(v), v] as const; }));
      for (const [k, old] of store) if (!fresh.has(k)) { store.delete(k); this.emit('delete', old); }
      for (const [k, o] of fresh) {
        const had = store.get(k);
        store.set(k, o);
        if (!had) this.emit('add', o);
        else if (rvOf(had) !== rvOf(o)) this.emit('update', o);
      }
      rv = list.metadata.resourceVersion;
      reflector.listed = true;
    };

    const watchOnce = async () => {
      const abort = new AbortController();
      current = abort;
      this.aborts.add(abort);
      lastActivity = Date.now();
      let failure: unknown;
      try {
        // The server ends a watch after timeoutSeconds; spread over 5-10 min as client-go does.
        const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
        await this.client.watch(path, { labelSelector, fieldSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds }, (event) => {
          lastActivity = Date.now();
          if (event.type === 'ERROR') {
            const st = event.object as { code?: number; reason?: string; message?: string };
            failure = new KubeError(st.code ?? 500, st.reason ?? 'Error', st.message ?? 'watch error');
            abort.abort();
            return;
          }
          const obj = event.object as KubernetesObject;
          if (event.type === 'BOOKMARK') { rv = rvOf(obj) || rv; return; }
          backoff.reset();
          const v = this.view(obj);
          rv = rvOf(v) || rv;
          const k = keyOf(v);
          if (event.type === 'DELETED') { store.delete(k); this.emit('delete', v); return; }
          const had = store.has(k);
          store.set(k, v);
          this.emit(had ? 'update' : 'add', v);
        }, abort.signal);
      } catch (err) {
        throw failure ?? err;
      } finally {
        this.aborts.delete(abort);
        current = undefined;
      }
      if (failure) throw failure;
    };

    // The watchdog: no event or bookmark for watchdogMs means a stalled connection; abort it, and the
    // loop below re-watches.
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

    void (async () => {
      while (!this.stopped) {
        try {
          if (!rv) await relist();
          await watchOnce();
        } catch (err) {
          if (this.stopped) break;
          if (isGone(err)) { rv = ''; continue; } // too old to resume: list again (the handlers hear the difference)
          this.restarts++;
          const delay = backoff.next();
          // The watchdog's own abort was logged when it fired.
          if ((err as Error)?.name === 'AbortError') log.debug({ informer: name, namespace, retryInMs: delay }, 'watch aborted; restarting');
          else log.warn({ informer: name, namespace, err, retryInMs: delay }, 'watch failed; restarting');
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    })();
    return reflector;
  }

  private view(obj: KubernetesObject): KubernetesObject {
    const slimmed = slim(obj);
    return this.options.transform ? this.options.transform(slimmed) : slimmed;
  }

  private emit(event: 'add' | 'update' | 'delete', obj: KubernetesObject): void {
    for (const h of this.handlers[event]) {
      try { h(obj as unknown as T); } catch (err) { this.options.log.error({ err, informer: this.options.name }, 'informer handler failed'); }
    }
  }
}
