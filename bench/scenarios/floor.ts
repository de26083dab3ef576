// 1. The floor: what the API server itself allows. The bench merge-patches a ChaosRun's spec and
// times until its own watch sees the change; no operator runs yet, so nothing else touches the run.
import type { Signal } from '../../src/api/types.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { createRun, kwokStep, signal } from '../../test/helpers/operator.ts';
import { timeWrite } from '../context.ts';
import type { BenchWatch } from '../watch.ts';

const WARM_UP = 10;

/**
 * Milliseconds from sending each patch to the watch event showing it (one write plus one watch
 * delivery: the least any reaction to a signal can take), and from the patch's response to it.
 */
export async function floor(client: KubeClient, watch: BenchWatch, namespace: string, patches: number): Promise<{ fromSend: number[]; fromResponse: number[] }> {
  const name = 'floor';
  await createRun(client, namespace, name, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
  await watch.runs.when(namespace, name, (r) => r !== undefined, 30_000, 'the floor run in the watch');
  const fromSend: number[] = [];
  const fromResponse: number[] = [];
  // The first patches warm the connections and the API server's watch cache (right after a plane
  // starts, a new CRD's watch may even restart once); they are not counted.
  for (let i = -WARM_UP; i < patches; i++) {
    const target: Signal = (i + WARM_UP) % 2 === 0 ? 'PAUSE' : 'RUN';
    const seen = watch.runs.when(namespace, name, (r) => r?.spec.signalState === target, 30_000, `the watch to show spec.signalState ${target}`);
    const t = await timeWrite(() => signal(client, namespace, name, target), seen);
    if (i < 0) continue;
    fromSend.push(...t.fromSend);
    fromResponse.push(...t.fromResponse);
  }
  // Gone before the operator starts, so it never reconciles this run.
  const gone = watch.runs.when(namespace, name, (r) => r === undefined, 30_000, 'the floor run to be deleted');
  await client.request('DELETE', paths.chaosRuns(namespace, name));
  await gone;
  return { fromSend, fromResponse };
}
