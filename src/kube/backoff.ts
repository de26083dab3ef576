// Exponential backoff with jitter, for restarting watches. Without jitter, the per-namespace watches
// of one informer (and the informers of every replica) fail together and retry together, in step,
// against an API server that is just coming back. Each delay is drawn from [half, all] of the current
// step ("equal jitter"), so retries spread out while the upper bound stays what the cap promises.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  random?: () => number;
}

export class Backoff {
  private step: number;
  private readonly o: Required<BackoffOptions>;

  constructor(options: BackoffOptions) {
    this.o = { random: Math.random, ...options };
    this.step = options.initialMs;
  }

  /** The delay before the next retry; the step after it doubles, up to maxMs. */
  next(): number {
    const step = this.step;
    this.step = Math.min(step * 2, this.o.maxMs);
    return Math.round(step / 2 + this.o.random() * (step / 2));
  }

  /** Back to the initial step (after a success). */
  reset(): void { this.step = this.o.initialMs; }
}
