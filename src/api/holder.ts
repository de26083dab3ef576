// When a fault holder's fault is in force: the one rule the node agent (src/agent/wanted.ts, for
// network and process faults) and the controller's cordoner (src/cordon/rules.ts, for node faults)
// both hold, written once. A leaf but for the API's own constants and kill-switch record.
//
// A holder's fault is in force exactly while all of these hold:
//   - its holder pod is Running and not being deleted (the step's Job runs it for the step's duration;
//     STOP, the timeout, the dead-man switch, a hand-deleted Job or pod, a deleted run and an
//     uninstall all end it);
//   - the holder's run exists, is not finished, and its signal is RUN (PAUSE and STOP end it at once,
//     before the controller has even acted on them);
//   - the kill-switch record (src/api/kill-switch.ts) does not name the holder's run with a stoppedAt
//     after the holder was created: one write ends the faults of every run a broadcast STOP stops.
// Where the fault is (a target's sandbox or container, a node) is each caller's own rule.
import { LABEL_RUN } from './constants.ts';
import { runKey, type KillSwitchRecord } from './kill-switch.ts';

/** A holder pod as the rules read it. */
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

/** A run as the rules read it: its signal and phase. */
export interface RunView { signalState?: string; phase?: string }

const FINISHED = new Set(['Completed', 'Failed', 'Stopped']);

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

/** The name of the holder's run when its fault is in force now (the rules above), or undefined. */
export function holderInForce(h: HolderView, runOf: (namespace: string, name: string) => RunView | undefined, killSwitch?: KillSwitchRecord): string | undefined {
  if (h.phase !== 'Running' || h.deleting) return undefined;
  const runName = h.labels[LABEL_RUN];
  if (!runName) return undefined;
  const run = runOf(h.namespace, runName);
  if (!run || run.signalState !== 'RUN' || (run.phase !== undefined && FINISHED.has(run.phase))) return undefined;
  return endedByKillSwitch(killSwitch, h, runName) ? undefined : runName;
}
