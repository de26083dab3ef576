// What krkn leaves behind goes with its step, and nothing of anyone else's. The test plays krkn's
// node-cpu-hog the way krkn-lib does it (deploy_hog: a privileged `cpu-hog-<5 letters>` pod with no label
// and no owner, in the scenario's NAMESPACE, which the step's pod reads from its environment; krkn-hub's
// default is `default`), then sends STOP mid-hog: the hog pod must be gone within seconds, while pods
// of the same name pattern that are not this step's (in `default`, in the run's namespace) stay. On the
// kwok node nothing runs, so the test is krkn's hands; on the real node test/e2e/krkn.test.ts runs krkn.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, signal, waitForPhase } from '../helpers/operator.ts';

const env = await testEnv('krkn-left');
const { client, namespace } = env;
let controller: RunningController;
const cleanup: Array<() => Promise<unknown>> = [];
before(async () => { controller = await inProcessController(env); });
after(async () => {
  await controller.stop();
  for (const c of cleanup) await c().catch(() => {});
});

/** On the kwok node a Job's pod succeeds at once unless told how long it runs: krkn's would run the hog's duration. */
const runsFor = (seconds: number) => ({ annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': `${seconds}s` } });
const letters = () => randomBytes(4).toString('hex').slice(0, 5);

/** krkn-lib's hog pod (hog_pod.j2), as krkn creates it: no labels, no owner, privileged, in `ns`. */
function hogPod(name: string, ns: string): V1Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
    spec: {
      restartPolicy: 'Never',
      containers: [{
        name: 'krkn-hog', image: 'quay.io/krkn-chaos/krkn-hog', securityContext: { privileged: true },
        env: [{ name: 'HOG_TYPE', value: 'cpu' }, { name: 'DURATION', value: '600' }],
      }],
    },
  };
}

const podThere = async (ns: string, name: string) => {
  try { await client.request('GET', paths.pods(ns, name)); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
};

async function createPod(pod: V1Pod): Promise<void> {
  await client.request('POST', paths.pods(pod.metadata!.namespace!), { body: pod });
  cleanup.push(() => client.request('DELETE', paths.pods(pod.metadata!.namespace!, pod.metadata!.name!), { body: { gracePeriodSeconds: 0 } }));
}

test('STOP mid-hog: the hog pod krkn made is gone within seconds, and no one else\'s cpu-hog pod is touched', async () => {
  const run = await createRun(client, namespace, 'hog', {
    scenarios: [{
      name: 'cpu', timeout: '5m',
      krknHub: { scenario: 'node-cpu-hog', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', env: { TOTAL_CHAOS_DURATION: '600' }, podMetadata: runsFor(600) },
    }],
  });
  // The step's pod is there: read the NAMESPACE krkn would read (krkn-hub's env.sh default: default).
  const job = await eventually('the hog step\'s Job', async () => {
    const jobs = await client.request<{ items: V1Job[] }>('GET', paths.jobs(namespace), { query: { labelSelector: 'chaosrun.dev/run=hog' } });
    return jobs.items[0];
  });
  const env0 = job.spec!.template.spec!.containers[0].env ?? [];
  const hogNamespace = env0.find((e) => e.name === 'NAMESPACE')?.value ?? 'default';
  // krkn's hands: its hog pod where it was told. Beside it, two pods that are not this step's.
  const hog = `cpu-hog-${letters()}`;
  await eventually(`namespace ${hogNamespace} takes krkn's hog pod`, async () => {
    try { await createPod(hogPod(hog, hogNamespace)); return true; } catch { return false; }
  }, 15_000, 200);
  const theirs = [hogPod(`cpu-hog-${letters()}`, 'default'), hogPod(`cpu-hog-${letters()}`, namespace)];
  for (const p of theirs) await createPod(p);

  await eventually('the step running', async () => (await getRun(client, namespace, 'hog')).status?.phase === 'Running');
  const t0 = performance.now();
  await signal(client, namespace, 'hog', 'STOP');
  await waitForPhase(client, namespace, 'hog', ['Stopped']);
  await eventually(`krkn's hog pod ${hogNamespace}/${hog} gone`, async () => !(await podThere(hogNamespace, hog)), 10_000, 100);
  const goneMs = performance.now() - t0;
  console.log(`# STOP -> krkn's hog pod gone: ${goneMs.toFixed(0)} ms`);
  assert.ok(goneMs < 10_000, `${goneMs} ms`);
  assert.notEqual(hogNamespace, 'default', 'the hog ran in a namespace of the step\'s own');
  await eventually(`helper namespace ${hogNamespace} gone`, async () => {
    try { await client.request('GET', paths.namespaces(hogNamespace)); return false; } catch (err) { if (isNotFound(err)) return true; throw err; }
  }, 30_000, 200);
  for (const p of theirs) assert.ok(await podThere(p.metadata!.namespace!, p.metadata!.name!), `${p.metadata!.namespace}/${p.metadata!.name} is not this step's and stays`);
  assert.equal(run.metadata.name, 'hog');
});

test('a hog step that ends by itself (its timeout) loses its helper namespace too, and the next step runs', async () => {
  await createRun(client, namespace, 'hog-timeout', {
    scenarios: [
      { name: 'cpu', timeout: '5s', krknHub: { scenario: 'node-memory-hog', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', podMetadata: runsFor(600) } },
      { name: 'after', job: { image: 'busybox:1.36', command: ['true'], podMetadata: { annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '1s' } } } },
    ],
  });
  const job = await eventually('the hog step\'s Job', async () => {
    const jobs = await client.request<{ items: V1Job[] }>('GET', paths.jobs(namespace), { query: { labelSelector: 'chaosrun.dev/run=hog-timeout,chaosrun.dev/step=cpu' } });
    return jobs.items[0];
  });
  const c = job.spec!.template.spec!.containers[0];
  const hogNamespace = c.env!.find((e) => e.name === 'NAMESPACE')!.value!;
  assert.match(hogNamespace, /^chaosrun-krkn-[0-9a-f]{32}-1-0$/);
  assert.match(c.env!.find((e) => e.name === 'IMAGE')!.value!, /^quay\.io\/krkn-chaos\/krkn-hog:[^:/]+$/, 'a tagged hog image: nothing is pulled');
  assert.ok((job.spec!.template.spec!.terminationGracePeriodSeconds ?? 0) >= 60, 'krkn gets time for its own rollback');
  const hog = `memory-hog-${letters()}`;
  await createPod(hogPod(hog, hogNamespace));
  const done = await waitForPhase(client, namespace, 'hog-timeout', ['Completed'], 60_000);
  assert.match(done.status!.history![0].message ?? '', /timed out after 5s/, JSON.stringify(done.status!.history));
  assert.equal(await podThere(hogNamespace, hog), false);
});
