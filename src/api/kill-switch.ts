// The kill-switch record: the one object a broadcast STOP (POST /STOP, `kubectl chaosrun stop --all|-A`)
// writes before it patches the runs, so that every node agent sees one write, not one per run, and
// ends the lasting faults of all those runs at once. A leaf: it imports nothing of ours.
//
// It is a ConfigMap, KILL_SWITCH_NAME in the operator's namespace, whose data is:
//   stoppedAt  RFC 3339 with milliseconds: when the switch was thrown (the writer's clock);
//   runs       the runs it stops, one namespace/name per line: exactly the broadcast's targets (its
//              namespaces, label selector, publishStatus and the sender's RBAC already applied);
//   scope      what the sender asked for, for people (all namespaces, or which; the label selector);
//   by         who threw it, and through which door.
// A node agent treats a holder pod of a listed run that was created before stoppedAt as not wanted
// (src/agent/wanted.ts). The record is never cleared: a later run's holders, even one re-created under
// a listed name, are created after stoppedAt and so are unaffected; a later throw replaces it, and the
// runs of the earlier one are stopped by then (STOP is final, and the agents read it on each run too).
//
// Why a ConfigMap: namespaced, so a Role can grant exactly this one name (patch for the writers; get,
// list and watch with a metadata.name field selector for the agents) and nothing else in the namespace;
// it holds a list of runs (a Lease holds a holder and times, and is leader election's word); an
// annotation on the ChaosRun CRD would need patch on the CRD itself, which is the power to rewrite the
// schema. Why the list of runs rather than the namespaces: it is the broadcast's exact set (a run with
// publishStatus: false, or outside the label selector, keeps its faults, as it keeps its signal); the
// agents need no label-selector logic of their own; and a clock difference between the writer and the
// API server can only move which holders of the stopped runs the record ends (the runs' own STOP ends
// the rest), never reach a run that was not stopped. A line is at most 317 bytes (a namespace of 63, a
// name of 253), so the 1 MiB limit of a ConfigMap holds a few thousand runs of the longest names and
// some 30,000 of common ones.
export const KILL_SWITCH_NAME = 'chaosrun-kill-switch';

/** The record as a writer gives it and an agent reads it. */
export interface KillSwitchRecord {
  /** Milliseconds since the epoch. */
  stoppedAt: number;
  /** namespace/name of every run it stops. */
  runs: ReadonlySet<string>;
  scope?: string;
  by?: string;
}

export const runKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** The ConfigMap's data for a record. */
export function killSwitchData(r: KillSwitchRecord): Record<string, string> {
  return {
    stoppedAt: new Date(r.stoppedAt).toISOString(),
    runs: [...r.runs].sort().map((k) => `${k}\n`).join(''),
    scope: r.scope ?? '',
    by: r.by ?? '',
  };
}

/** A record from a ConfigMap's data, or undefined when there is none (never written, or unreadable). */
export function parseKillSwitch(data: Record<string, string> | undefined): KillSwitchRecord | undefined {
  if (!data?.stoppedAt) return undefined;
  // RFC 3339 in UTC or with an offset; Date.parse alone would also take local-time spellings.
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(data.stoppedAt)) return undefined;
  const stoppedAt = Date.parse(data.stoppedAt);
  if (!Number.isFinite(stoppedAt)) return undefined;
  const runs = new Set((data.runs ?? '').split('\n').map((l) => l.trim()).filter((l) => /^[^/\s]+\/[^/\s]+$/.test(l)));
  return { stoppedAt, runs, scope: data.scope, by: data.by };
}
