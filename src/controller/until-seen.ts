// What this process wrote and its informer cache has not shown yet, one entry per run: the reconciler
// keeps the step Job it just created ("expectations", as controller-runtime's ReplicaSet controller
// keeps them) and the run as it last wrote it (read-your-writes) this way. An entry stands until the
// cache shows the write, or for `ttlMs` at most: a watch that never delivers it is not believed
// forever, and the API server's AlreadyExists or conflict is then the safety net. Memory only.

export class UntilSeen<T> {
  /** In the order they were set (a key set again moves to the end), so the lapsed ones come first. */
  private readonly entries = new Map<string, { value: T; at: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(ttlMs: number, now: () => number) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  set(key: string, value: T): void {
    const now = this.now();
    // Entries of runs nobody asks about again (deleted before the cache caught up) lapse here.
    for (const [k, e] of this.entries) {
      if (now - e.at <= this.ttlMs) break;
      this.entries.delete(k);
    }
    this.entries.delete(key);
    this.entries.set(key, { value, at: now });
  }

  /** The entry while the cache has not `seen` it and it has not lapsed; otherwise it is dropped. */
  get(key: string, seen: (value: T) => boolean): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (!seen(e.value) && this.now() - e.at <= this.ttlMs) return e.value;
    this.entries.delete(key);
    return undefined;
  }
}
