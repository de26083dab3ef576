// Gates on the real control plane with a real Prometheus: a gauge over a threshold holds a run, a
// stopWhen gate ends one, an unreachable Prometheus holds (the safe default), a Deployment rollout
// holds until done, explicit signals still win, and invalid gates are refused by the API server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, listJobs, signal, waitForPhase } from '../helpers/operator.ts';
import { startExporter, startPrometheus, type Exporter, type PrometheusServer } from '../helpers/prometheus.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import type { ChaosRun, Gate } from '../../src/api/types.ts';
import { KubeError, MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';

const env = await testEnv('gates');
const { client, namespace: ns } = env;
let controller: RunningController;
const exporters: Exporter[] = [];
const proms: PrometheusServer[] = [];

async function prometheusWith(value: number): Promise<{ exporter: Exporter; prom: PrometheusServer }> {
  const exporter = await startExporter('chaos_test_load', value);
  const prom = await startPrometheus(exporter.port);
  exporters.push(exporter);
  proms.push(prom);
  // Wait for the first scrape, so the gate sees the gauge and not an empty result.
  await eventually('the first scrape', async () => {
    const r = await (await fetch(`${prom.url}/api/v1/query?query=chaos_test_load`)).json() as { data: { result: unknown[] } };
    return r.data.result.length > 0;
  }, 30_000, 250);
  return { exporter, prom };
}

const loadGate = (url: string, comparison = '> 0.8'): Gate =>
  ({ name: 'load', prometheus: { url, query: 'chaos_test_load', comparison, interval: '1s', onError: 'Hold' } });

const gatedCondition = (r: ChaosRun) => r.status?.conditions?.find((c) => c.type === 'Gated');

before(async () => { controller = await inProcessController(env); });
after(async () => {
  await controller.stop();
  for (const p of proms) await p.stop();
  for (const e of exporters) await e.close();
});

describe('gates', { concurrency: true }, () => {
  it('a gauge above the threshold holds the run; lowering it releases the run, which completes', async () => {
    const { exporter, prom } = await prometheusWith(0.93);
    await createRun(client, ns, 'held', { scenarios: [kwokStep('a', 0)], gates: { pauseWhen: [loadGate(prom.url)] } });
    await waitForPhase(client, ns, 'held', ['Paused']);
    // Until its first query answers, a pause gate holds with 'waiting for the first evaluation'.
    const held = await eventually('the gate verdict', async () => {
      const r = await getRun(client, ns, 'held');
      return /0\.93/.test(gatedCondition(r)?.message ?? '') ? r : undefined;
    });
    assert.equal(gatedCondition(held)?.status, 'True');
    assert.equal(gatedCondition(held)?.reason, 'load');
    assert.match(gatedCondition(held)?.message ?? '', /0\.93 > 0\.8/);
    assert.equal(held.spec.signalState, 'RUN', 'a gate is not a signal');
    // RUN while gated does not start a step.
    await signal(client, ns, 'held', 'PAUSE');
    await signal(client, ns, 'held', 'RUN');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await listJobs(client, ns, 'held')).length, 0);
    exporter.set(0.1);
    const done = await waitForPhase(client, ns, 'held', ['Completed'], 30_000);
    assert.equal(gatedCondition(done)?.status, 'False');
    assert.ok((done.status?.report?.gatedSeconds ?? 0) >= 2, `gated time in the report (${done.status?.report?.gatedSeconds})`);
    const events = await client.request<{ items: Array<{ reason: string }> }>('GET', paths.events(ns), { query: { fieldSelector: 'involvedObject.name=held' } });
    for (const reason of ['GateHeld', 'GateReleased']) assert.ok(events.items.some((e) => e.reason === reason), reason);
  });

  it('a stopWhen gate on the gauge stops a daemon-mode run and the report names it', async () => {
    const { exporter, prom } = await prometheusWith(0.1);
    await createRun(client, ns, 'stopper', { daemonMode: true, scenarios: [kwokStep('a', 1)], gates: { stopWhen: [loadGate(prom.url)] } });
    await eventually('a step run', async () => (await listJobs(client, ns, 'stopper')).length >= 1);
    exporter.set(0.95);
    const stopped = await waitForPhase(client, ns, 'stopper', ['Stopped'], 30_000);
    assert.match(stopped.status?.report?.message ?? '', /stopped by gate load: chaos_test_load → 0\.95 > 0\.8/);
  });

  it('Prometheus stopped mid-run holds the run, and its recovery releases it', async () => {
    const { prom } = await prometheusWith(0.1);
    await createRun(client, ns, 'outage', { daemonMode: true, scenarios: [kwokStep('a', 1)], gates: { pauseWhen: [loadGate(prom.url)] } });
    await eventually('running', async () => (await listJobs(client, ns, 'outage')).length >= 1, 30_000);
    await prom.stop();
    const held = await waitForPhase(client, ns, 'outage', ['Paused'], 30_000);
    assert.match(gatedCondition(held)?.message ?? '', /could not be queried.*onError Hold/);
    await prom.start();
    await eventually('released', async () => gatedCondition(await getRun(client, ns, 'outage'))?.status === 'False', 30_000);
    await signal(client, ns, 'outage', 'STOP');
    await waitForPhase(client, ns, 'outage', ['Stopped']);
  });

  it('STOP while gated ends the run', async () => {
    const { prom } = await prometheusWith(0.99);
    await createRun(client, ns, 'gated-stop', { scenarios: [kwokStep('a', 0)], gates: { pauseWhen: [loadGate(prom.url)] } });
    await waitForPhase(client, ns, 'gated-stop', ['Paused']);
    await signal(client, ns, 'gated-stop', 'STOP');
    const stopped = await waitForPhase(client, ns, 'gated-stop', ['Stopped'], 10_000);
    assert.equal((await listJobs(client, ns, 'gated-stop')).length, 0);
    assert.equal(stopped.status?.report?.stepsSucceeded, 0);
  });

  it('a Deployment rollout holds the run until it is complete', async () => {
    const deployments = `/apis/apps/v1/namespaces/${ns}/deployments`;
    await client.request('POST', deployments, {
      body: {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
        // minReadySeconds makes a rollout last a few seconds even on the kwok node.
        spec: { replicas: 2, minReadySeconds: 8, selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      },
    });
    await eventually('web available', async () => {
      const d = await client.request<{ status?: { availableReplicas?: number; updatedReplicas?: number } }>('GET', `${deployments}/web`);
      return d.status?.availableReplicas === 2 && d.status.updatedReplicas === 2;
    }, 60_000);
    await createRun(client, ns, 'rollout', { daemonMode: true, scenarios: [kwokStep('a', 1)], gates: { pauseWhen: [{ name: 'web-rollout', rollout: { kind: 'Deployment', name: 'web' } }] } });
    await eventually('running', async () => (await listJobs(client, ns, 'rollout')).length >= 1, 30_000);
    await client.request('PATCH', `${deployments}/web`, { body: { spec: { template: { metadata: { annotations: { rev: '2' } } } } }, contentType: MERGE_PATCH });
    const held = await eventually('gated by the rollout', async () => {
      const r = await getRun(client, ns, 'rollout');
      return gatedCondition(r)?.status === 'True' ? r : undefined;
    }, 15_000, 50);
    assert.equal(gatedCondition(held)?.reason, 'web-rollout');
    assert.match(gatedCondition(held)?.message ?? '', /Deployment .*\/web rolling out/);
    // While held no new step starts (the running one may finish).
    await eventually('no step running', async () => !(await getRun(client, ns, 'rollout')).status?.activeJob, 15_000);
    const jobsWhileHeld = (await listJobs(client, ns, 'rollout')).length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(gatedCondition(await getRun(client, ns, 'rollout'))?.status, 'True', 'the rollout (minReadySeconds 8) still holds the run');
    assert.equal((await listJobs(client, ns, 'rollout')).length, jobsWhileHeld, 'no new step while held');
    await eventually('released after the rollout', async () => gatedCondition(await getRun(client, ns, 'rollout'))?.status === 'False', 60_000);
    await eventually('a new step after the release', async () => (await listJobs(client, ns, 'rollout')).length > jobsWhileHeld, 30_000);
    await signal(client, ns, 'rollout', 'STOP');
    const stopped = await waitForPhase(client, ns, 'rollout', ['Stopped']);
    assert.ok((stopped.status?.report?.gatedSeconds ?? 0) > 0);
  });
});

describe('invalid gates are refused by the API server', () => {
  const refused = async (gate: Record<string, unknown>, expected: RegExp) => {
    const err = await createRun(client, ns, `bad-gate-${Math.random().toString(36).slice(2, 7)}`, {
      scenarios: [kwokStep('a')], gates: { pauseWhen: [gate as unknown as Gate] },
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof KubeError, 'refused');
    assert.match(err.message, expected);
  };
  it('an unknown kind', () => refused({ name: 'x', grafana: { url: 'http://g' } }, /exactly one kind/));
  it('two kinds', () => refused({ name: 'x', alerts: { url: 'http://p' }, rollout: { kind: 'Deployment', name: 'w' } }, /exactly one kind/));
  it('a bad comparison', () => refused({ name: 'x', prometheus: { url: 'http://p', query: 'up', comparison: 'gt 1' } }, /spec\.gates\.pauseWhen\[0\]\.prometheus\.comparison: Invalid value/));
  it('a bad interval', () => refused({ name: 'x', alerts: { url: 'http://p', interval: '5 sec' } }, /spec\.gates\.pauseWhen\[0\]\.alerts\.interval: Invalid value/));
  it('a rollout gate with neither name nor selector', () => refused({ name: 'x', rollout: { kind: 'Deployment' } }, /exactly one of name or labelSelector/));
  it('a bad workload kind', () => refused({ name: 'x', rollout: { kind: 'Pod', name: 'w' } }, /Unsupported value: "Pod"/));
});
