// What should be in force on this node, as a pure function of what the agent's watches show: the
// holder pods of lasting-fault steps (src/api/fault-holder.ts), their runs, and the pod sandboxes found
// on this node. The other half of the agent's core (plan.ts compares the result with what is found).
//
// A fault is wanted on a target exactly while all of these hold:
//   - its holder's fault is in force (src/api/holder.ts: the holder pod Running and not being deleted,
//     its run unfinished and at RUN, the kill-switch record not naming it), the rule the controller's
//     cordoner holds node faults to as well;
//   - the target is on this node and its sandbox is found here (the pause container's network
//     namespace: it lives as long as the pod, so a crash-looping target container never blocks a
//     revert).
// Anything else is not wanted, and plan.ts reverts whatever this agent finds of it. The table's id is
// the holder pod's uid: one per step and target namespace, and found again by a restarted agent.
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, parseFaultSpec, parseFaultTargets, type FaultSpec, type FaultTargetRef } from '../api/fault-holder.ts';
import type { KillSwitchRecord } from '../api/kill-switch.ts';
import { LABEL_STEP } from '../api/constants.ts';
import { holderInForce, type HolderView, type RunView } from '../api/holder.ts';
import type { WantedFault } from './fault.ts';

export type { HolderView, RunView } from '../api/holder.ts';
export { endedByKillSwitch } from '../api/holder.ts';

export interface WantedOnNode {
  wanted: WantedFault[];
  /** Targets on this node whose sandbox was not found (yet): told in logs, retried next pass. */
  unresolved: FaultTargetRef[];
}

/** The holder's id as a table tag: its uid, which is already lower-case hex and dashes. */
export const faultIdOf = (holderUid: string): string => holderUid.toLowerCase();

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
    const runName = holderInForce(h, runOf, killSwitch);
    if (!runName) continue;
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
