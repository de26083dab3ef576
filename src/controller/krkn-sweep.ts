// Removing a krkn helper namespace (src/scenarios/krkn-helpers.ts), and the sweep for the ones no run's
// pass will see: a run deleted while no operator held its finalizer, or re-created under its name. A
// run that exists removes its own in its passes (krkn-leftovers.ts, through decide()); the sweep lists
// every helper namespace once a minute while this replica leads, and removes those whose run is gone
// (orphanedHelperNamespaces: only exact helper namespaces of runs in the namespaces it watches).
import { LABEL_RUN } from '../api/constants.ts';
import type { ChaosRun } from '../api/types.ts';
import { isNotFound, type ApiClient } from '../kube/client.ts';
import type { Store } from '../kube/informer.ts';
import { paths } from '../kube/paths.ts';
import type { Logger } from '../log.ts';
import { LABEL_KRKN_HELPERS } from '../scenarios/krkn-helpers.ts';
import { orphanedHelperNamespaces, type ListedHelperNamespace } from './krkn-leftovers.ts';

type Client = Pick<ApiClient, 'request'>;

/**
 * Its pods first, with no grace period (krkn's hog runs stress-ng under a bash PID 1 that ignores
 * SIGTERM: a graceful delete would keep the load for the pod's grace period), then the namespace,
 * which then refuses anything new. Gone already is done.
 */
export async function removeHelperNamespace(client: Client, name: string): Promise<void> {
  const gone = async (req: Promise<unknown>) => { try { await req; } catch (err) { if (!isNotFound(err)) throw err; } };
  await gone(client.request('DELETE', paths.pods(name), { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } }));
  await gone(client.request('DELETE', paths.namespaces(name), { body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' } }));
}

export interface HelperSweepOptions {
  client: Client;
  runs: Pick<Store<ChaosRun>, 'get'>;
  /** The namespaces this operator watches (absent: all). */
  namespaces?: string[];
  canAct: () => boolean;
  log: Logger;
  intervalMs?: number;
}

export const HELPER_SWEEP_MS = 60_000;

export class HelperSweep {
  private timer?: NodeJS.Timeout;
  private readonly o: HelperSweepOptions;
  constructor(options: HelperSweepOptions) { this.o = options; }

  start(): void {
    if (this.timer) return;
    void this.once();
    this.timer = setInterval(() => void this.once(), this.o.intervalMs ?? HELPER_SWEEP_MS);
    this.timer.unref();
  }

  stop(): void { clearInterval(this.timer); this.timer = undefined; }

  /** One sweep; never throws (a failure waits for the next). Returns the namespaces it removed. */
  async once(): Promise<string[]> {
    if (!this.o.canAct()) return [];
    try {
      const list = await this.o.client.request<{ items: ListedHelperNamespace[] }>('GET', paths.namespaces(), { query: { labelSelector: `${LABEL_KRKN_HELPERS}=true,${LABEL_RUN}` } });
      const scope = this.o.namespaces;
      const orphans = orphanedHelperNamespaces(list.items, (ns, name) => this.o.runs.get(name, ns)?.metadata.uid, (ns) => !scope || scope.includes(ns));
      for (const name of orphans) {
        if (!this.o.canAct()) break;
        await removeHelperNamespace(this.o.client, name);
        this.o.log.info({ namespace: name }, 'krkn helper namespace of a run that is gone deleted');
      }
      return orphans;
    } catch (err) {
      this.o.log.warn({ err }, 'could not sweep krkn helper namespaces');
      return [];
    }
  }
}
