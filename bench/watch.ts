// The bench's own eyes: informers on its ChaosRuns and Jobs that timestamp the first event after
// which a condition holds. A wait is registered before the write it times, so an event that beats
// the write's response is not missed. The Job watch also keeps the ledger that finds duplicate steps.
import type { V1Job } from '@kubernetes/client-node';
import { LABEL_ITERATION, LABEL_RUN, LABEL_STEP_INDEX } from '../src/api/constants.ts';
import type { ChaosRun } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { Informer, objectKey, type ApiObject } from '../src/kube/informer.ts';
import { paths } from '../src/kube/paths.ts';
import { createLogger } from '../src/log.ts';

/** A wait that ran out; `missing` names the objects the condition never held for. */
export class WaitTimeout extends Error {
  readonly missing: string[];
  constructor(what: string, timeoutMs: number, missing: string[]) {
    super(`timed out after ${timeoutMs / 1000}s waiting for ${what}: ${missing.length} never did (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`);
    this.name = 'WaitTimeout';
    this.missing = missing;
  }
}

interface Waiter<T> { remaining: Set<string>; test: (o: T | undefined) => boolean; done: (at: number) => void }


export class Watched<T extends ApiObject> {
  private readonly informer: Informer<T>;
  private readonly waiters = new Set<Waiter<T>>();
  private readonly noneWaiters = new Set<{ left: () => T[]; done: (at: number) => void }>();

  constructor(informer: Informer<T>) {
    this.informer = informer;
    informer.on('add', (o) => this.saw(objectKey(o), o));
    informer.on('update', (o) => this.saw(objectKey(o), o));
    informer.on('delete', (o) => this.saw(objectKey(o), undefined));
  }

  get(namespace: string, name: string): T | undefined { return this.informer.get(name, namespace); }

  list(namespace: string): T[] { return this.informer.list(namespace); }

  /**
   * Resolves with the time (performance.now()) of the event after which `test` holds for every named
   * object (given the object, or undefined once it is gone), or at once if it already does.
   */
  whenAll(namespace: string, names: readonly string[], test: (o: T | undefined) => boolean, timeoutMs: number, what: string): Promise<number> {
    const remaining = new Set(names.filter((n) => !test(this.get(namespace, n))).map((n) => `${namespace}/${n}`));
    if (remaining.size === 0) return Promise.resolve(performance.now());
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new WaitTimeout(what, timeoutMs, [...remaining]));
      }, timeoutMs);
      const waiter: Waiter<T> = { remaining, test, done: (at) => { clearTimeout(timer); this.waiters.delete(waiter); resolve(at); } };
      this.waiters.add(waiter);
    });
  }

  when(namespace: string, name: string, test: (o: T | undefined) => boolean, timeoutMs: number, what: string): Promise<number> {
    return this.whenAll(namespace, [name], test, timeoutMs, what);
  }

  /** Resolves with the time of the event after which the namespace holds no object that `matches`. */
  whenNone(namespace: string, matches: (o: T) => boolean, timeoutMs: number, what: string): Promise<number> {
    const left = () => this.list(namespace).filter(matches);
    if (left().length === 0) return Promise.resolve(performance.now());
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.noneWaiters.delete(waiter);
        reject(new WaitTimeout(what, timeoutMs, left().map((o) => objectKey(o))));
      }, timeoutMs);
      const waiter = { left, done: (at: number) => { clearTimeout(timer); this.noneWaiters.delete(waiter); resolve(at); } };
      this.noneWaiters.add(waiter);
    });
  }

  stop(): void { this.informer.stop(); }

  private saw(key: string, obj: T | undefined): void {
    const at = performance.now();
    for (const w of this.noneWaiters) if (w.left().length === 0) w.done(at);
    for (const w of this.waiters) {
      if (w.remaining.has(key) && w.test(obj)) {
        w.remaining.delete(key);
        if (w.remaining.size === 0) w.done(at);
      }
    }
  }
}

export interface BenchWatch {
  runs: Watched<ChaosRun>;
  jobs: Watched<V1Job>;
  /** (run uid, iteration, step) keys that were ever held by more than one Job: a duplicated step. */
  duplicateSteps(): string[];
  stop(): void;
}

export async function watchBench(client: KubeClient, namespaces: string[]): Promise<BenchWatch> {
  const log = createLogger('bench', 'warn');
  const runInformer = new Informer<ChaosRun>(client, { name: 'chaosruns', path: (ns) => paths.chaosRuns(ns), namespaces, log });
  const jobInformer = new Informer<V1Job>(client, { name: 'jobs', path: (ns) => paths.jobs(ns), namespaces, labelSelector: LABEL_RUN, log });
  // Job names are deterministic, so a duplicated step shows as a second uid for one (run, iteration, step).
  const jobUids = new Map<string, Set<string>>();
  jobInformer.on('add', (j) => {
    const labels = j.metadata?.labels ?? {};
    const owner = j.metadata?.ownerReferences?.[0]?.uid ?? labels[LABEL_RUN];
    const key = `${j.metadata?.namespace}/${labels[LABEL_RUN]} (run ${owner}) iteration ${labels[LABEL_ITERATION]} step ${labels[LABEL_STEP_INDEX]}`;
    const uids = jobUids.get(key) ?? new Set<string>();
    uids.add(j.metadata?.uid ?? '');
    jobUids.set(key, uids);
  });
  const runs = new Watched(runInformer);
  const jobs = new Watched(jobInformer);
  await Promise.all([runInformer.start(), jobInformer.start()]);
  return {
    runs, jobs,
    duplicateSteps: () => [...jobUids].filter(([, uids]) => uids.size > 1).map(([key]) => key),
    stop: () => { runs.stop(); jobs.stop(); },
  };
}
