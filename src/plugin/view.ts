// What `kubectl chaosrun status` and `report` show, as pure functions of a run and the time: one
// object for -o json|yaml, and the text a person reads at 3 a.m. built from that same object.
import { formatDuration } from '../api/duration.ts';
import { isFinal, type ChaosRun, type FaultsInForce, type StepRecord } from '../api/types.ts';

/** Steps shown by `status NAME`. */
export const LAST_STEPS = 5;

const seconds = (ms: number) => Math.round(ms / 1000) * 1000;
const ago = (iso: string | undefined, now: number) => (iso ? formatDuration(seconds(now - Date.parse(iso))) : '');
const until = (iso: string | undefined, now: number) => (iso ? formatDuration(Math.max(0, seconds(Date.parse(iso) - now))) : '');

export interface StatusView {
  namespace: string;
  name: string;
  signal: string;
  pauseUntil?: string;
  phase: string;
  /** Why the run is in its phase (the True phase condition's message). */
  message?: string;
  progress?: string;
  iteration?: number;
  step?: { index: number; name: string; of: number };
  activeJob?: string;
  nextStepTime?: string;
  /** Seconds to the next step, when the run waits between steps. */
  nextStepInSeconds?: number;
  gates: { pauseWhen: string[]; stopWhen: string[]; heldBy?: string; heldSince?: string; message?: string };
  counts: { succeeded: number; failed: number; aborted: number };
  lastSteps: StepRecord[];
  /** The running step's lasting faults in force right now (status.faults). */
  faults?: FaultsInForce;
  created?: string;
}

const PHASE_CONDITION: Record<string, string> = { Running: 'Running', Paused: 'Paused', Completed: 'Complete', Stopped: 'Stopped', Failed: 'Failed' };

export function statusView(run: ChaosRun, now: number): StatusView {
  const s = run.status ?? {};
  const phase = s.phase ?? 'Pending';
  const gated = s.conditions?.find((c) => c.type === 'Gated' && c.status === 'True');
  const waiting = s.nextStepTime && Date.parse(s.nextStepTime) > now && !isFinal(s.phase);
  return {
    namespace: run.metadata.namespace, name: run.metadata.name,
    signal: run.spec.signalState, ...(run.spec.pauseUntil ? { pauseUntil: run.spec.pauseUntil } : {}),
    phase,
    message: s.conditions?.find((c) => c.type === PHASE_CONDITION[phase] && c.status === 'True')?.message,
    progress: s.progress, iteration: s.iteration,
    ...(s.step ? { step: { ...s.step, of: run.spec.scenarios.length } } : {}),
    ...(s.activeJob ? { activeJob: s.activeJob } : {}),
    ...(waiting ? { nextStepTime: s.nextStepTime, nextStepInSeconds: Math.ceil((Date.parse(s.nextStepTime!) - now) / 1000) } : {}),
    gates: {
      pauseWhen: (run.spec.gates?.pauseWhen ?? []).map((g) => g.name),
      stopWhen: (run.spec.gates?.stopWhen ?? []).map((g) => g.name),
      ...(gated ? { heldBy: gated.reason, heldSince: s.gatedSince, message: gated.message } : {}),
    },
    counts: { succeeded: 0, failed: 0, aborted: 0, ...s.counts },
    lastSteps: (s.history ?? []).slice(-LAST_STEPS),
    ...(s.faults ? { faults: s.faults } : {}),
    created: run.metadata.creationTimestamp,
  };
}

/** Columns separated by two spaces, as kubectl prints tables. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd()).join('\n');
}

/** `kubectl chaosrun status` without a name: one line per run. */
export function statusTable(runs: ChaosRun[], now: number, withNamespace: boolean): string {
  if (runs.length === 0) return '';
  const head = [...(withNamespace ? ['NAMESPACE'] : []), 'NAME', 'SIGNAL', 'PHASE', 'PROGRESS', 'STEP', 'NEXT', 'AGE'];
  const rows = runs.map((run) => {
    const v = statusView(run, now);
    const next = v.nextStepTime ? `in ${until(v.nextStepTime, now)}` : v.gates.heldBy ? `gated` : '';
    return [...(withNamespace ? [v.namespace] : []), v.name, v.signal, v.phase, v.progress ?? '',
      v.step && !isFinal(run.status?.phase) ? `${v.step.index + 1}/${v.step.of} ${v.step.name}` : '', next, ago(v.created, now)];
  });
  return table([head, ...rows]);
}

function stepRows(steps: StepRecord[], now: number): string[][] {
  return [['ITERATION', 'STEP', 'RESULT', 'STARTED', 'DURATION', 'MESSAGE'], ...steps.map((h) => [
    String(h.iteration), h.step, h.result, `${ago(h.startTime, now)} ago`,
    formatDuration(seconds((h.endTime ? Date.parse(h.endTime) : now) - Date.parse(h.startTime))), h.message ?? '',
  ])];
}

/** `kubectl chaosrun status NAME`: everything at a glance. */
export function statusText(run: ChaosRun, now: number): string {
  const v = statusView(run, now);
  const lines: Array<[string, string]> = [
    ['Run', `${v.namespace}/${v.name}`],
    ['Signal', v.pauseUntil ? `${v.signal} until ${v.pauseUntil} (${until(v.pauseUntil, now)} left)` : v.signal],
    ['Phase', v.message ? `${v.phase}: ${v.message}` : v.phase],
    ['Progress', v.progress ? `iteration ${v.progress}${v.step ? `, step ${v.step.index + 1}/${v.step.of}` : ''}` : '-'],
  ];
  if (v.step && !isFinal(run.status?.phase)) lines.push(['Step', `${v.step.name}${v.activeJob ? ` (job ${v.activeJob})` : ''}`]);
  if (v.nextStepTime) lines.push(['Next step', `in ${until(v.nextStepTime, now)} (${v.nextStepTime})`]);
  if (v.faults) {
    const pods = v.faults.targets.map((t) => `${t.namespace}/${t.pod} on ${t.node}`).join(', ');
    lines.push(['Faults', `${v.faults.kind} in force on ${pods} for ${ago(v.faults.since, now)} (lease ${v.faults.leaseSeconds}s)`]);
  }
  const gates = [...v.gates.pauseWhen.map((g) => `pauseWhen ${g}`), ...v.gates.stopWhen.map((g) => `stopWhen ${g}`)];
  lines.push(['Gates', gates.length === 0 ? 'none'
    : `${gates.join(', ')}; ${v.gates.heldBy ? `held by ${v.gates.heldBy} for ${ago(v.gates.heldSince, now) || '?'}: ${v.gates.message}` : 'none holds the run'}`]);
  lines.push(['Steps', `${v.counts.succeeded} succeeded, ${v.counts.failed} failed, ${v.counts.aborted} aborted`]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 1;
  const out = lines.map(([k, val]) => `${`${k}:`.padEnd(width)}  ${val}`);
  if (v.lastSteps.length) out.push('', `Last ${v.lastSteps.length} step${v.lastSteps.length === 1 ? '' : 's'}:`, table(stepRows(v.lastSteps, now)).replace(/^/gm, '  '));
  return out.join('\n');
}

export interface ReportView {
  namespace: string;
  name: string;
  /** Whether the run has ended (the report is final) or this is the run so far. */
  final: boolean;
  phase: string;
  reason: string;
  message: string;
  startTime?: string;
  endTime?: string;
  durationSeconds: number;
  gatedSeconds: number;
  iterationsCompleted: number;
  stepsSucceeded: number;
  stepsFailed: number;
  stepsAborted: number;
  /** The steps the run's status keeps (spec.historyLimit). */
  steps: StepRecord[];
}

/** `kubectl chaosrun report NAME`: the final report, or the run so far from its status. */
export function reportView(run: ChaosRun, now: number): ReportView {
  const s = run.status ?? {};
  const r = s.report;
  const base = { namespace: run.metadata.namespace, name: run.metadata.name, phase: s.phase ?? 'Pending', steps: s.history ?? [] };
  if (r) {
    return { ...base, final: true, reason: r.reason, message: r.message, startTime: r.startTime, endTime: r.endTime, durationSeconds: r.durationSeconds,
      gatedSeconds: r.gatedSeconds, iterationsCompleted: r.iterationsCompleted, stepsSucceeded: r.stepsSucceeded, stepsFailed: r.stepsFailed, stepsAborted: r.stepsAborted };
  }
  const gatedNow = s.gatedSince ? (now - Date.parse(s.gatedSince)) / 1000 : 0;
  return {
    ...base, final: false, reason: 'InProgress', message: `the run so far (phase ${base.phase}); the report is final once the run ends`,
    startTime: s.startTime, durationSeconds: s.startTime ? Math.round((now - Date.parse(s.startTime)) / 1000) : 0,
    gatedSeconds: Math.round((s.gatedSeconds ?? 0) + gatedNow), iterationsCompleted: s.iterationsCompleted ?? 0,
    stepsSucceeded: s.counts?.succeeded ?? 0, stepsFailed: s.counts?.failed ?? 0, stepsAborted: s.counts?.aborted ?? 0,
  };
}

export function reportText(run: ChaosRun, now: number): string {
  const r = reportView(run, now);
  const lines = [
    `ChaosRun ${r.namespace}/${r.name}: ${r.final ? `${r.reason}: ${r.message}` : r.message}`,
    `Started:     ${r.startTime ?? '-'}${r.endTime ? `    Ended: ${r.endTime}` : ''}`,
    `Duration:    ${formatDuration(r.durationSeconds * 1000)}${r.gatedSeconds ? ` (held by gates ${formatDuration(r.gatedSeconds * 1000)})` : ''}`,
    `Iterations:  ${r.iterationsCompleted} completed`,
    `Steps:       ${r.stepsSucceeded} succeeded, ${r.stepsFailed} failed, ${r.stepsAborted} aborted`,
  ];
  if (r.steps.length) lines.push('', table(stepRows(r.steps, now)));
  return lines.join('\n');
}
