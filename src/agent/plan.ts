// The node agent's functional core: what to do on this node, as a pure function of the faults wanted
// here (from watches of runs, steps and signals) and the faults found here (read back from the node's
// own tagged tables). The shell plans from what it last read of the node (kept up with its own actions
// and read again every few seconds: readings.ts), carries the actions out and sleeps until `wakeInMs`;
// it keeps nothing durable, so a restarted agent converges from what it finds.
//
// The rules, per fault key (network namespace + id; one table chaosrun_<id> per namespace):
//   wanted, valid, not found                      -> apply   (create the table whole)
//   wanted, found with another specHash           -> apply   (rebuild it whole, in one nft transaction;
//                                                              Chaos Mesh's idempotent whole-state apply)
//   wanted, found, lease unreadable               -> apply   (a table without a readable lease is not
//                                                              one this agent would leave running)
//   wanted, found, same hash, lease left < 2/3    -> renew   (fresh timeouts on the lease's elements)
//   wanted, found, same hash, lease left >= 2/3   -> nothing
//   found, not wanted (or wanted but refused)     -> revert  (delete that one table)
//   wanted but invalid, or the same key wanted
//   twice with different specs                    -> refuse  (told back, never guessed at; whatever is
//                                                              found under that key is reverted)
// The same key wanted twice with the same spec is one fault (with the shorter lease: the safer one).
// Two delay faults in one namespace whose ids hash to the same queue number (1 in 64,000) cannot
// both be held (one delayer per queue): the one with the later id is refused, its packets untouched.
//
// Why 2/3: renewing once a third of the lease is gone leaves two more chances before it lapses, so a
// pass that is late (a slow nft, a busy node) does not end a fault that is still wanted, while a dead
// agent's faults still end within one lease. `wakeInMs` is when the next renewal falls due; the shell
// should also pass on every change of what is wanted, so reverts (PAUSE, STOP) happen at once.
// A lease found already expired is renewed, not rebuilt: its rules are intact and match nothing.
//
// Order: reverts first (ending chaos comes before anything else), then renewals (cheap, and late
// ones end faults still wanted), then applies, then refusals; each sorted by namespace and id.
//
// Only tables this agent tagged are ever named here: a found entry whose id is not a valid tag is
// ignored, and an action names one fault's table, never a rule or a position.
import {
  faultKey, isValidId, normalAction, queueNumber, specHash, validateFault, type FoundFault, type WantedFault,
} from './fault.ts';

export type AgentAction =
  | { kind: 'apply'; fault: WantedFault; specHash: string; reason: 'missing' | 'changed' | 'no-lease' }
  | { kind: 'renew'; fault: WantedFault; leaseExpiresInMs: number }
  | { kind: 'revert'; netns: string; id: string; reason: 'not-wanted' | 'refused' }
  | { kind: 'refuse'; fault: WantedFault; reason: string };

export interface NodePlan {
  actions: AgentAction[];
  /** When the next renewal falls due (absent: nothing wanted, nothing to renew). */
  wakeInMs?: number;
}

/** A found fault is renewed once less than this share of its wanted lease is left. */
export const RENEW_BELOW = 2 / 3;

/** The renewal threshold in milliseconds for a lease. */
export const renewBelowMs = (leaseSeconds: number): number => Math.floor(leaseSeconds * 1000 * RENEW_BELOW);

const order = (a: { netns: string; id: string }, b: { netns: string; id: string }) =>
  a.netns < b.netns ? -1 : a.netns > b.netns ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
const keyOf = (w: WantedFault) => faultKey(w.target.netns, w.id);
const place = (w: WantedFault) => ({ netns: w.target.netns, id: w.id });

export function planNode(wanted: WantedFault[], found: FoundFault[]): NodePlan {
  const refused: Array<{ fault: WantedFault; reason: string }> = [];
  const refusedKeys = new Set<string>();
  // The wanted faults, one per key, each with its hash.
  const byKey = new Map<string, WantedFault[]>();
  for (const w of wanted) {
    const invalid = validateFault(w);
    if (invalid) {
      refused.push({ fault: w, reason: invalid });
      if (isValidId(w.id) && typeof w.target?.netns === 'string') refusedKeys.add(keyOf(w));
      continue;
    }
    const list = byKey.get(keyOf(w)) ?? [];
    list.push(w);
    byKey.set(keyOf(w), list);
  }
  const want = new Map<string, { fault: WantedFault; hash: string }>();
  for (const [key, list] of byKey) {
    const hashes = new Set(list.map(specHash));
    if (hashes.size > 1) {
      const reason = `fault ${list[0].id} in ${list[0].target.netns} is wanted ${list.length} times with different specs (runs ${[...new Set(list.map((w) => `${w.run.namespace}/${w.run.name}`))].join(', ')})`;
      for (const fault of list) refused.push({ fault, reason });
      refusedKeys.add(key);
      continue;
    }
    const fault = list.reduce((a, b) => (b.leaseSeconds < a.leaseSeconds ? b : a));
    want.set(key, { fault, hash: [...hashes][0] });
  }
  // Refused keys are not wanted at all: a half-valid wish is not a reason to keep old rules running.
  for (const key of refusedKeys) want.delete(key);
  // One delayer per queue per namespace: of two delays on one queue, the later id is refused.
  const queues = new Map<string, WantedFault>();
  for (const [key, { fault }] of [...want].sort(([, a], [, b]) => order(place(a.fault), place(b.fault)))) {
    if (normalAction(fault.action).kind !== 'delay') continue;
    const q = `${fault.target.netns}\u0000${queueNumber(fault.id)}`;
    const first = queues.get(q);
    if (!first) { queues.set(q, fault); continue; }
    refused.push({ fault, reason: `fault ${fault.id}: its delay queue ${queueNumber(fault.id)} in ${fault.target.netns} is fault ${first.id}'s already` });
    refusedKeys.add(key);
    want.delete(key);
  }

  // The found faults, one per key (a shell that listed one namespace under two paths may repeat one).
  const have = new Map<string, FoundFault>();
  for (const f of found) {
    if (!isValidId(f.id)) continue;
    const key = faultKey(f.netns, f.id);
    const prev = have.get(key);
    if (!prev) { have.set(key, f); continue; }
    // Two readings that disagree on the spec are rebuilt; the lease is the shorter one (or unknown).
    const merged: FoundFault = { ...prev, specHash: prev.specHash === f.specHash ? prev.specHash : '' };
    if (prev.leaseExpiresInMs === undefined || f.leaseExpiresInMs === undefined) delete merged.leaseExpiresInMs;
    else merged.leaseExpiresInMs = Math.min(prev.leaseExpiresInMs, f.leaseExpiresInMs);
    have.set(key, merged);
  }

  const reverts: AgentAction[] = [];
  const renews: AgentAction[] = [];
  const applies: AgentAction[] = [];
  let wake: number | undefined;
  const wakeAt = (ms: number) => { wake = wake === undefined ? Math.max(0, ms) : Math.min(wake, Math.max(0, ms)); };

  for (const [key, f] of have) {
    if (!want.has(key)) reverts.push({ kind: 'revert', netns: f.netns, id: f.id, reason: refusedKeys.has(key) ? 'refused' : 'not-wanted' });
  }
  for (const [key, { fault, hash }] of want) {
    const f = have.get(key);
    const leaseMs = fault.leaseSeconds * 1000;
    const threshold = renewBelowMs(fault.leaseSeconds);
    if (!f || f.specHash !== hash || f.leaseExpiresInMs === undefined) {
      applies.push({ kind: 'apply', fault, specHash: hash, reason: !f ? 'missing' : f.specHash !== hash ? 'changed' : 'no-lease' });
      wakeAt(leaseMs - threshold);
    } else if (f.leaseExpiresInMs < threshold) {
      renews.push({ kind: 'renew', fault, leaseExpiresInMs: f.leaseExpiresInMs });
      wakeAt(leaseMs - threshold);
    } else {
      wakeAt(f.leaseExpiresInMs - threshold);
    }
  }

  const byPlace = (a: AgentAction, b: AgentAction) => order(a.kind === 'revert' ? a : place(a.fault), b.kind === 'revert' ? b : place(b.fault));
  const refusals: AgentAction[] = refused.map((r) => ({ kind: 'refuse', fault: r.fault, reason: r.reason }));
  const actions = [...reverts.sort(byPlace), ...renews.sort(byPlace), ...applies.sort(byPlace), ...refusals];
  return { actions, ...(wake === undefined ? {} : { wakeInMs: wake }) };
}
