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

/** A fault that did not run is SKIPPED, never passed: it proved nothing. */
export const faultStatus = (r: FaultResult): 'passed' | 'failed' | 'skipped' => (r.skipped ? 'skipped' : r.violations.length ? 'failed' : 'passed');

export function renderTable(results: FaultResult[], seed: number, durationMs: number): string {
  const rows = results.map((r) => {
    if (r.skipped) return `| ${r.fault} | SKIPPED | SKIPPED: ${r.skipped} | - | ${(r.durationMs / 1000).toFixed(0)} s |`;
    const counts = r.checked.map((inv) => `${inv} ${r.violations.filter((v) => v.invariant === inv).length}`).join(', ');
    return `| ${r.fault} | ${r.trials} ${r.unit} | ${counts} | ${r.violations.length} | ${(r.durationMs / 1000).toFixed(0)} s |`;
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

/** The closing line: how many faults passed, failed and were skipped (and why), and the violations. */
export function summaryLine(results: FaultResult[]): string {
  const count = (s: ReturnType<typeof faultStatus>) => results.filter((r) => faultStatus(r) === s).length;
  const skipped = results.filter((r) => r.skipped);
  return `faults: ${count('passed')} passed, ${count('failed')} failed, ${skipped.length} SKIPPED` +
    `${skipped.length ? ` (${skipped.map((r) => `${r.fault}: ${r.skipped}`).join('; ')})` : ''}; ${totalViolations(results)} violation(s)`;
}

/** The campaign as JSON (`--json FILE`): each fault with its status, and the summary's counts. */
export function resultsJson(results: FaultResult[], seed: number, durationMs: number) {
  const count = (s: ReturnType<typeof faultStatus>) => results.filter((r) => faultStatus(r) === s).length;
  return {
    seed, durationMs,
    summary: { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), violations: totalViolations(results) },
    faults: results.map((r) => ({ status: faultStatus(r), ...r })),
  };
}

/** Every violation, one line each, for diagnosis. */
export function renderViolations(results: FaultResult[]): string {
  return results.flatMap((r) => r.violations.map((v) => `${r.fault}: ${v.invariant} ${v.subject}: ${v.detail}`)).join('\n');
}
