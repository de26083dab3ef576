// The operator under chaos of its own, on the real node: a run that kills the operator's pod while
// another run is active, a leader deleted out of two replicas, and `helm uninstall` leaving nothing.
// Its own release (watching every namespace), installed after operator.test.ts's was removed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, e2eEnv, eventually, getRun, hostPids, installOperator, runInPhase, withoutOperator, type Release } from './e2e.ts';
import type { TestEnv } from '../helpers/env.ts';
import { BUSYBOX_IMAGE } from '../../src/realnode/images.ts';
import type { ChaosRun } from '../../src/api/types.ts';

// At the top level: the helpers register after() hooks for the file's end.
const env: TestEnv = await e2eEnv('e2e-res');
// Two replicas from the start (leader election on), with a short lease so a takeover is quick to see.
const release: Release = installOperator(env, {
  replicas: 2,
  leaderElection: { enabled: true, leaseDuration: '8s', renewDeadline: '6s', retryPeriod: '1s' },
});
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));

/** Every (iteration, step) of a run appears once in its history, and one Job was made for each. */
/** Every step recorded once, none lost, and one Job per step among the Job names seen in its namespace. */
function assertNoDuplicate(run: ChaosRun, jobsSeen: Set<string>, expectedSteps: number): void {
  const keys = (run.status?.history ?? []).map((h) => `${h.iteration}/${h.stepIndex}`);
  assert.equal(new Set(keys).size, keys.length, `no step recorded twice: ${keys}`);
  assert.equal(keys.length, expectedSteps, `no step lost: ${keys}`);
  // A step Job is named after its run (src/controller/job-name.ts).
  const jobsCreated = [...jobsSeen].filter((n) => n.startsWith(`${run.metadata.name}-`));
  assert.equal(jobsCreated.length, expectedSteps, `one Job per step: ${jobsCreated}`);
}

/** Records the names of every step Job of a run as they appear (Jobs of finished steps may be pruned later). */
function watchJobs(namespace: string): { names: Set<string>; stop: () => void } {
  const names = new Set<string>();
  // Stopped by the test, or at the file's end when an assertion threw first.
  after(() => clearInterval(timer));
  const timer = setInterval(() => {
    try {
      for (const j of JSON.parse(env.kubectl(['get', 'jobs', '-n', namespace, '-o', 'json'])).items) names.add(j.metadata.name);
    } catch { /* a transient error: the next tick sees it */ }
  }, 300);
  return { names, stop: () => clearInterval(timer) };
}

/** The namespace where the operator made a scenario account (for the uninstall test). */
let provisioned: string | undefined;

const leaderPod = () => release.leaseHolder()?.replace(/-\d+-[0-9a-f]{6}$/, '');

test('chaos on the chaos operator: a podKill kills the operator\'s pod while another run is active; the other run completes, no step lost or doubled', async () => {
  const ns = await env.createNamespace('e2e-self');
  provisioned = ns;
  const jobs = watchJobs(ns);
  apply(chaosRun(ns, 'steady', {
    iterations: 4, waitDuration: '1s',
    scenarios: [{ name: 'nap', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'sleep 2'] } }],
  }));
  await eventually('the steady run to start', () => (getRun(env, ns, 'steady').status?.history?.length ?? 0) >= 1, 60_000, 250);
  const leader = await eventually('a leader', leaderPod);
  // The kill targets the leader pod by name, from the operator's own namespace; the Deployment
  // brings a replacement, and podKill waits for it to be Ready.
  apply(chaosRun(ns, 'kill-operator', {
    scenarios: [{ name: 'kill-leader', podKill: { namespace: release.namespace, namePattern: `^${leader}$`, count: 1, gracePeriodSeconds: 0, recovery: { timeout: '120s' } } }],
  }));
  await eventually('the leader pod to be replaced', () => !release.pods().some((p) => p.metadata.name === leader), 90_000, 500);
  const kill = await runInPhase(env, ns, 'kill-operator', ['Completed', 'Failed'], 180_000);
  assert.equal(kill.status?.phase, 'Completed', JSON.stringify(kill.status?.history));
  const steady = await runInPhase(env, ns, 'steady', ['Completed', 'Failed'], 180_000);
  jobs.stop();
  assert.equal(steady.status?.phase, 'Completed');
  assertNoDuplicate(steady, jobs.names, 4);
});

test('two replicas: deleting the leader pod hands the Lease to the other within the lease duration; no step is driven twice', async () => {
  const ns = await env.createNamespace('e2e-ha');
  await eventually('two Ready operator pods', () => release.pods().filter((p) => p.status.containerStatuses?.every((c) => c.ready)).length === 2, 120_000, 500);
  const jobs = watchJobs(ns);
  apply(chaosRun(ns, 'ha', {
    iterations: 5, waitDuration: '1s',
    scenarios: [{ name: 'nap', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'sleep 2'] } }],
  }));
  await eventually('the run to start', () => (getRun(env, ns, 'ha').status?.history?.length ?? 0) >= 1, 60_000, 250);
  const leader = await eventually('a leader', leaderPod);
  const deletedAt = Date.now();
  env.kubectl(['delete', 'pod', '-n', release.namespace, leader, '--wait=false']);
  const next = await eventually('another pod to hold the Lease', () => {
    const holder = leaderPod();
    return holder && holder !== leader ? holder : undefined;
  }, 60_000, 100);
  const takeoverMs = Date.now() - deletedAt;
  console.log(`leader ${leader} deleted; ${next} took the Lease after ${takeoverMs} ms (lease duration 8 s)`);
  // A leader that is shut down drains and releases the Lease; a peer takes it at its next retry,
  // well within the lease duration (what a leader that vanished without releasing would cost).
  assert.ok(takeoverMs < 8_000, `takeover in ${takeoverMs} ms, within the 8 s lease duration`);
  const run = await runInPhase(env, ns, 'ha', ['Completed', 'Failed'], 180_000);
  jobs.stop();
  assert.equal(run.status?.phase, 'Completed');
  assertNoDuplicate(run, jobs.names, 5);
});

test('dead-man switch on the real node: with every controller SIGKILLed and kept down, the step\'s container stops by itself; the operator records it when back', async () => {
  const ns = await env.createNamespace('e2e-deadman');
  const marker = `deadman-${ns}`;
  apply(chaosRun(ns, 'unsupervised', {
    deadManSeconds: 10,
    // A well-behaved chaos step: it ends on SIGTERM. $0 carries the marker into the process's argv.
    scenarios: [{ name: 'long-chaos', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done', marker] } }],
  }));
  await eventually('the step\'s process on the host', () => hostPids(marker).length === 1, 60_000, 200);
  // Every controller SIGKILLed and kept down (no replacement); scaled back afterwards for the next test.
  await withoutOperator(env, release, async ({ listed, killed, killedAt }) => {
    await eventually('the step\'s process to end with no operator running', () => hostPids(marker).length === 0, 60_000, 200);
    const endedAfter = Date.now() - killedAt;
    console.log(`dead-man switch: step container ended ${endedAfter} ms after the controllers were SIGKILLed (${killed} of ${listed}; the rest had exited; deadManSeconds 10)`);
    // The deadline was last moved at most 5 s before the kill, so 10 s + the Job controller's and the kubelet's reaction.
    assert.ok(endedAfter < 10_000 + 10_000, `ended ${endedAfter} ms after the kill`);
    assert.equal(release.pods().filter((p) => !p.metadata.deletionTimestamp).length, 0, 'no operator came back meanwhile');
  });
  const run = await runInPhase(env, ns, 'unsupervised', ['Failed', 'Completed', 'Stopped'], 180_000);
  const [step] = run.status!.history!;
  assert.equal(step.result, 'Failed');
  assert.match(step.message ?? '', /dead-man/i);
  assert.equal(run.status?.report?.stepsEndedByDeadManSwitch, 1);
  // The step ended with the run, so its story is folded into the run's end Event (decide.ts).
  // Events are written beside the status, not before it: wait for the end Event.
  await eventually('the run\'s end Event to tell the dead-man switch', () =>
    /by the dead-man switch/.test(env.kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.kind=ChaosRun', '-o', 'jsonpath={.items[*].message}'])), 30_000, 500);
});

test('helm uninstall leaves no ChaosRun, Job, finalizer or pod of its runs behind, even with runs mid-step', async () => {
  const ns = await env.createNamespace('e2e-uninstall');
  apply(chaosRun(ns, 'forever', {
    daemonMode: true,
    scenarios: [{ name: 'loop', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'sleep 300'] } }],
  }));
  await eventually('the step pod to run', () => JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items.length > 0, 60_000, 250);
  assert.ok(provisioned, 'the podKill test ran first and made a scenario account');
  env.kubectl(['get', 'serviceaccount', '-n', provisioned, 'chaosrun-scenario']);
  release.uninstall();
  const runs = JSON.parse(env.kubectl(['get', 'chaosruns', '-A', '-o', 'json'])).items as ChaosRun[];
  assert.deepEqual(runs.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), [], 'no ChaosRun left (and so no finalizer)');
  assert.deepEqual(JSON.parse(env.kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])).items, [], 'no step Job left');
  await eventually('the step pod to be gone', () => JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items.length === 0, 60_000, 250);
  // helm waits for the Deployment to go; its pods then end within their grace period.
  await eventually('the operator pods to be gone', () =>
    JSON.parse(env.kubectl(['get', 'pods', '-n', release.namespace, '-o', 'json'])).items.length === 0, 60_000, 500);
  // The scenario accounts the operator made are owned by the chart's binding, so they go with it.
  await eventually('the operator-made scenario account to be collected', () => {
    try { env.kubectl(['get', 'serviceaccount', '-n', provisioned!, 'chaosrun-scenario']); return false; } catch { return true; }
  }, 60_000, 500);
});
