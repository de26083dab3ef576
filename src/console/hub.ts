// Fans the signal server's ChaosRun informer out to live viewers (the console and GET /runs/stream).
// Invariant: a console nobody looks at costs nothing. With no subscriber the hub keeps no state, runs
// no timer and makes no API call: the informer's events are dropped at the first line. With viewers,
// each change is turned into its view and serialized once, then written to every stream that may see it;
// a change that leaves the view as it was (a resourceVersion bump, a managed field) is not sent at all.
import type { ChaosRun } from '../api/types.ts';
import { objectKey } from '../kube/informer.ts';
import { runView, type RunView } from './view.ts';

/** The informer, narrowed to what the hub reads. */
export interface RunFeed {
  list(): ChaosRun[];
  on(event: 'add' | 'update' | 'delete', handler: (run: ChaosRun) => void): void;
}

export type Change =
  | { type: 'run'; namespace: string; name: string; view: RunView; json: string }
  | { type: 'delete'; namespace: string; name: string; json: string };

export type Subscriber = (change: Change) => void;

/** A run the signal server may show (krkn's publish_kraken_status): the same rule as the HTTP API. */
const published = (run: ChaosRun) => run.spec.publishStatus !== false;

export class RunHub {
  private readonly subscribers = new Set<Subscriber>();
  /** Last view sent per run, as JSON; kept only while someone watches. */
  private readonly sent = new Map<string, string>();
  private readonly feed: RunFeed;

  constructor(feed: RunFeed) {
    this.feed = feed;
    feed.on('add', (r) => this.changed(r));
    feed.on('update', (r) => this.changed(r));
    feed.on('delete', (r) => this.removed(r));
  }

  get viewers(): number { return this.subscribers.size; }

  /** The views of every published run now, by namespace/name. */
  snapshot(): RunView[] {
    return this.feed.list().filter(published).map(runView)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  subscribe(fn: Subscriber): () => void {
    if (this.subscribers.size === 0) {
      for (const r of this.feed.list()) if (published(r)) this.sent.set(objectKey(r), JSON.stringify(runView(r)));
    }
    this.subscribers.add(fn);
    return () => {
      this.subscribers.delete(fn);
      if (this.subscribers.size === 0) this.sent.clear();
    };
  }

  private changed(run: ChaosRun): void {
    if (this.subscribers.size === 0) return;
    if (!published(run)) { this.removed(run); return; }
    const key = objectKey(run);
    const view = runView(run);
    const json = JSON.stringify(view);
    if (this.sent.get(key) === json) return;
    this.sent.set(key, json);
    this.emit({ type: 'run', namespace: view.namespace, name: view.name, view, json });
  }

  private removed(run: ChaosRun): void {
    if (this.subscribers.size === 0) return;
    const key = objectKey(run);
    if (!this.sent.delete(key)) return;
    const { namespace, name } = run.metadata;
    this.emit({ type: 'delete', namespace, name, json: JSON.stringify({ namespace, name }) });
  }

  private emit(change: Change): void {
    for (const fn of this.subscribers) fn(change);
  }
}
