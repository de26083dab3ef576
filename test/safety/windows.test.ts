// Chaos windows against the real API server: the API server refuses bad windows with a clear
// message, and a run with a window that opens and closes during the test holds before it, runs inside
// it (started at the boundary by a requeue, not a poll) and holds again after it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, listJobs, signal, waitForPhase } from '../helpers/operator.ts';
import { KubeError } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import type { Gate } from '../../src/api/types.ts';

const env = await testEnv('windows');
const { client } = env;
const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);

describe('chaos windows', { concurrency: true }, () => {
  it('the API server refuses malformed windows, naming the problem', async () => {
    const ns = await env.createNamespace('windows-crd');
    const bad: Array<[Gate, RegExp]> = [
      [{ name: 'g', schedule: { timeZone: 'UTC', allowed: [{ start: '9:00', end: '17:00' }] } }, /start.*should match/],
      [{ name: 'g', schedule: { timeZone: 'UTC', allowed: [{ days: ['Mon'], date: '2026-12-24', start: '09:00', end: '17:00' }] } }, /a window has days or a date, not both/],
      [{ name: 'g', schedule: { timeZone: 'UTC', blackout: [{ days: ['Monday' as 'Mon'], start: '09:00', end: '17:00' }] } }, /Unsupported value: "Monday"/],
      [{ name: 'g', schedule: { timeZone: 'UTC' } }, /a schedule needs allowed windows, blackout windows or both/],
      [{ name: 'g', schedule: { timeZone: 'Europe Berlin', allowed: [{ start: '09:00', end: '17:00' }] } }, /timeZone.*should match/],
      [{ name: 'g', schedule: { timeZone: 'UTC', allowed: [{ start: '09:00', end: '17:00' }] }, rollout: { kind: 'Deployment', name: 'x' } }, /exactly one kind/],
    ];
    for (const [i, [gate, message]] of bad.entries()) {
      await assert.rejects(createRun(client, ns, `bad-${i}`, { signalState: 'PAUSE', gates: { pauseWhen: [gate] }, scenarios: [kwokStep('a')] }),
        (err: unknown) => err instanceof KubeError && err.status === 422 && message.test(err.message), `case ${i}: ${message}`);
    }
    const ok = await createRun(client, ns, 'ok', { signalState: 'PAUSE', scenarios: [kwokStep('a')], gates: { pauseWhen: [
      { name: 'office', schedule: { timeZone: 'Europe/Berlin', allowed: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], start: '09:00', end: '17:00' }] } },
      { name: 'release', schedule: { blackout: [{ date: '2026-12-24', start: '18:00', end: '24:00' }] } } as Gate,
    ] } });
    assert.equal(ok.spec.gates?.pauseWhen?.[1].schedule?.timeZone, 'UTC', 'timeZone defaults to UTC');
  });

  it('a window that opens and closes during the test: held, then steps, then held again', async () => {
    const ns = await env.createNamespace('windows-live');
    const controller = await inProcessController({ ...env, namespace: ns });
    after(() => controller.stop());
    // Whole seconds, far enough ahead for the run to be seen held first.
    const opens = Math.ceil(Date.now() / 1000) * 1000 + 8000;
    const closes = opens + 10_000;
    await createRun(client, ns, 'win', {
      daemonMode: true, scenarios: [kwokStep('a', 3)],
      gates: { pauseWhen: [{ name: 'test-window', schedule: { timeZone: 'UTC', allowed: [{ start: hhmmss(opens), end: hhmmss(closes) }] } }] },
    });
    const held = await waitForPhase(client, ns, 'win', ['Paused']);
    const gated = held.status?.conditions?.find((c) => c.type === 'Gated');
    assert.equal(gated?.status, 'True');
    assert.equal(gated?.reason, 'test-window');
    assert.match(gated!.message, new RegExp(`the next opens at ${new Date(opens).toISOString()}`));
    assert.equal((await listJobs(client, ns, 'win')).length, 0, 'no step before the window opens');

    const first = await eventually('the first step inside the window', async () => (await listJobs(client, ns, 'win'))[0], 30_000, 100);
    const lag = (first.created - opens) / 1000;
    console.log(`chaos window: first step created ${lag.toFixed(1)} s after the window opened (creationTimestamp has 1 s resolution)`);
    assert.ok(first.created >= opens, 'not before the window opens');
    assert.ok(lag <= 3, `started ${lag} s after the window opened`);

    // After the window closes the running step finishes and nothing new starts.
    await eventually('held again after the window closed', async () => {
      const r = await getRun(client, ns, 'win');
      return Date.now() > closes && r.status?.phase === 'Paused' && !r.status.activeJob ? r : undefined;
    }, 30_000, 200);
    const jobs = await listJobs(client, ns, 'win');
    assert.ok(jobs.length >= 2, `steps ran inside the window (${jobs.length})`);
    assert.ok(jobs.every((j) => j.created < closes + 1000), `no step created after the window closed: ${jobs.map((j) => new Date(j.created).toISOString()).join(', ')}`);
    const again = (await getRun(client, ns, 'win')).status?.conditions?.find((c) => c.type === 'Gated');
    assert.match(again!.message, /outside the allowed windows/);
    const events = (await client.request<{ items: Array<{ reason: string }> }>('GET', paths.events(ns))).items.map((e) => e.reason);
    assert.ok(events.includes('GateHeld') && events.includes('GateReleased'), `events: ${events.join(', ')}`);
    await signal(client, ns, 'win', 'STOP');
    await waitForPhase(client, ns, 'win', ['Stopped']);
  });
});
