// The campaign's result: one row per fault with its trial count, violations by invariant and
// duration, printed as a Markdown table (the README's Reliability section is a copy of one).
import type { Invariant, Violation } from './invariants.ts';

export interface FaultResult {
  fault: string;
  /** What one trial is for this fault (a run, a kill, a request). */
  unit: string;
  trials: number;
  /** The invariants this fault checked (each shows in the table, 0 or not). */
  checked: Invariant[];
  violations: Violation[];
  durationMs: number;
  /** Measurements worth printing (kills by moment, worst recovery time, ...). */
  notes: string[];
  /** Why the fault did not run (e.g. an API server the campaign cannot restart). */
  skipped?: string;
}

export const totalViolations = (results: FaultResult[]) => results.reduce((n, r) => n + r.violations.length, 0);

export function renderTable(results: FaultResult[], seed: number, durationMs: number): string {
  const rows = results.map((r) => {
    const counts = r.checked.map((inv) => `${inv} ${r.violations.filter((v) => v.invariant === inv).length}`).join(', ');
    const trials = r.skipped ? 'skipped' : `${r.trials} ${r.unit}`;
    return `| ${r.fault} | ${trials} | ${r.skipped ? r.skipped : counts} | ${r.violations.length} | ${(r.durationMs / 1000).toFixed(0)} s |`;
  });
  return [
    `seed ${seed}, ${(durationMs / 1000).toFixed(0)} s`,
    '',
    '| fault | trials | violations by invariant | violations | duration |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    ...results.filter((r) => r.notes.length).map((r) => `- ${r.fault}: ${r.notes.join('; ')}`),
  ].join('\n');
}

/** Every violation, one line each, for diagnosis. */
export function renderViolations(results: FaultResult[]): string {
  return results.flatMap((r) => r.violations.map((v) => `${r.fault}: ${v.invariant} ${v.subject}: ${v.detail}`)).join('\n');
}
