// The dead-man switch, as pure arithmetic: a running step's Job carries an `activeDeadlineSeconds`
// that kube-controller-manager enforces on its own, and only a live, leading operator moves it
// forward. If the operator dies, is partitioned from the API server or is uninstalled, nobody moves it
// and Kubernetes fails the Job (reason DeadlineExceeded, its pods deleted) within `deadManSeconds`.
//
// Invariants:
// - While the operator is healthy a step never ends by the switch: the deadline is moved when half
//   of `deadManSeconds` is left, so a renewal has that half as its margin.
// - It never fights the step's own `timeout`: the deadline is never moved past the timeout (then the
//   step is bounded by its timeout alone, even without an operator), and a Job that Kubernetes ends at
//   that cap is recorded as timed out, not as ended by the switch.
// - Cost: one Job PATCH per running step every deadManSeconds / 2, i.e. 120 / deadManSeconds writes
//   per minute per running step (1 at the default 120 s), and nothing for a run with no running step.
// Nothing here imports the controller: the controller imports this.

/** The default of spec.deadManSeconds (also the CRD's default). */
export const DEFAULT_DEAD_MAN_SECONDS = 120;
/** The CRD's bounds: 0 (off) or MIN..MAX. */
export const MIN_DEAD_MAN_SECONDS = 10;
export const MAX_DEAD_MAN_SECONDS = 3600;

/** The Job condition reason Kubernetes gives a Job that ran past its activeDeadlineSeconds. */
export const DEADLINE_EXCEEDED = 'DeadlineExceeded';

/** Writes per minute per running step that keep a step alive (the README and the bench state it). */
export const renewalsPerMinute = (deadManSeconds: number): number => (deadManSeconds > 0 ? 120 / deadManSeconds : 0);

/** The cap the deadline never passes: the step's timeout, in whole seconds (Infinity without one). */
export const timeoutCap = (timeoutMs: number | undefined): number => (timeoutMs && timeoutMs > 0 ? Math.ceil(timeoutMs / 1000) : Infinity);

/** The step Job's activeDeadlineSeconds when it is created (undefined: the switch is off). */
export function initialDeadline(deadManSeconds: number, timeoutMs: number | undefined): number | undefined {
  if (deadManSeconds <= 0) return undefined;
  return Math.min(deadManSeconds, timeoutCap(timeoutMs));
}

/** What the operator knows of a running step's Job. */
export interface DeadlineView {
  /** When the Job's deadline counts from: status.startTime, or its creation before that is set. */
  startMs: number;
  activeDeadlineSeconds?: number;
}

export interface Renewal {
  /** The new activeDeadlineSeconds (null: remove it, the switch was turned off); absent: no write now. */
  set?: number | null;
  /** When to look again (the next renewal point); absent: never needed. */
  wakeAtMs?: number;
}

/**
 * Whether a running step's deadline must move now, to what, and when to look again. Renewal happens
 * when at most half of deadManSeconds is left; the new deadline is `now + deadManSeconds` (relative
 * to the Job's start), never beyond the timeout cap. A lowered deadManSeconds lowers the deadline.
 */
export function renewDeadline(deadManSeconds: number, timeoutMs: number | undefined, job: DeadlineView, now: number): Renewal {
  const current = job.activeDeadlineSeconds;
  if (deadManSeconds <= 0) return current === undefined ? {} : { set: null };
  // A deadline already passed is final: Kubernetes ends that Job, and a late renewal must not race it.
  if (current !== undefined && now - job.startMs >= current * 1000) return {};
  const cap = timeoutCap(timeoutMs);
  const elapsed = Math.max(0, Math.ceil((now - job.startMs) / 1000));
  const wanted = Math.min(cap, elapsed + deadManSeconds);
  const half = deadManSeconds / 2;
  const wakeFor = (ads: number) => (ads >= cap ? {} : { wakeAtMs: job.startMs + (ads - half) * 1000 });
  if (current === undefined || current > wanted || (current < cap && current - elapsed <= half)) {
    return { set: wanted, ...wakeFor(wanted) };
  }
  return wakeFor(current);
}

/**
 * Why Kubernetes failed a step's Job at its deadline: the step's timeout (the deadline had reached the
 * cap) or the dead-man switch (nobody renewed it). A deadline the operator was still renewing can
 * also be missed by an operator too slow for half of deadManSeconds: that, too, is the switch.
 */
export function deadlineCause(activeDeadlineSeconds: number | undefined, timeoutMs: number | undefined): 'Timeout' | 'DeadManSwitch' {
  return activeDeadlineSeconds !== undefined && activeDeadlineSeconds >= timeoutCap(timeoutMs) ? 'Timeout' : 'DeadManSwitch';
}

/** A run's deadManSeconds (the CRD always sets it; objects built by hand get the same default). */
export const deadManSecondsOf = (spec: { deadManSeconds?: number }): number => spec.deadManSeconds ?? DEFAULT_DEAD_MAN_SECONDS;
