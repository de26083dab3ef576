// What the console shows on demand beside a run, read from the API server only when a viewer asks (one
// button press, one or two requests; nothing live, nothing kept): the run's last Events and the log of one
// of its steps' pods. The caller has already checked the user may read these (events list, pods/log get).
import type { ChaosRun } from '../api/types.ts';
import { KubeError, isNotFound, type KubeClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';

/** At most this many Events, the newest. */
export const EVENTS_SHOWN = 50;
/** A step's log: its last lines, at most this many bytes. */
export const LOG_TAIL_LINES = 1000;
export const LOG_LIMIT_BYTES = 256 * 1024;

interface CoreEvent {
  type?: string; reason?: string; message?: string; count?: number;
  firstTimestamp?: string; lastTimestamp?: string; eventTime?: string;
  metadata: { creationTimestamp?: string };
  source?: { component?: string }; reportingComponent?: string;
}

export interface RunEvent { type: string; reason: string; message: string; count: number; time: string; from: string }

export async function runEvents(client: KubeClient, run: ChaosRun): Promise<RunEvent[]> {
  const list = await client.request<{ items: CoreEvent[] }>('GET', paths.events(run.metadata.namespace), {
    query: { fieldSelector: `involvedObject.uid=${run.metadata.uid}` },
  });
  return list.items
    .map((e) => ({
      type: e.type ?? 'Normal', reason: e.reason ?? '', message: e.message ?? '', count: e.count ?? 1,
      time: e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '',
      from: e.reportingComponent || e.source?.component || '',
    }))
    .sort((a, b) => b.time.localeCompare(a.time))
    .slice(0, EVENTS_SHOWN);
}

export type StepLog = { found: true; pod: string; log: string } | { found: false; why: string };

/** The log of the (newest) pod of one of the run's step Jobs, named as in status.history. */
export async function stepLog(client: KubeClient, run: ChaosRun, job: string): Promise<StepLog> {
  const { namespace } = run.metadata;
  const pods = await client.request<{ items: Array<{ metadata: { name: string; creationTimestamp?: string } }> }>('GET', paths.pods(namespace), {
    query: { labelSelector: `job-name=${job}` },
  });
  const pod = pods.items.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0];
  if (!pod) return { found: false, why: `no pod of job ${job} is left (finished Jobs beyond the operator's --keep-jobs are deleted with their pods)` };
  try {
    const log = await client.request<string>('GET', `${paths.pods(namespace, pod.metadata.name)}/log`, {
      query: { tailLines: LOG_TAIL_LINES, limitBytes: LOG_LIMIT_BYTES }, text: true,
    });
    return { found: true, pod: pod.metadata.name, log };
  } catch (err) {
    // The API server could not get it from the node: a kwok node serves no logs (404, or a 5xx when the
    // API server cannot reach its kubelet port), and a real node may have removed the container.
    if (isNotFound(err) || (err instanceof KubeError && err.status >= 500)) {
      return { found: false, why: `the log of pod ${pod.metadata.name} is not available: ${(err as Error).message}` };
    }
    throw err;
  }
}
