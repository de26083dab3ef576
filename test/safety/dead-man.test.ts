// The dead-man switch against the real API server and kube-controller-manager: while the operator
// lives, a long step outlives deadManSeconds (its deadline keeps moving); SIGKILL the operator and
// keep it down, and Kubernetes alone fails the step's Job (DeadlineExceeded, its pod gone) within
// deadManSeconds plus a small bound; the restarted operator records the step as ended by the switch,
// follows the failure policy and starts nothing twice.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, kwokStep, listJobs, spawnController, waitForPhase } from '../helpers/operator.ts';
import { paths } from '../../src/kube/paths.ts';
import { KubeError } from '../../src/kube/client.ts';

const env = await testEnv('deadman');
const { client } = env;
const DEAD_MAN = 10;
/** Kubernetes' side of the bound: the Job controller's resync at the deadline, and a loaded machine. */
const BOUND_S = 6;

const failedCondition = (j: V1Job) => j.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');

describe('dead-man switch', { concurrency: true }, () => {
  it('the API server refuses deadManSeconds outside 0 or 10..3600, and defaults it to 120', async () => {
    const ns = await env.createNamespace('deadman-crd');
    for (const bad of [5, -1, 3601]) {
      await assert.rejects(createRun(client, ns, `bad-${bad < 0 ? 'neg' : bad}`, { deadManSeconds: bad, signalState: 'PAUSE', scenarios: [kwokStep('a')] }),
        (err: unknown) => err instanceof KubeError && err.status === 422 && /deadManSeconds/.test(err.message), `deadManSeconds ${bad} refused`);
    }
    const off = await createRun(client, ns, 'off', { deadManSeconds: 0, signalState: 'PAUSE', scenarios: [kwokStep('a')] });
    assert.equal(off.spec.deadManSeconds, 0);
    const def = await createRun(client, ns, 'default', { signalState: 'PAUSE', scenarios: [kwokStep('a')] });
    assert.equal(def.spec.deadManSeconds, 120);
  });

  it('SIGKILL the operator during a long step: Kubernetes fails the Job in time; the restarted operator records it once', async () => {
    const ns = await env.createNamespace('deadman-kill');
    const scoped = { ...env, namespace: ns };
    let controller = spawnController(scoped);
    after(() => { controller.kill('SIGKILL'); });
    await createRun(client, ns, 'long', { deadManSeconds: DEAD_MAN, scenarios: [kwokStep('long', 3600), kwokStep('after', 1)] });
    const jobName = await eventually('the long step\'s Job running', async () => {
      const j = (await listJobs(client, ns, 'long'))[0];
      return j?.active ? j.name : undefined;
    }, 90_000); // a child process's start, the Job controller and kwok, on a loaded machine
    const readJob = () => client.request<V1Job>('GET', paths.jobs(ns, jobName));
    assert.equal((await readJob()).spec?.activeDeadlineSeconds, DEAD_MAN, 'created with deadManSeconds');

    // While the operator lives, the step outlives deadManSeconds: its deadline keeps moving.
    const started = Date.parse(String((await readJob()).metadata?.creationTimestamp));
    await eventually('the step past 1.5 x deadManSeconds', () => Date.now() - started > DEAD_MAN * 1500, 60_000, 500);
    const alive = await readJob();
    assert.equal(failedCondition(alive), undefined, 'a supervised step is not ended by the switch');
    assert.ok(alive.spec!.activeDeadlineSeconds! > DEAD_MAN, `renewed (activeDeadlineSeconds ${alive.spec!.activeDeadlineSeconds})`);

    // SIGKILL and keep it down.
    controller.kill('SIGKILL');
    await new Promise((r) => controller.once('exit', r));
    const killed = Date.now();
    const failed = await eventually('Kubernetes failing the Job', async () => {
      const j = await readJob();
      return failedCondition(j) ? j : undefined;
    }, (DEAD_MAN + BOUND_S + 30) * 1000, 200);
    const failedAt = Date.now();
    assert.equal(failedCondition(failed)!.reason, 'DeadlineExceeded');
    await eventually('no running pod of the step', async () => {
      const pods = await client.request<{ items: V1Pod[] }>('GET', paths.pods(ns), { query: { labelSelector: `batch.kubernetes.io/job-name=${jobName}` } });
      return pods.items.every((p) => p.metadata?.deletionTimestamp || ['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
    }, 30_000, 200);
    const podGoneAt = Date.now();
    const detection = (failedAt - killed) / 1000;
    console.log(`dead-man switch: deadManSeconds ${DEAD_MAN}; Job failed ${detection.toFixed(1)} s and its pod stopped ${((podGoneAt - killed) / 1000).toFixed(1)} s after SIGKILL (bound ${DEAD_MAN + 1 + BOUND_S} s)`);
    assert.ok(detection <= DEAD_MAN + 1 + BOUND_S, `Job failed ${detection.toFixed(1)} s after SIGKILL, over deadManSeconds + 1 + ${BOUND_S}`);
    // Nobody recorded anything meanwhile: the operator is down.
    assert.equal((await getRun(client, ns, 'long')).status?.history?.[0].result, 'Running');

    controller = spawnController(scoped);
    const run = await waitForPhase(client, ns, 'long', ['Completed'], 60_000);
    const first = run.status!.history![0];
    assert.equal(first.result, 'Failed');
    assert.equal(first.reason, 'DeadManSwitch');
    assert.match(first.message ?? '', /dead-man switch/);
    assert.equal(run.status!.history![1].result, 'Succeeded', 'failurePolicy Continue: the next step ran');
    assert.equal(run.status!.report?.stepsEndedByDeadManSwitch, 1);
    assert.deepEqual((await listJobs(client, ns, 'long')).map((j) => j.step), ['long', 'after'], 'one Job per step: nothing started twice');
    const events = await eventually('the DeadManSwitch Event', async () => {
      const list = await client.request<{ items: Array<{ reason: string; message: string }> }>('GET', paths.events(ns));
      return list.items.find((e) => e.reason === 'DeadManSwitch');
    });
    assert.match(events.message, /step long .* failed: ended by the dead-man switch/);
  });
});
