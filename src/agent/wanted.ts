// What should be in force on this node, as a pure function of what the agent's watches show: the
// holder pods of lasting-fault steps (src/api/fault-holder.ts), their runs, and the pod sandboxes found
// on this node. The other half of the agent's core (plan.ts compares the result with what is found).
//
// A fault is wanted on a target exactly while all of these hold:
//   - its holder pod is Running and not being deleted (the step's Job runs it for the step's duration;
//     STOP, the timeout, the dead-man switch, a hand-deleted Job or pod, a deleted run and an uninstall
//     all end it);
//   - the holder's run exists, is not finished, and its signal is RUN (PAUSE and STOP revert at once,
//     before the controller has even acted on them);
//   - the kill-switch record (src/api/kill-switch.ts) does not name the holder's run with a stoppedAt
//     after the holder was created: one write ends the faults of every run a broadcast STOP stops,
//     before its patches of the runs reach the agents one by one;
//   - the target is on this node and its sandbox is found here (the pause container's network
//     namespace: it lives as long as the pod, so a crash-looping target container never blocks a
//     revert).
// Anything else is not wanted, and plan.ts reverts whatever this agent finds of it. The table's id is
// the holder pod's uid: one per step and target namespace, and found again by a restarted agent.
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, parseFaultSpec, parseFaultTargets, type FaultSpec, type FaultTargetRef } from '../api/fault-holder.ts';
import { runKey, type KillSwitchRecord } from '../api/kill-switch.ts';
import type { WantedFault } from './fault.ts';

export interface HolderView {
  uid: string;
  namespace: string;
  name: string;
  phase?: string;
  deleting: boolean;
  /** metadata.creationTimestamp (RFC 3339, whole seconds). */
  created?: string;
  /** status.startTime: when the holder started holding (its step's clock starts here). */
  started?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RunView { signalState?: string; phase?: string }

export interface WantedOnNode {
  wanted: WantedFault[];
  /** Targets on this node whose sandbox was not found (yet): told in logs, retried next pass. */
  unresolved: FaultTargetRef[];
}

const FINISHED = new Set(['Completed', 'Failed', 'Stopped']);
const LABEL_RUN = 'chaosrun.dev/run';
const LABEL_STEP = 'chaosrun.dev/step';

/** The holder's id as a table tag: its uid, which is already lower-case hex and dashes. */
export const faultIdOf = (holderUid: string): string => holderUid.toLowerCase();

/**
 * Whether the kill-switch record ends this holder's fault: the record names its run, and the holder
 * was created before the record's stoppedAt. creationTimestamp has whole seconds (rounded down), so a
 * holder of a listed run created in the same second just after the throw is ended too (only a run
 * re-created under a stopped run's name within that second could have one); a holder whose creation
 * time cannot be read is ended: the record errs on the side of less chaos.
 */
export function endedByKillSwitch(record: KillSwitchRecord | undefined, holder: HolderView, runName: string): boolean {
  if (!record || !record.runs.has(runKey(holder.namespace, runName))) return false;
  const created = holder.created === undefined ? Number.NaN : Date.parse(holder.created);
  return !(created > record.stoppedAt);
}

/** A holder whose fault is wanted now (Running, its run unfinished and at RUN, not ended by the kill switch). */
export interface LiveHolder { holder: HolderView; runName: string; spec: FaultSpec; targets: FaultTargetRef[] }

/** The holders whose faults are wanted now, each with its spec and targets: the rules above, for every fault kind. */
export function liveHolders(
  holders: HolderView[],
  runOf: (namespace: string, name: string) => RunView | undefined,
  killSwitch?: KillSwitchRecord,
): LiveHolder[] {
  const live: LiveHolder[] = [];
  for (const h of holders) {
    if (h.phase !== 'Running' || h.deleting) continue;
    const runName = h.labels[LABEL_RUN];
    if (!runName) continue;
    const run = runOf(h.namespace, runName);
    if (!run || run.signalState !== 'RUN' || (run.phase !== undefined && FINISHED.has(run.phase))) continue;
    if (endedByKillSwitch(killSwitch, h, runName)) continue;
    const spec = parseFaultSpec(h.annotations[ANNOTATION_FAULT]);
    if (!spec) continue;
    live.push({ holder: h, runName, spec, targets: parseFaultTargets(h.annotations[ANNOTATION_FAULT_TARGETS]) });
  }
  return live;
}

export const stepOf = (h: HolderView): string => h.labels[LABEL_STEP] ?? '';

export function wantedOnNode(
  node: string,
  holders: HolderView[],
  runOf: (namespace: string, name: string) => RunView | undefined,
  sandboxOf: (podUid: string) => string | undefined,
  killSwitch?: KillSwitchRecord,
): WantedOnNode {
  const wanted: WantedFault[] = [];
  const unresolved: FaultTargetRef[] = [];
  for (const { holder: h, runName, spec, targets } of liveHolders(holders, runOf, killSwitch)) {
    if (spec.kind !== 'network') continue;
    for (const t of targets) {
      if (t.node !== node) continue;
      const netns = sandboxOf(t.uid);
      if (!netns) { unresolved.push(t); continue; }
      wanted.push({
        id: faultIdOf(h.uid),
        run: { namespace: h.namespace, name: runName },
        step: stepOf(h),
        target: { namespace: t.namespace, pod: t.name, podUid: t.uid, netns },
        direction: spec.direction,
        ...(spec.to?.length ? { to: spec.to } : {}),
        action: spec.effect,
        leaseSeconds: spec.leaseSeconds,
      });
    }
  }
  return { wanted, unresolved };
}
