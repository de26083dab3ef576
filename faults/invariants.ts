// The campaign's invariants, as pure checks over what the API server recorded (the final ChaosRun,
// every Job the campaign saw, their pods) and what the campaign itself did (signals with the times
// it sent them and got the answer). No check reads a clock: every trial ends by calling these.
//
// Times: history startTime/endTime are the operator's Date.now() in ms, Job creationTimestamps are
// the API server's, truncated to the second; the campaign's own times are Date.now() on the same
// machine. Each rule below says why its comparison is sound with those precisions, so that a
// reported violation is a real one.
import { isFinal, type ChaosRun, type Signal, type StepRecord } from '../src/api/types.ts';
import { parseDuration } from '../src/api/duration.ts';

export const INVARIANTS = [
  'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'pauseHolds', 'settles',
  'outageAnswers503', 'outageChangesNothing', 'recoversIn5s', 'noOperatorRestart',
  'watchdogRelists', 'stallSignalObeyed', 'takeoverInTime', 'singleDriver',
  'no5xx', 'lastWriteWins', 'noCrash', 'noStateChange',
  // Lasting faults (fault 7): checked in faults/leases.ts over the target namespaces' nft state.
  'faultEndsInTime', 'nothingLeftBehind',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation { invariant: Invariant; subject: string; detail: string }

/** One Job as the campaign saw it (by uid: a Job deleted and created again under its name is two). */
export interface JobRecord {
  name: string;
  uid: string;
  iteration: number;
  stepIndex: number;
  /** creationTimestamp in ms (whole seconds: the API server truncates). */
  created: number;
  /** Pods that ran for this Job (at most one: backoffLimit 0). */
  pods: number;
  /** Its terminal condition, if it was seen to finish. */
  outcome?: 'Succeeded' | 'Failed';
  /** When the campaign first saw that condition (the plane reporting the step's end to the operator). */
  outcomeSeenAt?: number;
  /** When the campaign first saw its pod end: the Job controller's lag is outcomeSeenAt - podEndedAt. */
  podEndedAt?: number;
}

/** One signal the campaign sent, over HTTP (signal server) or as a merge patch (as kubectl does). */
export interface SignalRecord {
  signal: Signal;
  via: 'http' | 'patch';
  sentAt: number;
  answeredAt: number;
  /** HTTP status, or 0 when the request failed without an answer. */
  status: number;
  /** HTTP 200, or a successful patch. */
  accepted: boolean;
}

export interface RunRecord {
  /** namespace/name, for reports. */
  key: string;
  /** The run as read after the faults ended and it had time to settle. */
  run: ChaosRun;
  jobs: JobRecord[];
  signals: SignalRecord[];
  /** Set when the settle wait ended with the run waiting on the plane, not on the operator (see whoseTurn). */
  waitingOnPlane?: string;
}

const stepKey = (it: number, idx: number) => `${it}:${idx}`;
const ms = (t: string | undefined) => (t ? Date.parse(t) : NaN);

/** Every invariant about one run. */
export function checkRun(rec: RunRecord): Violation[] {
  return [
    ...oneJobPerStep(rec), ...stepsInOrder(rec), ...reportMatches(rec),
    ...stopEnds(rec), ...pauseHolds(rec), ...settles(rec),
  ];
}

/** Each (iteration, step) has at most one Job (one uid), one history entry, and its Job ran at most one pod. */
export function oneJobPerStep({ key, run, jobs }: RunRecord): Violation[] {
  const out: Violation[] = [];
  const v = (detail: string) => out.push({ invariant: 'oneJobPerStep', subject: key, detail });
  const byStep = new Map<string, JobRecord[]>();
  for (const j of jobs) byStep.set(stepKey(j.iteration, j.stepIndex), [...(byStep.get(stepKey(j.iteration, j.stepIndex)) ?? []), j]);
  for (const [step, js] of byStep) {
    if (js.length > 1) v(`step ${step} has ${js.length} Jobs: ${js.map((j) => `${j.name} (uid ${j.uid})`).join(', ')}`);
  }
  for (const j of jobs) if (j.pods > 1) v(`Job ${j.name} ran ${j.pods} pods`);
  const seen = new Set<string>();
  for (const h of run.status?.history ?? []) {
    const k = stepKey(h.iteration, h.stepIndex);
    if (seen.has(k)) v(`step ${k} appears twice in status.history`);
    seen.add(k);
  }
  return out;
}

/**
 * Steps ran one after another in spec order: history is the sequence (1,0), (1,1), … with no gap or
 * repeat; each step started after the previous one ended plus waitDuration (endTime is the Job's
 * condition time, truncated to the second, so it is never later than the real end: the comparison
 * cannot flag a correct run); and every Job belongs to the history entry of its step (the intent is
 * recorded before the Job is created, so a Job without one is a step the operator lost track of).
 */
export function stepsInOrder({ key, run, jobs }: RunRecord): Violation[] {
  const out: Violation[] = [];
  const v = (detail: string) => out.push({ invariant: 'stepsInOrder', subject: key, detail });
  const steps = run.spec.scenarios.length;
  const history = [...(run.status?.history ?? [])].sort((a, b) => ms(a.startTime) - ms(b.startTime));
  const wait = parseDuration(run.spec.waitDuration ?? '0s');
  let expected = { iteration: 1, stepIndex: 0 };
  let previous: StepRecord | undefined;
  for (const h of history) {
    if (h.iteration !== expected.iteration || h.stepIndex !== expected.stepIndex) {
      v(`history has step ${stepKey(h.iteration, h.stepIndex)} where ${stepKey(expected.iteration, expected.stepIndex)} was due`);
    }
    if (previous) {
      if (!previous.endTime) v(`step ${stepKey(h.iteration, h.stepIndex)} started while ${stepKey(previous.iteration, previous.stepIndex)} had not ended`);
      else if (ms(h.startTime) < ms(previous.endTime) + wait) {
        v(`step ${stepKey(h.iteration, h.stepIndex)} started at ${h.startTime}, before ${previous.endTime} + wait ${run.spec.waitDuration}`);
      }
    }
    previous = h;
    expected = h.stepIndex + 1 < steps ? { iteration: h.iteration, stepIndex: h.stepIndex + 1 } : { iteration: h.iteration + 1, stepIndex: 0 };
  }
  for (const j of jobs) {
    const h = history.find((e) => e.iteration === j.iteration && e.stepIndex === j.stepIndex);
    if (!h) v(`Job ${j.name} (step ${stepKey(j.iteration, j.stepIndex)}) has no history entry`);
    else if (h.job !== j.name) v(`Job ${j.name} is not the Job ${h.job} recorded for step ${stepKey(j.iteration, j.stepIndex)}`);
  }
  return out;
}

/** A finished run's report and counts agree with its history, and each recorded result with its Job. */
export function reportMatches({ key, run, jobs }: RunRecord): Violation[] {
  const st = run.status;
  if (!isFinal(st?.phase)) return [];
  const out: Violation[] = [];
  const v = (detail: string) => out.push({ invariant: 'reportMatches', subject: key, detail });
  const report = st!.report;
  if (!report) return [{ invariant: 'reportMatches', subject: key, detail: `phase ${st!.phase} but no report` }];
  if (report.reason !== st!.phase) v(`report reason ${report.reason} but phase ${st!.phase}`);
  const history = st!.history ?? [];
  const count = (r: string) => history.filter((h) => h.result === r).length;
  const want = { stepsSucceeded: count('Succeeded'), stepsFailed: count('Failed'), stepsAborted: count('Aborted') };
  for (const [field, n] of Object.entries(want) as Array<[keyof typeof want, number]>) {
    if (report[field] !== n) v(`report.${field} is ${report[field]} but history has ${n}`);
  }
  const c = st!.counts;
  if (!c || c.succeeded !== report.stepsSucceeded || c.failed !== report.stepsFailed || c.aborted !== report.stepsAborted) {
    v(`status.counts ${JSON.stringify(c)} differ from the report`);
  }
  if (count('Running') > 0) v(`a finished run has ${count('Running')} step(s) still Running in history`);
  if (report.reason === 'Completed') {
    const all = run.spec.iterations * run.spec.scenarios.length;
    if (report.iterationsCompleted !== run.spec.iterations) v(`Completed with iterationsCompleted ${report.iterationsCompleted} of ${run.spec.iterations}`);
    if (history.length !== all) v(`Completed with ${history.length} steps in history, expected ${all}`);
  }
  for (const h of history) {
    const job = jobs.find((j) => j.name === h.job);
    if (h.result === 'Succeeded' || h.result === 'Failed') {
      if (!job) v(`step ${stepKey(h.iteration, h.stepIndex)} is ${h.result} but its Job ${h.job} was never seen`);
      else if (job.outcome && job.outcome !== h.result) v(`step ${stepKey(h.iteration, h.stepIndex)} is ${h.result} but Job ${h.job} ${job.outcome}`);
    }
  }
  return out;
}

/**
 * An accepted STOP ends the run, and no step starts after it. Sound without slack: a step's startTime
 * is taken before its (resourceVersion-conditional) status write; a write based on a view older than
 * the STOP conflicts, so a committed step that started after the STOP's answer arrived is a real
 * violation. Likewise a run can only have Completed/Failed instead of Stopped if that was decided
 * before the STOP was answered. A Job created (truncated second) after completionTime is one the
 * operator made for a finished run.
 */
export function stopEnds({ key, run, jobs, signals }: RunRecord): Violation[] {
  const stop = signals.filter((s) => s.signal === 'STOP' && s.accepted).sort((a, b) => a.answeredAt - b.answeredAt)[0];
  if (!stop) return [];
  const out: Violation[] = [];
  const v = (detail: string) => out.push({ invariant: 'stopEnds', subject: key, detail });
  const st = run.status ?? {};
  const at = new Date(stop.answeredAt).toISOString();
  if (!isFinal(st.phase)) v(`STOP accepted at ${at} (${stop.via}) but the run is ${st.phase ?? 'Pending'}`);
  else if (st.phase !== 'Stopped' && !(ms(st.completionTime) <= stop.answeredAt)) {
    v(`STOP accepted at ${at} but the run ended ${st.phase} at ${st.completionTime}`);
  }
  for (const h of st.history ?? []) {
    if (ms(h.startTime) > stop.answeredAt) v(`step ${stepKey(h.iteration, h.stepIndex)} started at ${h.startTime}, after STOP was accepted at ${at}`);
  }
  const end = ms(st.completionTime);
  for (const j of jobs) if (j.created > end) v(`Job ${j.name} created at ${new Date(j.created).toISOString()}, after the run ended at ${st.completionTime}`);
  return out;
}

/** The time from which a PAUSE was surely in force, and until which it surely was (see pauseHolds). */
export function pauseWindows(signals: SignalRecord[]): Array<{ from: number; until: number }> {
  return signals.filter((p) => p.signal === 'PAUSE' && p.accepted).map((p) => {
    // Any other signal not surely committed before this PAUSE was sent may have overridden it from
    // the moment it was sent (accepted or not: a failed request may still have been committed).
    const until = Math.min(Infinity, ...signals.filter((s) => s.signal !== 'PAUSE' && s.answeredAt > p.sentAt).map((s) => s.sentAt));
    return { from: p.answeredAt, until };
  }).filter((w) => w.from < w.until);
}

/**
 * An accepted PAUSE starts no new step until RUN: no history entry starts inside a window (sound for
 * the reason given at stopEnds). A step recorded before the PAUSE gets its Job at once, so a Job
 * created inside the window more than 1 s (the creationTimestamp's truncation) after the PAUSE was
 * answered is a step started during the PAUSE too: decide() must not create a missing Job while paused.
 */
export function pauseHolds({ key, run, jobs, signals }: RunRecord): Violation[] {
  const out: Violation[] = [];
  for (const w of pauseWindows(signals)) {
    const window = `PAUSE ${new Date(w.from).toISOString()} .. ${Number.isFinite(w.until) ? new Date(w.until).toISOString() : 'end'}`;
    for (const h of run.status?.history ?? []) {
      const t = ms(h.startTime);
      if (t > w.from && t < w.until) out.push({ invariant: 'pauseHolds', subject: key, detail: `step ${stepKey(h.iteration, h.stepIndex)} started at ${h.startTime} during ${window}` });
    }
    for (const j of jobs) {
      if (j.created > w.from + 1000 && j.created + 1000 < w.until) {
        out.push({ invariant: 'pauseHolds', subject: key, detail: `Job ${j.name} created at ${new Date(j.created).toISOString()} during ${window}` });
      }
    }
  }
  return out;
}

/** How long the operator may take to act once it is its turn (the plane has reported what it needs). */
export const OPERATOR_BOUND_MS = 30_000;

export type Turn = { waiting: 'plane'; why: string } | { waiting: 'operator'; since: number };

/**
 * Whose move it is in a run that has not ended, so `settles` blames the operator only for what it
 * does. The plane's, while the step's Job exists but has not reported its pod's outcome (the pod runs,
 * or kube-controller-manager's Job controller lags, as it does for a minute after API-server restarts).
 * Otherwise the operator's, since the latest of: `since` (the faults' end, or its last status change),
 * the step's Job reporting its outcome, and the end of the wait between steps.
 */
export function whoseTurn(run: ChaosRun, jobs: JobRecord[], since: number): Turn | undefined {
  const st = run.status ?? {};
  if (isFinal(st.phase)) return undefined;
  const active = st.activeJob ? jobs.find((j) => j.name === st.activeJob) : undefined;
  if (active && !active.outcome) {
    return { waiting: 'plane', why: `Job ${active.name} has not reported its pod's outcome${active.podEndedAt ? ' (the pod has ended)' : ''}` };
  }
  const waitEnd = !st.activeJob && st.nextStepTime ? ms(st.nextStepTime) : 0;
  return { waiting: 'operator', since: Math.max(since, active?.outcomeSeenAt ?? 0, waitEnd) };
}

/**
 * After the faults ended (and the campaign sent RUN to a paused run), the run reached a final phase,
 * or is only waiting on the plane: the operator never left its turn unplayed for OPERATOR_BOUND_MS.
 */
export function settles({ key, run, waitingOnPlane }: RunRecord): Violation[] {
  const st = run.status ?? {};
  if (isFinal(st.phase) || waitingOnPlane) return [];
  return [{ invariant: 'settles', subject: key, detail: `still ${st.phase ?? 'Pending'} (signal ${run.spec.signalState}, step ${st.iteration}:${st.step?.index}, active ${st.activeJob ?? 'none'}) more than ${OPERATOR_BOUND_MS / 1000} s after it was the operator's turn` }];
}

/**
 * Racing writers: the final spec.signalState is one a write could have left last (a write w is a
 * candidate unless another accepted write was sent after w was answered, and so committed after
 * it), and the operator settled on it: observed it and is Paused for PAUSE, Running for RUN.
 */
export function lastWriteWins(key: string, run: ChaosRun, writes: SignalRecord[]): Violation[] {
  const accepted = writes.filter((w) => w.accepted);
  const candidates = accepted.filter((w) => !accepted.some((o) => o.sentAt > w.answeredAt));
  const out: Violation[] = [];
  const v = (detail: string) => out.push({ invariant: 'lastWriteWins', subject: key, detail });
  const final = run.spec.signalState;
  if (accepted.length && !candidates.some((w) => w.signal === final)) {
    v(`spec.signalState is ${final} but the last accepted write(s) were ${[...new Set(candidates.map((w) => w.signal))].join('/')}`);
  }
  const st = run.status ?? {};
  if (st.observedSignal !== final) v(`the operator observed ${st.observedSignal}, the spec says ${final}`);
  const phase = final === 'PAUSE' ? 'Paused' : final === 'STOP' ? 'Stopped' : 'Running';
  if (st.phase !== phase) v(`settled in phase ${st.phase} after the last write ${final}`);
  return out;
}

/** No answer of the server was a 5xx. */
export function no5xx(subject: string, statuses: Iterable<number>): Violation[] {
  const counts = new Map<number, number>();
  for (const s of statuses) if (s >= 500) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([status, n]) => ({ invariant: 'no5xx', subject, detail: `${n} answer(s) with HTTP ${status}` }));
}

/** One replica's JSON log, reduced to what leader checks need. */
export interface ReplicaLog { id: string; leaderSince: number[]; creates: Array<{ job: string; at: number }>; exitedAt?: number }

/** Parses a controller's JSON log lines (pino, ISO time) for 'became leader' and 'step job created'. */
export function parseReplicaLog(id: string, text: string, exitedAt?: number): ReplicaLog {
  const log: ReplicaLog = { id, leaderSince: [], creates: [], ...(exitedAt !== undefined ? { exitedAt } : {}) };
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: { msg?: string; time?: string; job?: string };
    try { o = JSON.parse(line) as typeof o; } catch { continue; }
    const at = ms(o.time);
    if (o.msg === 'became leader') log.leaderSince.push(at);
    else if (o.msg === 'step job created' && o.job) log.creates.push({ job: o.job, at });
  }
  return log;
}

/**
 * No step driven by both: each Job is created by one replica only, only after that replica became
 * leader, and never while another replica led (from its becoming leader until it exited).
 */
export function singleDriver(replicas: ReplicaLog[]): Violation[] {
  const out: Violation[] = [];
  const v = (subject: string, detail: string) => out.push({ invariant: 'singleDriver', subject, detail });
  const creators = new Map<string, string[]>();
  for (const r of replicas) for (const c of r.creates) creators.set(c.job, [...(creators.get(c.job) ?? []), r.id]);
  for (const [job, ids] of creators) if (new Set(ids).size > 1) v(job, `created by ${[...new Set(ids)].join(' and ')}`);
  for (const r of replicas) {
    const since = Math.min(...r.leaderSince);
    for (const c of r.creates) {
      if (!(c.at >= since)) v(r.id, `created ${c.job} at ${new Date(c.at).toISOString()} without being leader`);
      for (const o of replicas) {
        if (o === r || o.leaderSince.length === 0) continue;
        const from = Math.min(...o.leaderSince);
        const until = o.exitedAt ?? Infinity;
        if (c.at > from && c.at < until && from > since) v(r.id, `created ${c.job} at ${new Date(c.at).toISOString()} while ${o.id} led (since ${new Date(from).toISOString()})`);
      }
    }
  }
  return out;
}
