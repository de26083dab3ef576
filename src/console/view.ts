// What the console and the event stream show of a run: everything its list row and its page draw
// (timeline included), read from the ChaosRun alone. Pure; one shape for the browser and for scripts.
import { isFinal, type ChaosRun } from '../api/types.ts';

export function runView(run: ChaosRun) {
  const s = run.status ?? {};
  const gated = s.conditions?.find((c) => c.type === 'Gated' && c.status === 'True');
  return {
    namespace: run.metadata.namespace,
    name: run.metadata.name,
    created: run.metadata.creationTimestamp,
    signal: run.spec.signalState,
    pauseUntil: run.spec.pauseUntil,
    phase: s.phase ?? 'Pending',
    finished: isFinal(s.phase),
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
    history: s.history ?? [],
    faults: s.faults,
    transitions: s.transitions ?? [],
    conditions: s.conditions ?? [],
    report: isFinal(s.phase) ? s.report : undefined,
  };
}

export type RunView = ReturnType<typeof runView>;
