// The reconcile shell against the real API server: a conflict during a stalled runs watch backs off
// instead of looping PUT → 409, a step Job the API server refuses ends that step as Failed with the
// server's message, and a first cache sync that does not come is said in the log and by ready().
// The tests run one after another: the first counts this process's API requests.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, listJobs, signal, waitForPhase } from '../helpers/operator.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { apiRequests } from '../../src/metrics/registry.ts';
import { reconciles } from '../../src/metrics/controller.ts';
import { startController } from '../../src/controller/manager.ts';

const env = await testEnv('shell');
const { client } = env;

/** This process's API requests with these labels so far (the test's own client counts here too). */
async function requests(verb: string, resource: string, code?: string): Promise<number> {
  const { values } = await apiRequests.get();
  return values.filter((v) => v.labels.verb === verb && v.labels.resource === resource && (code === undefined || v.labels.code === code))
    .reduce((n, v) => n + v.value, 0);
}

async function outcomes(result: string): Promise<number> {
  return (await reconciles.get()).values.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
}

describe('reconcile shell', () => {
  it('a status write that conflicts while the runs watch is stalled backs off: the writes during the stall stay few', async () => {
    const ns = await env.createNamespace('stall');
    const proxy = await startProxy(new URL(env.state.server), env.kubeconfig);
    const watchdogMs = 20_000;
    const controller = await inProcessController({ ...env, namespace: ns }, { kubeconfig: proxy.kubeconfig, watchdogMs });
    after(async () => { await controller.stop(); await proxy.close(); });
    await createRun(client, ns, 'stall', { iterations: 2, waitDuration: '8s', scenarios: [kwokStep('a', 0)] });
    const waitEnds = Date.parse(await eventually('the wait before iteration 2', async () => (await getRun(client, ns, 'stall')).status?.nextStepTime, 60_000));
    // Freeze every open connection (both watches), then let the controller's requests use fresh ones:
    // its writes reach the API server, but it sees nothing new until the watchdog restarts the watches.
    proxy.freeze();
    controller.client.resetConnections();
    const before = { writes: await requests('update', 'chaosruns/status'), conflicts: await requests('update', 'chaosruns/status', '409') };
    const stalled = Date.now();
    await signal(client, ns, 'stall', 'PAUSE');
    // Otherwise iteration 2 rightly started before the PAUSE, and this test shows nothing (a machine too busy).
    assert.ok(Date.now() < waitEnds - 1000, `the PAUSE landed ${Date.now() - waitEnds} ms after the wait ended`);
    // When the wait ends, the controller (on its stale cache) tries to start iteration 2: conflict.
    await waitForPhase(client, ns, 'stall', ['Paused'], watchdogMs + 30_000);
    const seconds = (Date.now() - stalled) / 1000;
    const writes = await requests('update', 'chaosruns/status') - before.writes;
    const conflicts = await requests('update', 'chaosruns/status', '409') - before.conflicts;
    console.log(`status writes during a ${seconds.toFixed(1)} s stall of the runs watch: ${writes} (${conflicts} conflicts; ` +
      `backoff from 50 ms doubling allows about log2(stall / 50 ms) + 1; the hot retry made hundreds)`);
    assert.ok(conflicts >= 1, 'the test must provoke a conflict to show anything');
    assert.ok(writes <= 15, `${writes} status writes during the stall`);
    assert.ok(!(await listJobs(client, ns, 'stall')).some((j) => j.iteration === 2), 'PAUSE was accepted: iteration 2 never started');
  });

  it('a step whose Job the API server refuses ends as Failed with the server\'s message, and the run follows its failurePolicy', async () => {
    const ns = await env.createNamespace('refused');
    const controller = await inProcessController({ ...env, namespace: ns });
    after(() => controller.stop());
    const terminalBefore = await outcomes('terminal');
    // The CRD takes any string as a label value; the Job API refuses this one (422 Invalid).
    const bad = kwokStep('bad-label', 0, 'succeed');
    bad.job!.podMetadata = { labels: { tier: 'not a valid label value!' } };
    await createRun(client, ns, 'refused', { failurePolicy: 'Stop', scenarios: [bad, kwokStep('never', 0)] });
    const run = await waitForPhase(client, ns, 'refused', ['Failed'], 30_000);
    const step = run.status!.history!.find((h) => h.step === 'bad-label')!;
    assert.equal(step.result, 'Failed');
    assert.match(step.message ?? '', /API server refused the step's Job: .*Invalid value: "not a valid label value!"/);
    assert.match(run.status!.report!.message, /bad-label .*failed.*failurePolicy Stop/);
    assert.equal(run.status!.history!.length, 1, 'the next step never started');
    assert.deepEqual(await listJobs(client, ns, 'refused'), []);
    assert.ok(await outcomes('terminal') > terminalBefore, 'counted as a terminal outcome');
  });

  it('each step\'s Job is POSTed once: the pass woken by its own status write does not create it again for a 409', async () => {
    const ns = await env.createNamespace('once');
    const controller = await inProcessController({ ...env, namespace: ns });
    after(() => controller.stop());
    const created = await requests('create', 'jobs', '201');
    const refused = await requests('create', 'jobs', '409');
    await createRun(client, ns, 'once', { iterations: 3, scenarios: [kwokStep('a', 0, 'succeed'), kwokStep('b', 0, 'succeed')] });
    const run = await waitForPhase(client, ns, 'once', ['Completed'], 60_000);
    assert.equal(run.status!.history!.length, 6);
    assert.equal(await requests('create', 'jobs', '201') - created, 6, 'one create per step');
    assert.equal(await requests('create', 'jobs', '409') - refused, 0, 'no create answered AlreadyExists');
  });

  it('a first cache sync that does not come within the timeout is logged, and the controller is not ready', async () => {
    // An API server that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const blackhole = createServer((s) => { sockets.add(s); });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const kubeconfig = join(tmpdir(), `chaosrun-blackhole-${process.pid}.kubeconfig`);
    writeFileSync(kubeconfig, readFileSync(env.kubeconfig, 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${(blackhole.address() as { port: number }).port}`));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    const started = Date.now();
    const controller = await startController({ kubeconfig, namespaces: [env.namespace], log, cacheSyncTimeoutMs: 1000 });
    const waited = Date.now() - started;
    try {
      assert.ok(waited >= 1000 && waited < 10_000, `startController returned after ${waited} ms`);
      assert.equal(controller.ready(), false);
      assert.ok(lines.some((l) => /"level":50.*caches not synced yet/.test(l)), `an error line says why:\n${lines.join('')}`);
    } finally {
      await controller.stop();
      for (const s of sockets) s.destroy();
      blackhole.close();
    }
  });
});
