// What the agent tells the operator of the faults wanted on its node (the contract: AgentReport in
// src/api/fault-holder.ts), as a pure function of one pass: what was wanted, what the plan refused,
// and which actions failed and how. The shell serves the latest one at GET /faults.
//
// A failure is `refused` when trying again cannot help (the kernel lacks a feature the rule needs, nft
// or the delayer is missing, the agent may not enter the namespace): the operator then fails the step
// with this line, at once, instead of letting it run its duration with nothing injected. Any other
// failure (a timeout, a table changed under us) is `failing`: the next pass tries again.
import type { AgentFaultReport, AgentReport } from '../api/fault-holder.ts';
import { faultKey, type WantedFault } from './fault.ts';
import { isNftError } from './nft.ts';
import type { AgentAction } from './plan.ts';

export interface ActionFailure { permanent: boolean; message: string }

/** How an action's error counts: nft's own classification says whether trying again can help. */
export function classifyFailure(err: unknown): ActionFailure {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const permanent = isNftError(err) && (err.reason === 'missing-feature' || err.reason === 'not-installed' || err.reason === 'not-permitted');
  return { permanent, message };
}

const kindOf = (w: WantedFault) => Object.keys(w.action)[0] ?? 'fault';

/**
 * One entry per wanted fault. `failures` and `notDone` are keyed by faultKey(netns, id): the actions
 * that failed this pass, and those put off to the next (applies that gave way to a revert).
 */
export function faultReport(node: string, wanted: readonly WantedFault[], actions: readonly AgentAction[],
  failures: ReadonlyMap<string, ActionFailure>, notDone: ReadonlySet<string>): AgentReport {
  const refused = new Map<string, string>();
  for (const a of actions) if (a.kind === 'refuse' && a.fault.target?.netns !== undefined) refused.set(faultKey(a.fault.target.netns, a.fault.id), a.reason);
  const faults: AgentFaultReport[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    const key = faultKey(w.target.netns, w.id);
    if (seen.has(key) || notDone.has(key)) continue;
    seen.add(key);
    const entry = { holder: w.id, namespace: w.target.namespace, pod: w.target.pod };
    const failure = failures.get(key);
    const refusal = refused.get(key);
    if (refusal !== undefined) faults.push({ ...entry, state: 'refused', reason: `${kindOf(w)} refused: ${refusal}` });
    else if (failure) faults.push({ ...entry, state: failure.permanent ? 'refused' : 'failing', reason: failure.message });
    else faults.push({ ...entry, state: 'in-force' });
  }
  faults.sort((a, b) => a.holder.localeCompare(b.holder) || a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod));
  return { node, faults };
}
