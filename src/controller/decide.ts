// The functional core: what a ChaosRun should do next, as a pure function of the run, its Jobs and
// the time. Every rule about iterations, daemon mode, waits, PAUSE, STOP, timeouts and the failure
// policy lives here; the reconcile shell only carries the resulting actions out.
//
// Crash safety comes from the order the shell applies actions in: the status write goes first (after
// adding the finalizer, itself conditional), with the resourceVersion the decision was computed from,
// and nothing else happens if it conflicts. A
// step's intent (status.activeJob) is therefore recorded before its Job is created, and a stale view
// of the run can never start a step: its status write fails first. One exception, to end chaos first:
// under STOP the running step's Job is deleted before the status write. STOP is final (the API server
// refuses to change it back), so a STOP in the cache is never a stale view, and deleting starts nothing.
//
// Events tell the story a person reads in `kubectl describe`, at a cost of about one per iteration:
// Started, Paused/Resumed, a Warning for each failed or aborted step, IterationCompleted with each
// step's result, and the run's end with its report (a step that ended with the run is folded into it).
import { isDeepStrictEqual } from 'node:util';
import { FINALIZER } from '../api/constants.ts';
import { parseDuration } from '../api/duration.ts';
import {
  FAULT_RECORDS_LIMIT, isFinal, type ChaosRun, type ChaosRunStatus, type FaultEndReason, type Phase, type Report, type StepCounts,
  type StepReason, type StepRecord, type StepResult,
} from '../api/types.ts';
import type { EventType } from '../kube/events.ts';
import { deadManSecondsOf, DEADLINE_EXCEEDED, deadlineCause, renewDeadline } from '../safety/dead-man.ts';
import { evaluateSchedule } from '../safety/window.ts';
import type { StepPlan } from '../scenarios/kind.ts';
import { helperNamespaceOf, runUsesHelperNamespaces, type ObservedHelperNamespace } from '../scenarios/krkn-helpers.ts';
import { phaseConditions, setCondition } from './conditions.ts';
import { jobName } from './job-name.ts';
import { leftoverActions, type DeleteHelperNamespace, HELPER_RECHECK_MS } from './krkn-leftovers.ts';
import { addTransition, signalTransition } from './transitions.ts';

/** What the shell saw of one of the run's Jobs (one the API server refused to create is seen as Failed, with its message). */
export interface ObservedJob {
  name: string;
  iteration: number;
  stepIndex: number;
  state: 'Active' | 'Succeeded' | 'Failed';
  /** The Job has a deletionTimestamp. */
  deleting: boolean;
  /** When it finished (its Complete or Failed condition). */
  finishTime?: string;
  /** Why it failed, one line (from the Job's condition and its pod's termination message). */
  message?: string;
  /** The reason of its Failed condition (DeadlineExceeded: its activeDeadlineSeconds ran out). */
  failureReason?: string;
  /** The API server refused to create it (or it could not be rendered): it never existed. */
  refused?: boolean;
  /** When its activeDeadlineSeconds counts from (status.startTime, else its creation). */
  startTime?: string;
  activeDeadlineSeconds?: number;
  /** A lasting fault's holder: the targets it recorded on its pod (absent until it has), and the fault. */
  fault?: {
    kind: string; leaseSeconds: number; targets: Array<{ namespace: string; pod: string; node: string }>;
    /** The node agents' reports (absent: none read): every target's fault in force, how many are, and the targets whose node refused it. */
    confirmed?: boolean;
    inForce?: number;
    refused?: Array<{ node: string; namespace: string; pod: string; reason: string }>;
  };
  /** Its holder pod could not be read this pass (an API error): status.faults stays as it was, neither ended nor begun. */
  faultUnread?: boolean;
}

/** A gate's verdict (see src/gates): held gates act like PAUSE, a firing stop gate like STOP. */
export interface GateView {
  held?: { gate: string; message: string };
  stop?: { gate: string; message: string };
}

export type Action =
  | { kind: 'writeStatus'; status: ChaosRunStatus }
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'createJob'; name: string; iteration: number; stepIndex: number }
  | { kind: 'deleteJob'; name: string; propagation: 'Foreground' | 'Background'; reason: string }
  /** The dead-man switch's renewal: move a running step Job's activeDeadlineSeconds (null removes it). */
  | { kind: 'renewDeadline'; name: string; activeDeadlineSeconds: number | null }
  | { kind: 'endTimedPause' }
  | { kind: 'event'; type: EventType; reason: string; message: string }
  | { kind: 'report'; report: Report }
  /** A krkn step's helper namespace (what krkn left there) goes: see krkn-leftovers.ts. */
  | DeleteHelperNamespace;

export interface Decision { actions: Action[]; requeueAfterMs?: number }

/** What the step at `stepIndex` would do (src/safety/dry-run.ts); `ok: false` means it would fail. */
export interface DryRunPlan extends StepPlan { stepIndex: number }

export interface DecideOptions {
  /** Finished Jobs kept per run (older ones are deleted once recorded). */
  keepFinishedJobs: number;
  gates?: GateView;
  /** With spec.dryRun: the plan of the step the cursor is on, computed by the shell. */
  dryRunPlan?: DryRunPlan;
  /**
   * The run's krkn helper namespaces the shell listed (src/scenarios/krkn-helpers.ts); undefined: not
   * read this pass (none are removed, and a deleted run keeps its finalizer until they are read).
   */
  helperNamespaces?: ObservedHelperNamespace[];
}

export const defaultDecideOptions: DecideOptions = { keepFinishedJobs: 5 };

const ZERO_COUNTS: StepCounts = { succeeded: 0, failed: 0, aborted: 0 };
const iso = (ms: number) => new Date(ms).toISOString();
const before = (a: { iteration: number; stepIndex: number }, it: number, idx: number) =>
  a.iteration < it || (a.iteration === it && a.stepIndex < idx);

/** The least wait before the next step after two refused steps in a row (see completeStep). */
export const REFUSED_AGAIN_WAIT_MS = 30_000;

/** The longest requeue decide asks for (a far window boundary is reached in several steps). */
export const MAX_REQUEUE_MS = 86_400_000;

/**
 * Schedule gates (chaos windows) are pure arithmetic on `now`, so decide evaluates them itself, merged
 * after the shell's verdicts, and wakes the run at the next boundary. A schedule that cannot be
 * evaluated (an unknown time zone) holds as a pauseWhen gate and never fires as a stopWhen gate.
 */
function withSchedules(run: ChaosRun, now: number, view: GateView | undefined): { gates: GateView; wakeAt?: number } {
  let wakeAt: number | undefined;
  const first = (role: 'pause' | 'stop') => {
    for (const gate of (role === 'pause' ? run.spec.gates?.pauseWhen : run.spec.gates?.stopWhen) ?? []) {
      if (!gate.schedule) continue;
      try {
        const v = evaluateSchedule(gate.schedule, now);
        if (v.nextChangeMs !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, v.nextChangeMs);
        if (v.true) return { gate: gate.name, message: v.message };
      } catch (err) {
        if (role === 'pause') return { gate: gate.name, message: `schedule cannot be evaluated: ${(err as Error).message}` };
      }
    }
    return undefined;
  };
  const held = view?.held ?? first('pause');
  const stop = view?.stop ?? first('stop');
  return { gates: { ...(held ? { held } : {}), ...(stop ? { stop } : {}) }, ...(wakeAt !== undefined ? { wakeAt } : {}) };
}

export function decide(run: ChaosRun, jobs: ObservedJob[], now: number, options: DecideOptions = defaultDecideOptions): Decision {
  if (run.metadata.deletionTimestamp) return onDeletion(run, jobs, options);
  if (isFinal(run.status?.phase)) return onFinished(run, jobs, now, options);
  if (!run.spec.gates?.pauseWhen?.some((g) => g.schedule) && !run.spec.gates?.stopWhen?.some((g) => g.schedule)) {
    return new Step(run, jobs, now, options).decide();
  }
  const { gates, wakeAt } = withSchedules(run, now, options.gates);
  const decision = new Step(run, jobs, now, { ...options, gates }).decide();
  if (wakeAt === undefined) return decision;
  const after = Math.min(Math.max(0, wakeAt - now), MAX_REQUEUE_MS);
  return { ...decision, requeueAfterMs: Math.min(decision.requeueAfterMs ?? Infinity, after) };
}

/**
 * Deleting the run stops it cleanly: delete the running Job and its krkn helper namespaces, wait until
 * they are gone, then release.
 */
function onDeletion(run: ChaosRun, jobs: ObservedJob[], options: DecideOptions): Decision {
  if (!run.metadata.finalizers?.includes(FINALIZER)) return { actions: [] };
  const running = jobs.filter((j) => j.state === 'Active');
  const actions: Action[] = running.filter((j) => !j.deleting)
    .map((j) => ({ kind: 'deleteJob', name: j.name, propagation: 'Foreground', reason: 'the ChaosRun is being deleted' }));
  const helpers = options.helperNamespaces;
  const leftovers = leftoverActions(helpers, undefined, 'the ChaosRun is being deleted');
  actions.push(...leftovers.actions);
  const unread = helpers === undefined && runUsesHelperNamespaces(run);
  if (running.length === 0 && !unread && leftovers.actions.length === 0) actions.push({ kind: 'removeFinalizer' });
  const requeueAfterMs = unread ? HELPER_RECHECK_MS : leftovers.requeueAfterMs;
  return { actions, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

/** A finished run: no step ever starts again; leftovers are cleaned up and late signals answered. */
function onFinished(run: ChaosRun, jobs: ObservedJob[], now: number, options: DecideOptions): Decision {
  const st = run.status!;
  const actions: Action[] = jobs
    .filter((j) => j.state === 'Active' && !j.deleting)
    .map((j) => ({ kind: 'deleteJob', name: j.name, propagation: 'Foreground', reason: `the run is ${st.phase}` }));
  actions.push(...pruneFinishedJobs(jobs, Infinity, Infinity, options.keepFinishedJobs));
  // No step runs any more: what krkn left in any step's helper namespace goes.
  const leftovers = leftoverActions(options.helperNamespaces, undefined, `the run is ${st.phase}`);
  actions.push(...leftovers.actions);
  const generation = run.metadata.generation;
  if (generation !== undefined && generation !== st.observedGeneration) {
    const signal = run.spec.signalState;
    const message = signal !== st.observedSignal
      ? `signal ${signal} ignored at ${iso(now)}: the run is ${st.phase} and cannot change`
      : `spec change ignored at ${iso(now)}: the run is ${st.phase}`;
    const status: ChaosRunStatus = {
      ...st,
      observedGeneration: generation,
      conditions: setCondition(st.conditions ?? [], 'Running', false, 'SignalIgnored', message, generation, iso(now)),
    };
    actions.unshift({ kind: 'writeStatus', status });
    actions.push({ kind: 'event', type: 'Warning', reason: 'SignalIgnored', message });
  }
  return { actions, ...(leftovers.requeueAfterMs !== undefined ? { requeueAfterMs: leftovers.requeueAfterMs } : {}) };
}

/** Jobs safe to delete: finished, recorded (strictly before the observed cursor) and beyond the newest `keep`. */
function pruneFinishedJobs(jobs: ObservedJob[], iteration: number, stepIndex: number, keep: number): Action[] {
  const recorded = jobs
    .filter((j) => !j.deleting && j.state !== 'Active' && before(j, iteration, stepIndex))
    .sort((a, b) => b.iteration - a.iteration || b.stepIndex - a.stepIndex);
  return recorded.slice(keep).map((j) => ({ kind: 'deleteJob', name: j.name, propagation: 'Background', reason: 'pruned: its result is recorded' }));
}

/** One reconcile of a run that is not finished: the rules, in the order they apply. */
class Step {
  /** Goes before the status write: a conflict there must stop a step from being recorded as started. */
  private finalizer?: Action;
  private readonly actions: Action[] = [];
  private readonly effects: Action[] = [];
  private readonly events: Action[] = [];
  /** Before everything else: the Job deletion that ends chaos under STOP. */
  private readonly first: Action[] = [];
  /** Warnings of failed or aborted steps; folded into the end Event when the run ends in the same pass. */
  private readonly stepWarnings: Array<{ kind: 'event'; type: EventType; reason: string; message: string }> = [];
  private requeueAt?: number;
  private readonly st: ChaosRunStatus;
  private readonly next: ChaosRunStatus;
  private readonly run: ChaosRun;
  private readonly jobs: ObservedJob[];
  private readonly now: number;
  private readonly options: DecideOptions;
  private iteration: number;
  private index: number;
  private phaseReason = '';
  private phaseMessage = '';
  private jobMissing = false;

  constructor(run: ChaosRun, jobs: ObservedJob[], now: number, options: DecideOptions) {
    this.run = run;
    this.jobs = jobs;
    this.now = now;
    this.options = options;
    this.st = run.status ?? {};
    this.next = structuredClone(this.st);
    // Faults in force are observed afresh on every pass (recordFaults puts them back while they hold).
    delete this.next.faults;
    delete this.next.faultSummary;
    this.iteration = this.st.iteration ?? 1;
    this.index = this.st.step?.index ?? 0;
  }

  private get spec() { return this.run.spec; }
  private get scenarios() { return this.run.spec.scenarios; }

  decide(): Decision {
    const { spec } = this;
    if (!this.run.metadata.finalizers?.includes(FINALIZER)) this.finalizer = { kind: 'addFinalizer' };

    // A timed pause that has run out: hand the signal back to RUN (a spec write, announced by an Event).
    if (spec.signalState === 'PAUSE' && spec.pauseUntil) {
      const until = Date.parse(spec.pauseUntil);
      if (until <= this.now) {
        this.effects.push({ kind: 'endTimedPause' });
        this.events.push({ kind: 'event', type: 'Normal', reason: 'PauseExpired', message: `timed pause until ${spec.pauseUntil} ended; signal set to RUN` });
        return this.finish();
      }
      this.wakeAt(until);
    }

    // A new signal (or timed pause) goes on the timeline, in the status write that observes it anyway.
    const signalChange = signalTransition(this.run, this.st, iso(this.now));
    if (signalChange) addTransition(this.next, signalChange);

    // The scenario list may have shrunk under a running run: a cursor past the end starts the next iteration.
    if (this.index >= this.scenarios.length) this.advanceIteration();
    this.next.startTime ??= iso(this.now);
    this.next.counts ??= { ...ZERO_COUNTS };
    this.next.iterationsCompleted ??= 0;

    this.actions.push(...pruneFinishedJobs(this.jobs, this.iteration, this.index, this.options.keepFinishedJobs));
    // Jobs behind the cursor that still run (a timed-out step whose delete did not happen) must go.
    for (const j of this.jobs) {
      if (j.state === 'Active' && !j.deleting && before(j, this.iteration, this.index)) {
        this.effects.push({ kind: 'deleteJob', name: j.name, propagation: 'Foreground', reason: 'its step is already recorded' });
      }
    }

    let ended = this.observeCurrentStep();
    const stopGate = this.options.gates?.stop;
    // A STOP seen together with the step that would have ended the run (the last one's success, or a
    // failure under failurePolicy Stop, e.g. the dead-man switch's while the controller was down) still
    // wins: the step is recorded as it ended, but the run ends Stopped, as the person who sent STOP
    // expects (the fault campaign's stopEnds invariant found the Failed case).
    if ((ended?.reason === 'Completed' || ended?.reason === 'Failed') && (spec.signalState === 'STOP' || stopGate)) ended = undefined;
    if (!ended && (spec.signalState === 'STOP' || stopGate)) {
      this.abortCurrentStep(spec.signalState === 'STOP' ? 'stopped by signal STOP' : `stopped by gate ${stopGate!.gate}`);
      ended = spec.signalState === 'STOP'
        ? { reason: 'Stopped', message: 'stopped by signal STOP' }
        : { reason: 'Stopped', message: `stopped by gate ${stopGate!.gate}: ${stopGate!.message}` };
      if (spec.signalState !== 'STOP') addTransition(this.next, { time: iso(this.now), kind: 'GateStopped', gate: stopGate!.gate, message: stopGate!.message });
    }
    this.accountGates(ended === undefined);
    if (ended) this.end(ended.reason, ended.message);
    else this.proceed();
    return this.finish();
  }

  /** Tracks time held by a pauseWhen gate, the Gated condition and its Events. */
  private accountGates(running: boolean): void {
    if (!this.spec.gates) return;
    const held = running ? this.options.gates?.held : undefined;
    const now = iso(this.now);
    const generation = this.run.metadata.generation;
    if (held) {
      if (!this.next.gatedSince) {
        this.next.gatedSince = now;
        addTransition(this.next, { time: now, kind: 'GateHeld', gate: held.gate, message: held.message });
        this.events.push({ kind: 'event', type: 'Normal', reason: 'GateHeld', message: `gate ${held.gate} holds the run: ${held.message}` });
      }
      this.next.conditions = setCondition(this.next.conditions ?? [], 'Gated', true, held.gate, held.message, generation, now);
      return;
    }
    if (this.next.gatedSince) {
      this.next.gatedSeconds = (this.next.gatedSeconds ?? 0) + (this.now - Date.parse(this.next.gatedSince)) / 1000;
      delete this.next.gatedSince;
      const holder = this.next.transitions?.findLast((t) => t.kind === 'GateHeld')?.gate;
      addTransition(this.next, { time: now, kind: 'GateReleased', ...(holder ? { gate: holder } : {}) });
      this.events.push({ kind: 'event', type: 'Normal', reason: 'GateReleased', message: `no gate holds the run any more (gated ${this.next.gatedSeconds.toFixed(1)}s in all)` });
    }
    this.next.conditions = setCondition(this.next.conditions ?? [], 'Gated', false, 'Clear', 'no gate holds the run', generation, now);
  }

  /** Looks at the Job of the cursor's step and records what it shows. Returns the end of the run, if reached. */
  private observeCurrentStep(): { reason: Report['reason']; message: string } | undefined {
    const name = this.currentJobName();
    const job = this.jobs.find((j) => j.name === name);
    const started = this.st.activeJob === name || job !== undefined;
    if (!started) return undefined;
    this.recordStart(name);
    const scenario = this.scenarios[this.index];
    const timeoutMs = scenario.timeout ? parseDuration(scenario.timeout) : undefined;
    if (job && job.state !== 'Active') {
      const endMs = job.finishTime ? Date.parse(job.finishTime) : this.now;
      if (job.state === 'Failed' && job.failureReason === DEADLINE_EXCEEDED) {
        // Kubernetes ended the Job at its deadline: the step's timeout, or nobody renewed it.
        if (deadlineCause(job.activeDeadlineSeconds, timeoutMs) === 'Timeout') {
          return this.completeStep('Failed', endMs, `timed out after ${scenario.timeout} (Kubernetes ended its Job: ${DEADLINE_EXCEEDED})`);
        }
        const seconds = deadManSecondsOf(this.spec);
        return this.completeStep('Failed', endMs, `ended by the dead-man switch: no live operator renewed the step's deadline ` +
          `(deadManSeconds ${seconds}); Kubernetes failed its Job (${DEADLINE_EXCEEDED}, activeDeadlineSeconds ${job.activeDeadlineSeconds ?? '?'})`, 'DeadManSwitch');
      }
      if (job.refused) return this.completeStep('Failed', endMs, job.message, 'Refused');
      return this.completeStep(job.state === 'Failed' ? 'Failed' : 'Succeeded', endMs, job.message);
    }
    // Deleted under STOP (our own delete, before the status write): abortCurrentStep records it.
    if (job?.deleting && this.spec.signalState === 'STOP') return undefined;
    if (job?.deleting) {
      return this.completeStep('Aborted', this.now, 'the step\'s Job was deleted outside the operator');
    }
    const stopping = this.spec.signalState === 'STOP' || this.options.gates?.stop !== undefined;
    if (timeoutMs !== undefined && this.spec.signalState !== 'STOP') {
      const deadline = Date.parse(this.historyEntry()!.startTime) + timeoutMs;
      if (deadline <= this.now) {
        if (job) this.effects.push({ kind: 'deleteJob', name, propagation: 'Foreground', reason: `timed out after ${scenario.timeout}` });
        return this.completeStep('Failed', this.now, `timed out after ${scenario.timeout}`);
      }
      this.wakeAt(deadline);
    }
    // The dead-man switch: a live operator keeps moving the running Job's deadline (see src/safety).
    if (job?.startTime && !stopping) {
      const renewal = renewDeadline(deadManSecondsOf(this.spec), timeoutMs, { startMs: Date.parse(job.startTime), activeDeadlineSeconds: job.activeDeadlineSeconds }, this.now);
      if (renewal.set !== undefined) this.effects.push({ kind: 'renewDeadline', name, activeDeadlineSeconds: renewal.set });
      if (renewal.wakeAtMs !== undefined) this.wakeAt(renewal.wakeAtMs);
    }
    // A node that cannot inject the fault (its agent says why): the step fails now, not after its
    // duration with nothing injected. The holder's end lets go of what other nodes hold.
    const refusal = job?.fault?.refused?.[0];
    if (job && refusal && !stopping && this.spec.signalState === 'RUN') {
      const message = `node ${refusal.node} cannot inject ${job.fault!.kind} on ${refusal.namespace}/${refusal.pod}: ${refusal.reason}`;
      this.effects.push({ kind: 'deleteJob', name, propagation: 'Foreground', reason: `refused by a node agent: ${message}` });
      return this.completeStep('Failed', this.now, message);
    }
    this.recordFaults(job, scenario.name);
    // Started but not visible yet: a crash between recording the intent and creating the Job, or a
    // cache that lags our own create. proceed() creates it again (the name makes that idempotent).
    this.jobMissing = !job;
    this.next.activeJob = name;
    return undefined;
  }

  /**
   * status.faults: the running step's lasting faults while the node agents hold them, which is while
   * its holder has targets and the run says RUN (wanted.ts asks the same of the holder and the signal).
   * Kept with its first time while the step and targets stay; gone on PAUSE, STOP and at the step's end,
   * when recordFaultEnd keeps it in the step's history entry.
   */
  private recordFaults(job: ObservedJob | undefined, step: string): void {
    if (!job || this.spec.signalState !== 'RUN' || job.deleting) return;
    const before = this.st.faults;
    // Not read this pass: what was in force stays so (a failed pod list is not a revert).
    if (job.faultUnread) {
      if (before?.step === step) { this.next.faults = before; if (this.st.faultSummary) this.next.faultSummary = this.st.faultSummary; }
      return;
    }
    const f = job.fault;
    if (!f || f.targets.length === 0) return;
    // By value: the API server gives the stored targets back with their keys in another order.
    const same = before?.step === step && before.kind === f.kind && isDeepStrictEqual(before.targets, f.targets);
    this.next.faults = {
      step, kind: f.kind, targets: f.targets, since: same ? before.since : iso(this.now), leaseSeconds: f.leaseSeconds,
      ...(f.inForce !== undefined ? { inForce: f.inForce } : {}),
    };
    // What the agents confirm, when it is less than what is asked: "partition on 3 pods, 1 in force".
    const short = f.inForce !== undefined && f.inForce < f.targets.length ? `, ${f.inForce} in force` : '';
    this.next.faultSummary = `${f.kind} on ${f.targets.length} pod${f.targets.length === 1 ? '' : 's'}${short}`;
    // With the agents' reports read: ask again soon until every target's fault is in force, then now
    // and then, so a refusal that comes later (a target restarted where a feature is missing) is seen.
    if (f.confirmed !== undefined) this.wakeAt(this.now + (f.confirmed ? 5_000 : 1_000));
  }

  /**
   * A fault that status.faults showed in force and this pass no longer does (or shows with a new since)
   * was reverted: it goes into its step's history entry with both ends, for the timeline. Exactly once:
   * the status write that drops it is the one that records it (guarded by its resourceVersion).
   */
  private recordFaultEnd(): void {
    const was = this.st.faults;
    if (!was) return;
    const still = this.next.faults;
    if (still && still.step === was.step && still.since === was.since) return;
    const entry = this.next.history?.find((h) => h.job === this.st.activeJob && h.step === was.step);
    if (!entry) return;
    const sinceMs = Date.parse(was.since);
    let until = this.now;
    let reason: FaultEndReason;
    if (this.spec.signalState === 'STOP' || this.options.gates?.stop) reason = 'Stopped';
    else if (this.spec.signalState === 'PAUSE') reason = 'Paused';
    else if (entry.result !== 'Running') {
      reason = 'StepEnded';
      // The holder ended with its step (the agents revert at once): the step's end, never before the fault's start.
      const end = entry.endTime ? Date.parse(entry.endTime) : Number.NaN;
      if (end >= sinceMs && end <= this.now) until = end;
    } else reason = still ? 'Retargeted' : 'HolderGone';
    const record = { kind: was.kind, pods: was.targets.length, since: was.since, until: iso(until), reason };
    entry.faults = [...(entry.faults ?? []), record].slice(-FAULT_RECORDS_LIMIT);
  }

  private currentJobName(): string {
    const { name, uid } = this.run.metadata;
    return jobName(name, uid, this.iteration, this.index);
  }

  private historyEntry(): StepRecord | undefined {
    return this.next.history?.find((h) => h.iteration === this.iteration && h.stepIndex === this.index);
  }

  private recordStart(job: string): void {
    if (this.historyEntry()) return;
    const step = this.scenarios[this.index].name;
    const entry: StepRecord = { iteration: this.iteration, stepIndex: this.index, step, job, result: 'Running', startTime: iso(this.now) };
    this.next.history = [...(this.next.history ?? []), entry].slice(-this.spec.historyLimit);
  }

  /** Records the cursor's step result in history, counts and an Event; returns where it ran, for messages. */
  private recordResult(result: Exclude<StepResult, 'Running'>, endMs: number, message?: string, reason?: StepReason): string {
    const entry = this.historyEntry()!;
    Object.assign(entry, { result, endTime: iso(endMs) }, message ? { message } : {}, reason ? { reason } : {});
    const counts = this.next.counts!;
    if (result === 'Succeeded') counts.succeeded++;
    else if (result === 'Failed') counts.failed++;
    else counts.aborted++;
    if (reason === 'DeadManSwitch') counts.deadManSwitch = (counts.deadManSwitch ?? 0) + 1;
    delete this.next.activeJob;
    const where = `step ${entry.step} (iteration ${this.iteration}, job ${entry.job})`;
    // A plain success is told by IterationCompleted or the end Event; a failure, an abort, or a step
    // with a reason of its own (a dry run's plan) at once.
    if (result !== 'Succeeded') {
      const eventReason = reason === 'Refused' ? 'StepRefused' : reason ?? (result === 'Failed' ? 'StepFailed' : 'StepAborted');
      this.stepWarnings.push({ kind: 'event', type: 'Warning', reason: eventReason, message: `${where} ${result.toLowerCase()}${message ? `: ${message}` : ''}` });
    } else if (reason) {
      this.events.push({ kind: 'event', type: 'Normal', reason, message: `${where} succeeded${message ? `: ${message}` : ''}` });
    }
    return where;
  }

  /** Records the cursor's step result, moves the cursor on, and says whether the run has ended. */
  private completeStep(result: Exclude<StepResult, 'Running'>, endMs: number, message?: string, reason?: StepReason): { reason: Report['reason']; message: string } | undefined {
    const where = this.recordResult(result, endMs, message, reason);
    if (result === 'Failed' && this.spec.failurePolicy === 'Stop') {
      return { reason: 'Failed', message: `${where} failed${message ? `: ${message}` : ''} (failurePolicy Stop)` };
    }
    if (this.index + 1 < this.scenarios.length) {
      this.index++;
    } else {
      this.next.iterationsCompleted = this.iteration;
      if (!this.spec.daemonMode && this.iteration >= this.spec.iterations) {
        return { reason: 'Completed', message: `all ${this.spec.iterations} iteration(s) completed` };
      }
      const steps = (this.next.history ?? []).filter((h) => h.iteration === this.iteration).map((h) => `${h.step} ${h.result}`);
      this.events.push({ kind: 'event', type: 'Normal', reason: 'IterationCompleted', message: `iteration ${this.iteration} completed: ${steps.join(', ')}` });
      this.advanceIteration();
    }
    let wait = parseDuration(this.spec.waitDuration);
    // A step refused right after another refused one: every step may be refused (a bad image name, a
    // policy), and with no wait a daemon run would fail steps as fast as the API server answers.
    if (reason === 'Refused' && this.previousStepRefused()) wait = Math.max(wait, REFUSED_AGAIN_WAIT_MS);
    // A Job's reported end (its condition time) is truncated to the whole second, up to 1 s before the
    // real end: the wait counts from when the operator saw the step end, never before it really ended,
    // so it is never shorter than asked (after an operator outage, it starts on the operator's return).
    if (wait > 0) this.next.nextStepTime = iso(Math.max(endMs, this.now) + wait);
    else delete this.next.nextStepTime;
    return undefined;
  }

  /** The step recorded before the cursor's was refused too. */
  private previousStepRefused(): boolean {
    const history = this.next.history ?? [];
    return history.at(-2)?.reason === 'Refused';
  }

  private advanceIteration(): void {
    this.iteration++;
    this.index = 0;
  }

  /** STOP while a step runs: its Job is deleted (foreground, so the pod gets its grace period). */
  private abortCurrentStep(why: string): void {
    const name = this.next.activeJob;
    if (!name) return;
    const job = this.jobs.find((j) => j.name === name);
    if (job && !job.deleting) {
      const del: Action = { kind: 'deleteJob', name, propagation: 'Foreground', reason: why };
      // STOP is final: ending the chaos need not wait for the status write (see the top of this file).
      if (this.spec.signalState === 'STOP') this.first.push(del);
      else this.effects.push(del);
    }
    // The cursor stays: an aborted step does not complete its iteration.
    this.recordResult('Aborted', this.now, why);
  }

  /** No end reached: run, wait, or hold, as the signal and gates say. */
  private proceed(): void {
    const { spec } = this;
    const held = this.options.gates?.held;
    const stepName = this.scenarios[this.index].name;
    if (this.next.activeJob) {
      const paused = spec.signalState === 'PAUSE' || held !== undefined;
      // A recorded step whose Job is not there yet is created now, unless a PAUSE came in between.
      if (this.jobMissing && !paused) {
        this.effects.push({ kind: 'createJob', name: this.next.activeJob, iteration: this.iteration, stepIndex: this.index });
      }
      const state = this.jobMissing && paused ? 'was about to start; it starts on RUN' : 'is running';
      this.setPhase(paused ? 'Paused' : 'Running', paused ? (held ? 'Gated' : 'SignalPause') : 'StepRunning',
        `step ${stepName} (iteration ${this.iteration}) ${state}${paused && !this.jobMissing ? '; no new step starts until RUN' : ''}`);
      return;
    }
    if (spec.signalState === 'PAUSE') {
      this.setPhase('Paused', 'SignalPause', `paused before step ${stepName} (iteration ${this.iteration}); send RUN to resume`);
      return;
    }
    if (held) {
      this.setPhase('Paused', 'Gated', `gate ${held.gate} holds the run before step ${stepName}: ${held.message}`);
      return;
    }
    const waitUntil = this.next.nextStepTime ? Date.parse(this.next.nextStepTime) : 0;
    if (waitUntil > this.now) {
      this.setPhase('Running', 'Waiting', `waiting until ${this.next.nextStepTime} before step ${stepName} (iteration ${this.iteration})`);
      this.wakeAt(waitUntil);
      return;
    }
    if (spec.dryRun) { this.dryRunStep(); return; }
    // Start the step: the intent goes into status first (see the top of this file), then the Job.
    const name = this.currentJobName();
    delete this.next.nextStepTime;
    this.recordStart(name);
    this.next.activeJob = name;
    this.effects.push({ kind: 'createJob', name, iteration: this.iteration, stepIndex: this.index });
    this.setPhase('Running', 'StepRunning', `step ${stepName} (iteration ${this.iteration}) is running`);
  }

  /**
   * A dry run's step: recorded at once with what it would do (the plan the shell computed) and no Job;
   * every other rule (iterations, waits, gates, signals, failurePolicy for a step that would fail) holds.
   */
  private dryRunStep(): void {
    const stepName = this.scenarios[this.index].name;
    const iteration = this.iteration;
    const given = this.options.dryRunPlan;
    const plan = given?.stepIndex === this.index ? given : { ok: false, plan: 'no plan was computed for this step' };
    delete this.next.nextStepTime;
    this.recordStart(this.currentJobName());
    const ended = this.completeStep(plan.ok ? 'Succeeded' : 'Failed', this.now, `dry run: ${plan.plan}`, 'DryRun');
    if (ended) { this.end(ended.reason, ended.message); return; }
    this.setPhase('Running', 'DryRun', `dry run: step ${stepName} (iteration ${iteration}) recorded what it would do; nothing is created or deleted`);
    const waitUntil = this.next.nextStepTime ? Date.parse(this.next.nextStepTime) : 0;
    if (waitUntil > this.now) this.wakeAt(waitUntil);
  }

  private end(reason: Report['reason'], message: string): void {
    if (this.spec.dryRun) message = `dry run: ${message}`;
    const endMs = this.now;
    const counts = this.next.counts!;
    delete this.next.nextStepTime;
    delete this.next.activeJob;
    // The run's end ends its faults (a stopWhen gate's pass may have just seen them in force).
    delete this.next.faults;
    delete this.next.faultSummary;
    const start = this.next.startTime ? Date.parse(this.next.startTime) : endMs;
    const report: Report = {
      reason, message,
      iterationsCompleted: this.next.iterationsCompleted ?? 0,
      stepsSucceeded: counts.succeeded, stepsFailed: counts.failed, stepsAborted: counts.aborted,
      stepsEndedByDeadManSwitch: counts.deadManSwitch ?? 0,
      ...(this.next.startTime ? { startTime: this.next.startTime } : {}),
      endTime: iso(endMs),
      durationSeconds: Math.max(0, (endMs - start) / 1000),
      gatedSeconds: this.next.gatedSeconds ?? 0,
      ...(this.spec.dryRun ? { dryRun: true } : {}),
    };
    this.next.report = report;
    this.next.completionTime = iso(endMs);
    this.setPhase(reason, reason, message);
    // The step that ended with the run is told here, not in an Event of its own (a Failed end already names it).
    const folded = this.stepWarnings.splice(0).map((e) => e.message);
    const also = reason !== 'Failed' && folded.length ? ` (${folded.join('; ')})` : '';
    this.events.push({ kind: 'event', type: reason === 'Failed' ? 'Warning' : 'Normal', reason, message: `${reportLine(report)}${also}` });
    this.effects.push({ kind: 'report', report });
  }

  private setPhase(phase: Phase, reason: string, message: string): void {
    this.next.phase = phase;
    this.phaseReason = reason;
    this.phaseMessage = message;
  }

  private wakeAt(ms: number): void {
    this.requeueAt = this.requeueAt === undefined ? ms : Math.min(this.requeueAt, ms);
  }

  private finish(): Decision {
    const { st, next, spec } = this;
    this.recordFaultEnd();
    if (this.phaseReason) {
      const generation = this.run.metadata.generation;
      const scenario = this.scenarios[Math.min(this.index, this.scenarios.length - 1)];
      next.iteration = this.iteration;
      next.step = { index: this.index, name: scenario.name };
      next.progress = `${this.iteration}/${spec.daemonMode ? '∞' : spec.iterations}`;
      next.observedSignal = spec.signalState;
      if (generation !== undefined) next.observedGeneration = generation;
      next.conditions = phaseConditions(next.conditions ?? [], next.phase!, this.phaseReason, this.phaseMessage, generation, iso(this.now));
      this.phaseEvents();
    }
    const actions: Action[] = [...this.first, ...(this.finalizer ? [this.finalizer] : [])];
    // Key order differs between our objects and the API server's; compare values only.
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(next)), JSON.parse(JSON.stringify(st)))) actions.push({ kind: 'writeStatus', status: next });
    actions.push(...this.actions, ...this.effects, ...this.leftovers(), ...this.stepWarnings, ...this.events);
    return { actions, ...(this.requeueAt !== undefined ? { requeueAfterMs: Math.max(0, this.requeueAt - this.now) } : {}) };
  }

  /**
   * krkn's leftovers: every helper namespace of the run but the running step's goes, after the status
   * write that records the step's end (a stale view of a running step fails that write first).
   */
  private leftovers(): Action[] {
    const keep = this.next.activeJob ? helperNamespaceOf(this.run, this.iteration, this.index) : undefined;
    const { actions, requeueAfterMs } = leftoverActions(this.options.helperNamespaces, keep, 'its step is not running');
    if (requeueAfterMs !== undefined) this.wakeAt(this.now + requeueAfterMs);
    return actions;
  }

  /** Events for phase transitions (step events are added where steps change). */
  private phaseEvents(): void {
    const from = this.st.phase ?? 'Pending';
    const to = this.next.phase!;
    if (from === to) return;
    const say = (reason: string, message: string) => this.events.unshift({ kind: 'event', type: 'Normal', reason, message });
    if (to === 'Paused') say('Paused', this.phaseMessage);
    else if (to === 'Running' && from === 'Paused') say('Resumed', `resumed at step ${this.next.step!.name} (iteration ${this.iteration})`);
    if (from === 'Pending') say('Started', `run started with signal ${this.spec.signalState}`);
  }
}

/** The one-line summary of a report, for the Event and the log. */
export function reportLine(r: Report): string {
  return `${r.reason}: ${r.message}; iterations completed ${r.iterationsCompleted}, steps succeeded ${r.stepsSucceeded}, ` +
    `failed ${r.stepsFailed}${r.stepsEndedByDeadManSwitch ? ` (${r.stepsEndedByDeadManSwitch} by the dead-man switch)` : ''}, aborted ${r.stepsAborted}, ` +
    `duration ${r.durationSeconds.toFixed(1)}s`;
}
