// A keyed work queue: a key is processed by at most one worker at a time (a key added while it is
// being processed runs once more afterwards), keys run in parallel up to `concurrency`, failures
// retry with per-key exponential backoff, and delayed adds keep only the earliest wake-up per key.
export type Worker = (key: string) => Promise<{ requeueAfterMs?: number } | void>;

export interface QueueOptions {
  concurrency: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private running = false;
  private readonly worker: Worker;
  private readonly o: Required<Omit<QueueOptions, 'onError'>> & Pick<QueueOptions, 'onError'>;

  constructor(worker: Worker, options: QueueOptions) {
    this.worker = worker;
    this.o = { baseBackoffMs: 100, maxBackoffMs: 30_000, ...options };
  }

  get length(): number { return this.pending.size; }
  get busy(): number { return this.active.size; }

  add(key: string): void {
    if (this.active.has(key)) { this.dirty.add(key); return; }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.order.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (ms <= 0) { this.add(key); return; }
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => { this.timers.delete(key); this.add(key); }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Starts dispatching (queued keys keep their place while stopped). */
  start(): void { this.running = true; this.pump(); }

  /** Stops dispatching new work at once; work in flight finishes. */
  stop(): void { this.running = false; }

  shutdown(): void {
    this.stop();
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private pump(): void {
    while (this.running && this.active.size < this.o.concurrency && this.order.length > 0) {
      const key = this.order.shift()!;
      this.pending.delete(key);
      this.active.add(key);
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.worker(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.o.onError?.(key, err);
      this.addAfter(key, Math.min(this.o.baseBackoffMs * 2 ** (n - 1), this.o.maxBackoffMs));
    } finally {
      this.active.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
