// The reconciler against the real control plane: Jobs really run (and finish) on the kwok node.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, listJobs, signal, waitForPhase } from '../helpers/operator.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import { paths } from '../../src/kube/paths.ts';
import { registry } from '../../src/metrics/registry.ts';

const env = await testEnv('lifecycle');
const { client, namespace: ns } = env;
let controller: RunningController;
before(async () => { controller = await inProcessController(env); });
after(async () => { await controller.stop(); });

describe('ChaosRun lifecycle', { concurrency: true }, () => {
  it('a 2-iteration x 2-scenario run completes with 4 Jobs in order and a report', async () => {
    await createRun(client, ns, 'two-by-two', { iterations: 2, scenarios: [kwokStep('a', 1), kwokStep('b', 1)] });
    const done = await waitForPhase(client, ns, 'two-by-two', ['Completed'], 90_000);
    const jobs = await listJobs(client, ns, 'two-by-two');
    assert.deepEqual(jobs.map((j) => `${j.iteration}:${j.step}`), ['1:a', '1:b', '2:a', '2:b']);
    for (let i = 1; i < jobs.length; i++) assert.ok(jobs[i].created >= jobs[i - 1].created, 'Jobs were created in order');
    const report = done.status!.report!;
    assert.equal(report.reason, 'Completed');
    assert.equal(report.iterationsCompleted, 2);
    assert.equal(report.stepsSucceeded, 4);
    assert.equal(report.stepsFailed, 0);
    assert.ok(report.durationSeconds > 0);
    assert.deepEqual(done.status!.history!.map((h) => `${h.iteration}:${h.step}:${h.result}`), ['1:a:Succeeded', '1:b:Succeeded', '2:a:Succeeded', '2:b:Succeeded']);
    assert.equal(done.status!.conditions!.find((c) => c.type === 'Complete')?.status, 'True');
    // kubectl sees it too: the printer columns and `kubectl wait --for=condition=Complete`.
    env.kubectl(['wait', '-n', ns, '--for=condition=Complete', '--timeout=5s', 'crun/two-by-two']);
    const row = env.kubectl(['get', 'crun', '-n', ns, 'two-by-two', '--no-headers']);
    assert.match(row, /^two-by-two\s+RUN\s+Completed\s+2\/2\s+b\s+/);
    // A finished run ignores a later signal, once, with an Event and a condition message.
    await signal(client, ns, 'two-by-two', 'PAUSE');
    const ignored = await eventually('the ignored signal answered', async () => {
      const r = await getRun(client, ns, 'two-by-two');
      return r.status?.conditions?.find((c) => c.reason === 'SignalIgnored') ? r : undefined;
    });
    assert.equal(ignored.status?.phase, 'Completed');
    assert.match(ignored.status!.conditions!.find((c) => c.reason === 'SignalIgnored')!.message, /signal PAUSE ignored/);
    // Events are recorded after the status write they tell of, and never hold it up: wait for them.
    const events = await eventually('the run\'s Events', async () => {
      const list = await client.request<{ items: Array<{ reason: string; message: string }> }>('GET', paths.events(ns), { query: { fieldSelector: 'involvedObject.name=two-by-two' } });
      return list.items.some((e) => e.reason === 'SignalIgnored') ? list : undefined;
    });
    const reasons = events.items.map((e) => e.reason);
    for (const r of ['Started', 'IterationCompleted', 'Completed', 'SignalIgnored']) assert.ok(reasons.includes(r), `event ${r}`);
    assert.match(events.items.find((e) => e.reason === 'Completed')!.message, /steps succeeded 4/);
  });

  it('a run created with PAUSE creates no Job until RUN, then completes', async () => {
    await createRun(client, ns, 'starts-paused', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    const paused = await waitForPhase(client, ns, 'starts-paused', ['Paused']);
    assert.equal(paused.status?.observedSignal, 'PAUSE');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await listJobs(client, ns, 'starts-paused')).length, 0);
    await signal(client, ns, 'starts-paused', 'RUN');
    await waitForPhase(client, ns, 'starts-paused', ['Completed']);
    assert.equal((await listJobs(client, ns, 'starts-paused')).length, 1);
  });

  it('PAUSE mid-run lets the running step finish, starts nothing until RUN, and resumes at the right step', async () => {
    await createRun(client, ns, 'pause-mid', { scenarios: [kwokStep('a', 3), kwokStep('b', 1), kwokStep('c', 1)] });
    await eventually('step a running', async () => (await listJobs(client, ns, 'pause-mid')).length === 1);
    await signal(client, ns, 'pause-mid', 'PAUSE');
    const paused = await waitForPhase(client, ns, 'pause-mid', ['Paused'], 10_000);
    assert.equal(paused.status?.step?.name, 'a');
    // Step a finishes and is recorded; b does not start.
    const recorded = await eventually('step a recorded', async () => {
      const r = await getRun(client, ns, 'pause-mid');
      return r.status?.history?.[0]?.result === 'Succeeded' ? r : undefined;
    });
    assert.equal(recorded.status?.phase, 'Paused');
    assert.equal(recorded.status?.step?.name, 'b');
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual((await listJobs(client, ns, 'pause-mid')).map((j) => j.step), ['a']);
    await signal(client, ns, 'pause-mid', 'RUN');
    const done = await waitForPhase(client, ns, 'pause-mid', ['Completed']);
    assert.deepEqual((await listJobs(client, ns, 'pause-mid')).map((j) => j.step), ['a', 'b', 'c']);
    assert.equal(done.status?.report?.stepsSucceeded, 3);
  });

  it('STOP during the wait between steps ends the run at once', async () => {
    await createRun(client, ns, 'stop-wait', { waitDuration: '1h', scenarios: [kwokStep('a', 1), kwokStep('b', 1)] });
    await eventually('waiting after step a', async () => (await getRun(client, ns, 'stop-wait')).status?.nextStepTime);
    await signal(client, ns, 'stop-wait', 'STOP');
    const stopped = await waitForPhase(client, ns, 'stop-wait', ['Stopped'], 10_000);
    assert.equal(stopped.status?.report?.reason, 'Stopped');
    assert.equal(stopped.status?.report?.stepsSucceeded, 1);
    assert.equal(stopped.status?.nextStepTime, undefined);
    assert.deepEqual((await listJobs(client, ns, 'stop-wait')).map((j) => j.step), ['a']);
  });

  it('STOP mid-step deletes the running Job and writes the report', async () => {
    await createRun(client, ns, 'stop-mid', { scenarios: [kwokStep('long', 600), kwokStep('never', 1)] });
    await eventually('the long step running', async () => (await getRun(client, ns, 'stop-mid')).status?.activeJob);
    await eventually('its Job', async () => (await listJobs(client, ns, 'stop-mid')).length === 1);
    await signal(client, ns, 'stop-mid', 'STOP');
    const stopped = await waitForPhase(client, ns, 'stop-mid', ['Stopped'], 10_000);
    assert.equal(stopped.status?.report?.stepsAborted, 1);
    assert.equal(stopped.status?.history?.[0].result, 'Aborted');
    await eventually('the Job gone', async () => (await listJobs(client, ns, 'stop-mid')).length === 0, 30_000);
    // STOP is final: the API server itself refuses to change it back.
    await assert.rejects(signal(client, ns, 'stop-mid', 'RUN'), /STOP is final/);
    assert.equal((await listJobs(client, ns, 'stop-mid')).length, 0);
  });

  it('a daemon-mode run keeps going past its iterations until STOP', async () => {
    await createRun(client, ns, 'daemon', { daemonMode: true, iterations: 1, scenarios: [kwokStep('a', 0)] });
    await eventually('iteration 3', async () => ((await getRun(client, ns, 'daemon')).status?.iteration ?? 0) >= 3, 60_000);
    const r = await getRun(client, ns, 'daemon');
    assert.equal(r.status?.phase, 'Running');
    assert.match(r.status?.progress ?? '', /^\d+\/∞$/);
    await signal(client, ns, 'daemon', 'STOP');
    const stopped = await waitForPhase(client, ns, 'daemon', ['Stopped'], 10_000);
    assert.ok((stopped.status?.report?.iterationsCompleted ?? 0) >= 2);
  });

  it('a failed step with failurePolicy Stop ends the run as Failed', async () => {
    await createRun(client, ns, 'fails', { failurePolicy: 'Stop', scenarios: [kwokStep('bad', 1, 'fail'), kwokStep('after', 1)] });
    const failed = await waitForPhase(client, ns, 'fails', ['Failed']);
    assert.equal(failed.status?.report?.stepsFailed, 1);
    assert.equal(failed.status?.history?.[0].result, 'Failed');
    assert.ok(failed.status?.history?.[0].message, 'the failure says why');
    assert.deepEqual((await listJobs(client, ns, 'fails')).map((j) => j.step), ['bad']);
  });

  it('a step past its timeout is failed, its Job deleted, and the run goes on', async () => {
    await createRun(client, ns, 'timeout', { scenarios: [kwokStep('slow', 600, 'succeed', { timeout: '2s' }), kwokStep('next', 1)] });
    const done = await waitForPhase(client, ns, 'timeout', ['Completed'], 60_000);
    assert.equal(done.status?.history?.[0].result, 'Failed');
    assert.match(done.status?.history?.[0].message ?? '', /timed out after 2s/);
    assert.equal(done.status?.history?.[1].result, 'Succeeded');
  });

  it('deleting a run mid-step deletes its Job, then the run goes away', async () => {
    await createRun(client, ns, 'deleted', { scenarios: [kwokStep('long', 600)] });
    await eventually('its Job', async () => (await listJobs(client, ns, 'deleted')).length === 1);
    const r = await getRun(client, ns, 'deleted');
    assert.deepEqual(r.metadata.finalizers, ['chaosrun.dev/cleanup']);
    await client.request('DELETE', paths.chaosRuns(ns, 'deleted'));
    await eventually('the run gone', async () => getRun(client, ns, 'deleted').then(() => false, () => true), 30_000);
    await eventually('its Job gone', async () => (await listJobs(client, ns, 'deleted')).length === 0, 30_000);
  });

  it('a timed pause resumes by itself', async () => {
    await createRun(client, ns, 'timed', { signalState: 'PAUSE', pauseUntil: new Date(Date.now() + 2000).toISOString(), scenarios: [kwokStep('a', 0)] });
    await waitForPhase(client, ns, 'timed', ['Paused']);
    const done = await waitForPhase(client, ns, 'timed', ['Completed'], 30_000);
    assert.equal(done.spec.signalState, 'RUN');
    assert.equal(done.spec.pauseUntil, undefined);
  });
});

it('signal latency is measured and idle runs cost no writes', async () => {
  const metrics = await registry.getSingleMetricAsString('chaosrun_signal_latency_seconds');
  assert.match(metrics, /chaosrun_signal_latency_seconds_count\{signal="(PAUSE|STOP|RUN)"\} [1-9]/);
  /** Every write so far, by verb and resource. */
  const writes = async () => new Map((await registry.getMetricsAsJSON()).find((m) => m.name === 'chaosrun_api_requests_total')!
    .values.filter((v) => ['create', 'update', 'patch', 'delete'].includes(String(v.labels.verb)))
    .map((v) => [`${v.labels.verb} ${v.labels.resource ?? ''} ${v.labels.code ?? ''}`, v.value] as const));
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, v) => a + v, 0);
  const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // The suite's last runs finish just before this test (a deleted run's finalizer, a timed pause's
  // last status, their Events): wait until no write came for 2 s (on a loaded machine their tail can
  // land late), then none may come for 5 s while every run is finished.
  let last = total(await writes());
  for (let quietMs = 0, waited = 0; quietMs < 2000; waited += 250) {
    assert.ok(waited < 30_000, 'the suite\'s writes settled within 30 s');
    await sleepMs(250);
    const now = total(await writes());
    quietMs = now === last ? quietMs + 250 : 0;
    last = now;
  }
  const before = await writes();
  await sleepMs(5000);
  const after = await writes();
  const grew = [...after].filter(([k, v]) => v !== (before.get(k) ?? 0)).map(([k, v]) => `${k}: +${v - (before.get(k) ?? 0)}`);
  assert.deepEqual(grew, [], 'no API writes while every run is finished');
});
