// The controller survives what happens to controllers: SIGKILL mid-run, cut and stalled watch
// connections, and a second replica (only the leader acts; the other takes over when it dies).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, listJobs, signal, spawnController, waitForPhase } from '../helpers/operator.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { paths } from '../../src/kube/paths.ts';

const env = await testEnv('resilience');
const { client } = env;

/** Every (iteration, step) has exactly one Job, and history lists each once, in order. */
async function assertNoDuplicates(namespace: string, run: string, expected: string[]): Promise<void> {
  const jobs = await listJobs(client, namespace, run);
  assert.deepEqual(jobs.map((j) => `${j.iteration}:${j.step}`), expected);
  const r = await getRun(client, namespace, run);
  assert.deepEqual(r.status?.history?.map((h) => `${h.iteration}:${h.step}`), expected);
  assert.equal(r.status?.report?.stepsSucceeded, expected.length);
}

describe('controller resilience', { concurrency: true }, () => {
  it('SIGKILL mid-run and restart: no duplicate Job, no lost or repeated step', async () => {
    const ns = await env.createNamespace('sigkill');
    const scoped = { ...env, namespace: ns };
    await createRun(client, ns, 'crashy', { iterations: 3, scenarios: [kwokStep('a', 1), kwokStep('b', 1)] });
    // Keep every Job, so the check below sees all of them.
    const args = ['--keep-jobs', '50'];
    let child = spawnController(scoped, args);
    for (let kill = 0; kill < 4; kill++) {
      await new Promise((r) => setTimeout(r, 1200 + Math.random() * 1500));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      child = spawnController(scoped, args);
    }
    after(() => { child.kill('SIGKILL'); });
    await waitForPhase(client, ns, 'crashy', ['Completed'], 90_000);
    await assertNoDuplicates(ns, 'crashy', ['1:a', '1:b', '2:a', '2:b', '3:a', '3:b']);
  });

  it('a cut watch connection is re-established and later signals are obeyed', async () => {
    const ns = await env.createNamespace('cut');
    const proxy = await startProxy(new URL(env.state.server), env.kubeconfig);
    const controller = await inProcessController({ ...env, namespace: ns }, { kubeconfig: proxy.kubeconfig, watchdogMs: 3000 });
    after(async () => { await controller.stop(); await proxy.close(); });
    await createRun(client, ns, 'cut', { signalState: 'PAUSE', scenarios: [kwokStep('a', 0)] });
    await waitForPhase(client, ns, 'cut', ['Paused']);
    proxy.cut();
    await new Promise((r) => setTimeout(r, 500));
    await signal(client, ns, 'cut', 'RUN');
    await waitForPhase(client, ns, 'cut', ['Completed'], 30_000);
  });

  it('a silently stalled watch is noticed by the watchdog and a signal sent meanwhile is obeyed', async () => {
    const ns = await env.createNamespace('stall');
    const proxy = await startProxy(new URL(env.state.server), env.kubeconfig);
    const watchdogMs = 3000;
    const controller = await inProcessController({ ...env, namespace: ns }, { kubeconfig: proxy.kubeconfig, watchdogMs });
    after(async () => { await controller.stop(); await proxy.close(); });
    await createRun(client, ns, 'stall', { signalState: 'PAUSE', scenarios: [kwokStep('a', 0)] });
    await waitForPhase(client, ns, 'stall', ['Paused']);
    proxy.freeze();
    const sent = Date.now();
    await signal(client, ns, 'stall', 'RUN');
    await waitForPhase(client, ns, 'stall', ['Running', 'Completed'], watchdogMs + 5000);
    assert.ok(Date.now() - sent <= watchdogMs + 5000);
    await waitForPhase(client, ns, 'stall', ['Completed'], 30_000);
  });

  it('two replicas: only the leader acts, and the other takes over when it is killed', async () => {
    const ns = await env.createNamespace('leader');
    const scoped = { ...env, namespace: ns };
    const le = ['--leader-elect', '--lease-namespace', ns, '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];
    const first = spawnController(scoped, le);
    const lease = await eventually('a leader', async () => {
      const l = await client.request<{ spec: { holderIdentity?: string } }>('GET', paths.leases(ns, 'chaosrun-operator'));
      return l.spec.holderIdentity;
    });
    const second = spawnController(scoped, le);
    after(() => { first.kill('SIGKILL'); second.kill('SIGKILL'); });
    await createRun(client, ns, 'led', { iterations: 4, scenarios: [kwokStep('a', 1)] });
    await eventually('iteration 2 started', async () => ((await getRun(client, ns, 'led')).status?.iteration ?? 0) >= 2, 30_000);
    // Only the leader logged step Jobs so far.
    assert.match(first.output(), /step job created/);
    assert.doesNotMatch(second.output(), /step job created/);
    first.kill('SIGKILL');
    const takeover = await eventually('the second replica leading', async () => {
      const l = await client.request<{ spec: { holderIdentity?: string } }>('GET', paths.leases(ns, 'chaosrun-operator'));
      return l.spec.holderIdentity && l.spec.holderIdentity !== lease ? l.spec.holderIdentity : undefined;
    }, 15_000);
    assert.ok(takeover);
    await waitForPhase(client, ns, 'led', ['Completed'], 60_000);
    assert.match(second.output(), /became leader/);
    await assertNoDuplicates(ns, 'led', ['1:a', '2:a', '3:a', '4:a']);
  });
});
