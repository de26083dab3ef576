// Writing the kill-switch record (src/api/kill-switch.ts): the one write of a broadcast STOP that every
// node agent watches, made before the runs are patched. Shared by the signal server's POST /STOP and
// `kubectl chaosrun stop --all|-A` through broadcastSignal (runs.ts).
//
// One call: a JSON merge patch of the ConfigMap's data. The chart creates the ConfigMap, empty, at
// install, so the writers need only `patch` on that one name (RBAC cannot limit `create` by name), and
// a writer never creates it: one made by a writer would belong to no Helm release, and `helm install`
// into that namespace would refuse to adopt it. A record that cannot be written (none there, no right,
// the API server refusing) never stops the broadcast: the runs are patched all the same, and the
// agents end each run's faults as its STOP reaches them; the answer says so.
import { killSwitchData, KILL_SWITCH_NAME, type KillSwitchRecord } from '../api/kill-switch.ts';
import { isNotFound, MERGE_PATCH, type ApiClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';

/** Where a door writes the record, and how it words what it covers (for people; agents read `runs`). */
export interface KillSwitchTarget {
  namespace: string;
  /** e.g. "all namespaces", "namespaces a,b; labels team=x". */
  scope: string;
}

export type KillSwitchOutcome =
  | { written: true; where: string; resourceVersion: string; stoppedAt: string }
  | { written: false; where: string; error: string };

interface ConfigMapAnswer { metadata: { resourceVersion: string } }

export async function writeKillSwitch(client: ApiClient, namespace: string, record: KillSwitchRecord): Promise<ConfigMapAnswer> {
  try {
    return await client.request<ConfigMapAnswer>('PATCH', paths.configMaps(namespace, KILL_SWITCH_NAME), { body: { data: killSwitchData(record) }, contentType: MERGE_PATCH });
  } catch (err) {
    if (isNotFound(err)) throw new Error(`there is no ConfigMap ${KILL_SWITCH_NAME} in namespace ${namespace} (the chart creates it at install)`);
    throw err;
  }
}

/** Throws the switch; never throws itself: a failure is an outcome the answer tells. */
export async function throwKillSwitch(client: ApiClient, target: KillSwitchTarget, runs: Iterable<string>, by: string, now = Date.now()): Promise<KillSwitchOutcome> {
  const where = `${target.namespace}/${KILL_SWITCH_NAME}`;
  try {
    const written = await writeKillSwitch(client, target.namespace, { stoppedAt: now, runs: new Set(runs), scope: target.scope, by });
    return { written: true, where, resourceVersion: written.metadata.resourceVersion, stoppedAt: new Date(now).toISOString() };
  } catch (err) {
    return { written: false, where, error: ((err as Error).message || String(err)).split('\n')[0] };
  }
}

/** The line a door adds to its answer when the record was not written; '' when it was. */
export function killSwitchNote(outcome: KillSwitchOutcome | undefined): string {
  if (!outcome || outcome.written) return '';
  return `kill-switch record ${outcome.where} not written (${outcome.error}); the runs were stopped all the same, and the node agents end each run's lasting faults as its STOP reaches them`;
}

/** The scope as people read it: the namespaces (or all) and the label selector. */
export function scopeText(namespaces: string[] | undefined, labelSelector?: string): string {
  const where = namespaces?.length ? `namespace${namespaces.length === 1 ? '' : 's'} ${namespaces.join(',')}` : 'all namespaces';
  return labelSelector ? `${where}; labels ${labelSelector}` : where;
}
