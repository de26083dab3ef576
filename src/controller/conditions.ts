// Kubernetes-style conditions: lastTransitionTime moves only when a condition's status flips.
import type { Condition, Phase } from '../api/types.ts';

export function setCondition(
  conditions: Condition[], type: string, on: boolean, reason: string, message: string, generation: number | undefined, now: string,
): Condition[] {
  const status = on ? 'True' : 'False';
  const old = conditions.find((c) => c.type === type);
  const next: Condition = {
    type, status, reason, message,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...conditions.filter((c) => c.type !== type), next].sort((a, b) => a.type.localeCompare(b.type));
}

const PHASE_CONDITIONS: Array<[type: string, phase: Phase]> = [
  ['Running', 'Running'], ['Paused', 'Paused'], ['Complete', 'Completed'], ['Stopped', 'Stopped'], ['Failed', 'Failed'],
];

/** One condition per phase, True for the current phase; `reason`/`message` explain it, the others name the phase. */
export function phaseConditions(
  existing: Condition[], phase: Phase, reason: string, message: string, generation: number | undefined, now: string,
): Condition[] {
  let out = existing;
  for (const [type, p] of PHASE_CONDITIONS) {
    const on = p === phase;
    out = setCondition(out, type, on, on ? reason : phase, on ? message : `run is ${phase}`, generation, now);
  }
  return out;
}
