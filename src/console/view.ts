// What the console and the event stream show of a run: everything its list row and its page draw
// (timeline included), read from the ChaosRun alone. Pure; one shape for the browser and for scripts.
import { isFinal, type ChaosRun, type ChaosRunStatus, type FaultEndReason } from '../api/types.ts';

/**
 * One stretch of time a lasting fault was in force, for the timeline's applied and reverted marks: each
 * record of a step's history entry (status.history[].faults), then the one in force now (status.faults,
 * no `until` and no `reason`), oldest first.
 */
export interface FaultSpan {
  iteration: number;
  stepIndex: number;
  step: string;
  kind: string;
  pods: number;
  since: string;
  until?: string;
  reason?: FaultEndReason;
}

export function faultSpans(s: ChaosRunStatus, finished: boolean): FaultSpan[] {
  const spans: FaultSpan[] = [];
  for (const e of s.history ?? []) {
    for (const f of e.faults ?? []) spans.push({ iteration: e.iteration, stepIndex: e.stepIndex, step: e.step, ...f });
  }
  // A finished run holds no fault, whatever an old status says.
  const now = s.faults;
  if (now && !finished) {
    const entry = s.history?.find((e) => e.job === s.activeJob && e.step === now.step);
    spans.push({
      iteration: entry?.iteration ?? s.iteration ?? 1, stepIndex: entry?.stepIndex ?? s.step?.index ?? 0, step: now.step,
      kind: now.kind, pods: now.targets.length, since: now.since,
    });
  }
  return spans.sort((a, b) => Date.parse(a.since) - Date.parse(b.since));
}

export function runView(run: ChaosRun) {
  const s = run.status ?? {};
  const gated = s.conditions?.find((c) => c.type === 'Gated' && c.status === 'True');
  const finished = isFinal(s.phase);
  return {
    namespace: run.metadata.namespace,
    name: run.metadata.name,
    created: run.metadata.creationTimestamp,
    signal: run.spec.signalState,
    pauseUntil: run.spec.pauseUntil,
    phase: s.phase ?? 'Pending',
    finished,
    progress: s.progress,
    iteration: s.iteration,
    step: s.step,
    steps: run.spec.scenarios.map((sc) => sc.name),
    iterations: run.spec.daemonMode ? null : run.spec.iterations,
    waitDuration: run.spec.waitDuration,
    gate: gated ? { gate: gated.reason, message: gated.message, since: s.gatedSince } : undefined,
    nextStepTime: s.nextStepTime,
    startTime: s.startTime,
    completionTime: s.completionTime,
    counts: s.counts,
    // Each entry's fault records go out once, in faultSpans.
    history: (s.history ?? []).map(({ faults: _records, ...entry }) => entry),
    faults: s.faults,
    faultSpans: faultSpans(s, finished),
    transitions: s.transitions ?? [],
    conditions: s.conditions ?? [],
    report: finished ? s.report : undefined,
  };
}

export type RunView = ReturnType<typeof runView>;
