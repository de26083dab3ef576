// The rules of the node faults (nodeCordon, nodeDrain), as pure functions of what the controller's
// caches show and the time: which nodes should be cordoned now (from the holder pods, their runs and
// the kill-switch record), which are (from the nodes marked by LABEL_CORDON), and what to do about the
// difference; for a drain, which of a node's pods to evict and when to give up. The shell
// (cordoner.ts) reads, calls these, and carries the actions out; it remembers nothing between passes.
//
// A cordon is wanted on a node exactly while all of these hold (the first three are every holder's,
// src/api/holder.ts):
//   - its holder pod is Running and not being deleted (its duration, STOP, the timeout, the dead-man
//     switch, a deleted Job or pod, a deleted run and an uninstall all end it);
//   - the holder's run exists, is not finished, and its signal is RUN (PAUSE uncordons at once, RUN
//     cordons again for what is left of the duration);
//   - the kill-switch record does not name the holder's run with a stoppedAt after the holder's creation;
//   - the holder named the node in its targets, and the targets' deadline has not passed;
//   - the node is not the one the acting controller runs on, unless the step allows it.
// A found cordon that is not wanted by its own holder, or whose recorded deadline has passed, is
// uncordoned. A node marked with the label but without a readable record is only unmarked: only a
// node that carries our record is ever made schedulable.
import { ANNOTATION_CORDON, ANNOTATION_NODE_TARGETS, LABEL_CORDON, parseCordonRecord, parseNodeFaultSpec, parseNodeTargets, type CordonRecord, type DrainRecord, type NodeFaultKind, type NodeFaultSpec } from '../api/node-fault.ts';
import { ANNOTATION_FAULT } from '../api/fault-holder.ts';
import { runKey, type KillSwitchRecord } from '../api/kill-switch.ts';
import { LABEL_STEP } from '../api/constants.ts';
import { holderInForce, type HolderView, type RunView } from '../api/holder.ts';

export type { HolderView, RunView } from '../api/holder.ts';

export interface NodeView {
  name: string;
  unschedulable: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface WantedCordon {
  node: string;
  holder: { namespace: string; name: string; uid: string };
  run: string;
  step?: string;
  kind: NodeFaultKind;
  spec: NodeFaultSpec;
  /** Milliseconds since the epoch. */
  deadline: number;
}

export interface FoundCordon {
  node: string;
  /** Absent: the node has our label but no readable record (only the label is removed). */
  record?: CordonRecord;
  /** The holder uid the label names. */
  labelledBy: string;
}

export type CordonAction =
  | { kind: 'cordon'; node: string; wanted: WantedCordon }
  | { kind: 'uncordon'; node: string; holderUid: string; why: string }
  | { kind: 'unmark'; node: string; why: string }
  | { kind: 'drain'; node: string; wanted: WantedCordon; record: CordonRecord };

export interface CordonPlan {
  actions: CordonAction[];
  /** Wanted cordons not carried out, and why (the operator's node). */
  refused: Array<{ node: string; holderUid: string; why: string }>;
  /** When the next pass must run at the latest (a deadline), if any. */
  wakeAt?: number;
}

/** The cordons one holder wants now (none when it is not in force), each with its deadline. */
export function wantedOf(h: HolderView, runOf: (namespace: string, name: string) => RunView | undefined, now: number, killSwitch?: KillSwitchRecord): WantedCordon[] {
  const runName = holderInForce(h, runOf, killSwitch);
  if (!runName) return [];
  const spec = parseNodeFaultSpec(h.annotations[ANNOTATION_FAULT]);
  const targets = parseNodeTargets(h.annotations[ANNOTATION_NODE_TARGETS]);
  if (!spec || !targets) return [];
  const deadline = Date.parse(targets.deadline);
  if (!(now < deadline)) return [];
  return targets.nodes.map((node) => ({
    node, holder: { namespace: h.namespace, name: h.name, uid: h.uid }, run: runKey(h.namespace, runName),
    ...(h.labels[LABEL_STEP] ? { step: h.labels[LABEL_STEP] } : {}), kind: spec.kind, spec, deadline,
  }));
}

/**
 * Every wanted cordon, one holder per node: where two holders name one node (only possible when one
 * picked it while the other was paused), the older holder has it.
 */
export function wantedCordons(holders: HolderView[], runOf: (namespace: string, name: string) => RunView | undefined, now: number, killSwitch?: KillSwitchRecord): Map<string, WantedCordon> {
  const byAge = [...holders].sort((a, b) => (a.created ?? '').localeCompare(b.created ?? '') || a.uid.localeCompare(b.uid));
  const wanted = new Map<string, WantedCordon>();
  for (const h of byAge) for (const w of wantedOf(h, runOf, now, killSwitch)) if (!wanted.has(w.node)) wanted.set(w.node, w);
  return wanted;
}

/** The cordons found: the nodes carrying LABEL_CORDON. */
export function foundCordons(nodes: NodeView[]): FoundCordon[] {
  return nodes.filter((n) => n.labels[LABEL_CORDON] !== undefined).map((n) => {
    const record = parseCordonRecord(n.annotations[ANNOTATION_CORDON]);
    return { node: n.name, labelledBy: n.labels[LABEL_CORDON], ...(record ? { record } : {}) };
  });
}

/**
 * What to do: uncordon what is found and not wanted (or past its deadline), cordon what is wanted and not
 * found, drain what is both. `judges` says which namespaces' runs this controller answers for (absent:
 * all): a found cordon of a run elsewhere is another operator's to judge, so here only its recorded
 * deadline ends it (a deadline needs no read of anything, and bounds a cordon whose operator is gone).
 */
export function planCordons(wanted: Map<string, WantedCordon>, found: FoundCordon[], now: number, operatorNode?: string, judges?: (runNamespace: string) => boolean): CordonPlan {
  const actions: CordonAction[] = [];
  const refused: CordonPlan['refused'] = [];
  let wakeAt: number | undefined;
  const wake = (t: number) => { wakeAt = Math.min(wakeAt ?? Infinity, t); };
  const foundOn = new Map(found.map((f) => [f.node, f]));
  for (const f of found) {
    if (!f.record) { actions.push({ kind: 'unmark', node: f.node, why: 'labelled without a readable cordon record' }); continue; }
    const w = wanted.get(f.node);
    const deadline = Date.parse(f.record.deadline);
    if (!(now < deadline)) { actions.push({ kind: 'uncordon', node: f.node, holderUid: f.record.holder.uid, why: 'its deadline passed' }); continue; }
    if (judges && !judges(f.record.holder.namespace)) { wake(deadline); continue; }
    if (!w || w.holder.uid !== f.record.holder.uid) {
      actions.push({ kind: 'uncordon', node: f.node, holderUid: f.record.holder.uid, why: 'its step is not running (or its run does not say RUN)' });
      continue;
    }
    wake(deadline);
    if (w.kind === 'nodeDrain') actions.push({ kind: 'drain', node: f.node, wanted: w, record: f.record });
  }
  for (const w of wanted.values()) {
    if (foundOn.has(w.node)) continue;
    if (operatorNode !== undefined && w.node === operatorNode && !w.spec.allowOperatorNode) {
      refused.push({ node: w.node, holderUid: w.holder.uid, why: 'the operator\'s controller runs on it (allowOperatorNode is not set)' });
      continue;
    }
    actions.push({ kind: 'cordon', node: w.node, wanted: w });
    wake(w.deadline);
  }
  return { actions, refused, ...(wakeAt !== undefined ? { wakeAt } : {}) };
}

/** The cordon record a cordon of `w` writes on its node at `now`. */
export function cordonRecordOf(w: WantedCordon, now: number): CordonRecord {
  return {
    run: w.run, holder: w.holder, ...(w.step ? { step: w.step } : {}), kind: w.kind,
    deadline: new Date(w.deadline).toISOString(), since: new Date(now).toISOString(),
  };
}

/** A pod on a node being drained, as the drain rules need it. */
export interface PodView {
  namespace: string;
  name: string;
  phase?: string;
  deleting: boolean;
  /** The kinds of its controller owners (ReplicaSet, DaemonSet, StatefulSet, Job, Node for a mirror pod). */
  ownerKinds: string[];
  /** The kubelet's mirror of a static pod (annotation kubernetes.io/config.mirror). */
  mirror: boolean;
  /** A chaosrun step pod holding a fault (LABEL_FAULT): evicting it would end the step it belongs to. */
  holder: boolean;
}

export type Skip = 'DaemonSet' | 'mirror' | 'finished' | 'holder' | 'unmanaged';

/**
 * Why a pod is left on a drained node, or undefined when it is evicted. As `kubectl drain`: DaemonSet
 * pods (their controller ignores unschedulable and would put them back at once) and mirror pods (the
 * API cannot remove a static pod) stay, and a pod no controller re-creates is not evicted (kubectl's
 * --force is a choice this fault does not make for its author: that pod would be gone for good).
 * Chaos step pods stay too, so a drain never ends its own or another step.
 */
export function skipReason(p: PodView): Skip | undefined {
  if (p.mirror || p.ownerKinds.includes('Node')) return 'mirror';
  if (p.ownerKinds.includes('DaemonSet')) return 'DaemonSet';
  if (p.phase === 'Succeeded' || p.phase === 'Failed') return 'finished';
  if (p.holder) return 'holder';
  if (p.ownerKinds.length === 0) return 'unmanaged';
  return undefined;
}

export interface DrainPlan {
  /** Pods to evict now (namespace/name). */
  evict: Array<{ namespace: string; name: string }>;
  /** The record to write on the node, when it changed. */
  record?: DrainRecord;
  /** True when the drain is over: every evictable pod gone or leaving, or the timeout passed. */
  settled: boolean;
}

/**
 * One drain pass on a node: evict every evictable pod that is not leaving already; once the eviction
 * timeout (from the cordon's `since`) has passed with pods still refused, stop and record them as
 * blocked (the holder then fails the step with that line). `refusals` are the last answers of the
 * API server to evictions of this cordon that were refused (429: a PodDisruptionBudget).
 */
export function planDrain(pods: PodView[], cordon: CordonRecord, before: DrainRecord | undefined, refusals: ReadonlyMap<string, string>, evictedNow: readonly string[], now: number, timeoutSeconds: number): DrainPlan {
  const prior = before && before.since === cordon.since ? before : undefined;
  const evicted = [...new Set([...(prior?.evicted ?? []), ...evictedNow])].sort();
  const remaining = pods.filter((p) => !p.deleting && skipReason(p) === undefined).map((p) => `${p.namespace}/${p.name}`);
  const due = Date.parse(cordon.since) + timeoutSeconds * 1000;
  const timedOut = prior?.timedOut === true || (remaining.length > 0 && now >= due);
  const next: DrainRecord = { since: cordon.since, evicted };
  if (timedOut) {
    next.timedOut = true;
    next.blocked = prior?.timedOut ? prior.blocked : remaining.map((pod) => ({ pod, reason: refusals.get(pod) ?? 'not evicted in time' }));
  }
  const changed = JSON.stringify(next) !== JSON.stringify(prior);
  const evict = timedOut ? [] : pods.filter((p) => !p.deleting && skipReason(p) === undefined).map((p) => ({ namespace: p.namespace, name: p.name }));
  return { evict, ...(changed ? { record: next } : {}), settled: timedOut || remaining.length === 0 };
}

/** The fields of a pod (as the API server gives it) that the drain rules read. */
export interface RawPod {
  metadata?: { namespace?: string; name?: string; deletionTimestamp?: unknown; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ kind?: string; controller?: boolean }> };
  status?: { phase?: string };
}

export function podViewOf(p: RawPod): PodView {
  const m = p.metadata ?? {};
  return {
    namespace: m.namespace ?? '', name: m.name ?? '', ...(p.status?.phase ? { phase: p.status.phase } : {}),
    deleting: Boolean(m.deletionTimestamp),
    ownerKinds: (m.ownerReferences ?? []).filter((o) => o.controller).map((o) => o.kind ?? ''),
    mirror: m.annotations?.['kubernetes.io/config.mirror'] !== undefined,
    holder: m.labels?.['chaosrun.dev/fault'] !== undefined,
  };
}
