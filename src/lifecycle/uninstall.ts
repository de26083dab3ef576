// `chaosrun uninstall-cleanup`: what the chart's pre-delete hook runs before `helm uninstall` removes
// the operator, so an uninstall leaves no ChaosRun, step Job, finalizer or step pod behind.
//
// It deletes every ChaosRun in scope while the operator is still running: the operator sees each
// deletion, ends the run's chaos (deletes its Jobs, pods with them) and removes its finalizer, as it
// does for any deleted run. If the runs are not gone by the deadline (the operator is scaled to zero,
// or crash-looping), it does the operator's part itself: deletes the runs' Jobs (foreground, so
// their pods go first) and removes the finalizer. Safe to repeat: a second call finds nothing.
import { FINALIZER, LABEL_RUN } from '../api/constants.ts';
import type { ChaosRun } from '../api/types.ts';
import { MERGE_PATCH, isNotFound, type KubeClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';

interface List<T> { items: T[] }

export interface CleanupOptions {
  /** Namespaces in scope; empty: all. */
  namespaces: string[];
  /** How long the operator gets to end the runs before this does it. */
  timeoutMs: number;
  log: (msg: string) => void;
}

export interface CleanupResult { deleted: number; forced: number }

async function listRuns(client: Pick<KubeClient, 'request'>, namespaces: string[]): Promise<ChaosRun[]> {
  const scopes = namespaces.length ? namespaces : [undefined];
  const lists = await Promise.all(scopes.map((ns) => client.request<List<ChaosRun>>('GET', paths.chaosRuns(ns))));
  return lists.flatMap((l) => l.items);
}

export async function uninstallCleanup(client: Pick<KubeClient, 'request'>, o: CleanupOptions): Promise<CleanupResult> {
  const runs = await listRuns(client, o.namespaces);
  for (const run of runs) {
    const { namespace, name } = run.metadata;
    await client.request('DELETE', paths.chaosRuns(namespace, name)).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  }
  o.log(`deleting ${runs.length} ChaosRun(s); waiting up to ${Math.round(o.timeoutMs / 1000)}s for the operator to end them`);
  const deadline = Date.now() + o.timeoutMs;
  let left = await listRuns(client, o.namespaces);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    left = await listRuns(client, o.namespaces);
  }
  for (const run of left) {
    const { namespace, name } = run.metadata;
    o.log(`${namespace}/${name}: the operator did not end it in time; deleting its Jobs and removing the finalizer`);
    const jobs = await client.request<List<{ metadata: { name: string } }>>('GET', paths.jobs(namespace), { query: { labelSelector: `${LABEL_RUN}=${name}` } });
    for (const job of jobs.items) {
      await client.request('DELETE', paths.jobs(namespace, job.metadata.name), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' },
      }).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
    }
    const finalizers = (run.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    await client.request('PATCH', paths.chaosRuns(namespace, name), { body: { metadata: { finalizers } }, contentType: MERGE_PATCH })
      .catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  }
  return { deleted: runs.length, forced: left.length };
}
