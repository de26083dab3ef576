// A keyed work queue: a key is processed by at most one worker at a time (a key added while it is
// being processed runs once more afterwards), keys run in parallel up to `concurrency`, and delayed
// adds keep only the earliest wake-up per key. What happens after a pass depends on its outcome:
// - ok / requeueAfter: the failure counts reset; the key comes back after `requeueAfterMs`, if given.
// - conflict: the cache was stale. The watch will deliver the newer object, and its event runs the key
//   at once; until then retries back off (from 50 ms, doubling, capped), so a stalled watch costs a
//   few writes, not a PUT → 409 loop.
// - error: retried with per-key exponential backoff.
// - terminal: retrying cannot help (the API server refuses what we send); no retry, only the
//   `requeueAfterMs` the worker asks for (the controller's slow fallback).
// A key's pending timer is dropped when the key starts: each pass computes its own next wake-up.
// Signals take a priority lane: a key added with `priority` (a run whose signal changed) goes before
// every key in the routine lane, so a STOP never waits behind a thousand runs' step bookkeeping.
/** What queued a pass: a watch event, a new signal, a requeue timer, a backoff retry, leadership starting, a gate verdict. */
export type Trigger = 'event' | 'signal' | 'timer' | 'retry' | 'start' | 'gate';

export type Outcome =
  | { kind: 'ok'; requeueAfterMs?: number }
  | { kind: 'requeueAfter'; requeueAfterMs: number }
  | { kind: 'conflict' }
  | { kind: 'error'; err: unknown }
  | { kind: 'terminal'; err: unknown; requeueAfterMs?: number };

export type Worker = (key: string, trigger: Trigger) => Promise<Outcome>;

export interface Backoff { baseMs: number; maxMs: number }

export interface QueueOptions {
  concurrency: number;
  errorBackoff?: Backoff;
  conflictBackoff?: Backoff;
  /** Called after every pass (metrics); a worker that throws is reported as an error outcome. */
  onOutcome?: (key: string, outcome: Outcome) => void;
}

export const DEFAULT_ERROR_BACKOFF: Backoff = { baseMs: 100, maxMs: 30_000 };
export const DEFAULT_CONFLICT_BACKOFF: Backoff = { baseMs: 50, maxMs: 10_000 };

const delay = (b: Backoff, n: number) => Math.min(b.baseMs * 2 ** (n - 1), b.maxMs);

export class WorkQueue {
  /** Keys waiting for a worker, in arrival order, with what queued them: the priority lane and the routine one. */
  private readonly urgent = new Map<string, Trigger>();
  private readonly pending = new Map<string, Trigger>();
  private readonly active = new Set<string>();
  private readonly dirty = new Map<string, { trigger: Trigger; priority: boolean }>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly errors = new Map<string, number>();
  private readonly conflicts = new Map<string, number>();
  private running = false;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly worker: Worker;
  private readonly o: Required<Omit<QueueOptions, 'onOutcome'>> & Pick<QueueOptions, 'onOutcome'>;

  constructor(worker: Worker, options: QueueOptions) {
    this.worker = worker;
    this.o = { errorBackoff: DEFAULT_ERROR_BACKOFF, conflictBackoff: DEFAULT_CONFLICT_BACKOFF, ...options };
  }

  get length(): number { return this.urgent.size + this.pending.size; }
  get busy(): number { return this.active.size; }
  /** When the key's timer fires (ms since the epoch), for tests and diagnosis. */
  wakeAt(key: string): number | undefined { return this.timers.get(key)?.at; }

  add(key: string, trigger: Trigger = 'event', priority = false): void {
    if (this.active.has(key)) {
      const d = this.dirty.get(key);
      if (!d || (priority && !d.priority)) this.dirty.set(key, { trigger, priority });
      return;
    }
    if (this.urgent.has(key)) return;
    if (priority) {
      // Moves out of the routine lane, if it waited there.
      this.pending.delete(key);
      this.urgent.set(key, trigger);
    } else if (!this.pending.has(key)) {
      this.pending.set(key, trigger);
    }
    this.pump();
  }

  addAfter(key: string, ms: number, trigger: Trigger = 'timer'): void {
    if (this.closed) return;
    if (ms <= 0) { this.add(key, trigger); return; }
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => { this.timers.delete(key); this.add(key, trigger); }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Starts dispatching (queued keys keep their place while stopped). */
  start(): void { this.running = true; this.pump(); }

  /** Stops dispatching new work at once; work in flight finishes. */
  stop(): void { this.running = false; }

  /**
   * Stops dispatching, drops the timers, and resolves once no pass is in flight (true) or after
   * `graceMs` (false), so the caller can release what those passes use (the leader Lease, the client).
   */
  async drain(graceMs: number): Promise<boolean> {
    this.stop();
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.active.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((r) => this.idle.push(() => r(true))),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), graceMs); }),
    ]);
    clearTimeout(timer);
    return drained;
  }

  private pump(): void {
    while (this.running && this.active.size < this.o.concurrency && this.length > 0) {
      const lane = this.urgent.size > 0 ? this.urgent : this.pending;
      const [key, trigger] = lane.entries().next().value!;
      lane.delete(key);
      this.active.add(key);
      const t = this.timers.get(key);
      if (t) { clearTimeout(t.timer); this.timers.delete(key); }
      void this.process(key, trigger);
    }
  }

  private async process(key: string, trigger: Trigger): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.worker(key, trigger);
    } catch (err) {
      outcome = { kind: 'error', err };
    }
    try {
      this.o.onOutcome?.(key, outcome);
    } finally {
      this.after(key, outcome);
      this.active.delete(key);
      const again = this.dirty.get(key);
      if (again !== undefined) { this.dirty.delete(key); this.add(key, again.trigger, again.priority); }
      if (this.active.size === 0 && this.idle.length > 0) for (const done of this.idle.splice(0)) done();
      this.pump();
    }
  }

  private after(key: string, outcome: Outcome): void {
    switch (outcome.kind) {
      case 'conflict': {
        const n = (this.conflicts.get(key) ?? 0) + 1;
        this.conflicts.set(key, n);
        this.addAfter(key, delay(this.o.conflictBackoff, n), 'retry');
        return;
      }
      case 'error': {
        const n = (this.errors.get(key) ?? 0) + 1;
        this.errors.set(key, n);
        this.addAfter(key, delay(this.o.errorBackoff, n), 'retry');
        return;
      }
      default:
        this.errors.delete(key);
        this.conflicts.delete(key);
        if (outcome.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs, 'timer');
    }
  }
}
