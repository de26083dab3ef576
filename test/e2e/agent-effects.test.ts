// What a `network` step really does to the traffic, and everything that ends it, on the real node: the
// chart's node agent from the Dockerfile's image holding the installed operator's steps in a busybox
// httpd pod's sandbox, with traffic made from the host inside the client pod's and the target pod's
// sandboxes (nsenter; net-probe.ts), so every figure is measured where the packets really go, and at
// the receiving side. Proven, with the figures printed:
//   - loss {percent: 30}: 1,000 UDP datagrams client -> target, 30 % ± 10 points of them never arrive;
//   - bandwidth {rate: 1mbit}: one TCP upload client -> target, its goodput at the target 1 Mbit/s ± 30 %;
//   - delay {latency: 100ms} (ingress): a TCP connect to the target takes 100 ms ± 20 % longer;
//   - a partition ends within 1 s of the STOP's answer, at the step's timeout, and by the dead-man
//     switch (every controller SIGKILLed and kept down);
//   - after each, no chaosrun_* table in any network namespace of the node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, e2eEnv, eventually, getRun, installOperator, runInPhase, withoutOperator, type Release } from './e2e.ts';
import {
  chaosrunTablesOnNode, connectTimes, cutAfter, getPod, healedAfter, median, request, runningHolder, startWorkload, tcpGoodput,
  udpDelivery, type HolderPod, type Workload,
} from './node-net.ts';
import type { TestEnv } from '../helpers/env.ts';
import { listFound } from '../../src/agent/nft.ts';
import { DEFAULT_LEASE_SECONDS } from '../../src/api/fault-holder.ts';

// At the top level: the helpers register after() hooks that run at the file's end.
const env: TestEnv = await e2eEnv('e2e-effects');
const release: Release = installOperator(env);
const ns = await env.createNamespace('e2e-effects');
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const figures: Record<string, string> = {};
let w: Workload;
let targetIp: string;

const UDP_PORT = 9999;
const TCP_PORT = 9998;

/**
 * Starts run `name`: one `network` step on the target, with the client as its only peer, held for
 * `duration`; waits until its table is whole in the target's sandbox (its rules' hash read back, the
 * lease live). Returns the step's holder pod.
 */
async function faultRun(name: string, network: Record<string, unknown>, opts: { step?: Record<string, unknown>; spec?: Record<string, unknown> } = {}): Promise<HolderPod> {
  apply(chaosRun(ns, name, {
    ...opts.spec,
    scenarios: [{
      name, duration: '10m', ...opts.step,
      network: { namespace: ns, labelSelector: 'app=target', count: 1, leaseSeconds: DEFAULT_LEASE_SECONDS, to: [{ cidr: `${w.client.status.podIP}/32` }], ...network },
    }],
  }));
  const holder = await runningHolder(env, ns, name);
  await eventually(`the table of ${name} whole in the target's sandbox, its lease live`, async () =>
    (await listFound(w.targetNetns)).some((f) => f.id === holder.metadata.uid && f.specHash !== '' && (f.leaseExpiresInMs ?? 0) > 0), 30_000, 50);
  return holder;
}

/** Sends STOP; returns when kubectl had the API server's answer. */
function stop(name: string): number {
  env.kubectl(['patch', 'chaosrun', '-n', ns, name, '--type', 'merge', '-p', JSON.stringify({ spec: { signalState: 'STOP' } })]);
  return Date.now();
}

/** No chaosrun_* table left in any network namespace of the node (read on the host, in every one). */
async function nodeIsClean(after: string): Promise<void> {
  let left: string[] = [];
  await eventually(`no chaosrun table on the node after ${after}`, () => (left = chaosrunTablesOnNode()).length === 0, 10_000, 250)
    .catch(() => assert.fail(`chaosrun tables left on the node after ${after}: ${JSON.stringify(left)}`));
}

const pct = (x: number) => `${x.toFixed(1)} %`;
const mbit = (bps: number) => `${(bps / 1e6).toFixed(3)} Mbit/s`;

test('the demo pods reach each other, and nothing of ours is on the node yet', async () => {
  assert.deepEqual(chaosrunTablesOnNode(), [], 'no chaosrun table on the node before the test');
  await eventually('the agent pod Ready', () => release.agentPods().some((p) => p.status.containerStatuses?.every((c) => c.ready)), 60_000, 250);
  w = await startWorkload(env, ns, `/tmp/chaosrun-e2e-effects-${ns}`);
  targetIp = w.target.status.podIP!;
  assert.equal(getPod(env, ns, 'target').spec.nodeName, env.state.realNode!.name);
});

test('loss {percent: 30}: 30 % ± 10 points of 1,000 UDP datagrams client -> target do not arrive, counted at the target; STOP ends it', async () => {
  const before = await udpDelivery(w.clientNetns, w.targetNetns, targetIp, UDP_PORT, 1000, 2);
  const beforeLoss = 100 * (before.sent - before.received) / before.sent;
  console.log(`loss before the fault: ${before.received} of ${before.sent} datagrams arrived (${pct(beforeLoss)} lost; send errors ${JSON.stringify(before.errors)})`);
  assert.ok(before.sent >= 500 && beforeLoss < 5, `the measurement works without a fault: ${JSON.stringify(before)}`);

  await faultRun('loss', { direction: 'both', loss: { percent: 30 } });
  const m = await udpDelivery(w.clientNetns, w.targetNetns, targetIp, UDP_PORT, 1000, 2);
  const loss = 100 * (m.sent - m.received) / m.sent;
  figures['loss 30 %: measured'] = `${pct(loss)} of ${m.sent}`;
  console.log(`loss {percent: 30}: ${m.received} of ${m.sent} datagrams arrived at the target: ${pct(loss)} lost (send errors ${JSON.stringify(m.errors)})`);
  assert.ok(m.sent >= 500, `at least 500 datagrams sent (${m.sent})`);
  assert.ok(Math.abs(loss - 30) <= 10, `loss ${pct(loss)} within 30 ± 10 points`);

  stop('loss');
  await runInPhase(env, ns, 'loss', ['Stopped']);
  await nodeIsClean('the loss step');
  const after = await udpDelivery(w.clientNetns, w.targetNetns, targetIp, UDP_PORT, 500, 2);
  const afterLoss = 100 * (after.sent - after.received) / after.sent;
  console.log(`loss after STOP: ${pct(afterLoss)} of ${after.sent}`);
  assert.ok(afterLoss < 10, `the loss is over after STOP (${pct(afterLoss)})`);
});

test('bandwidth {rate: 1mbit}: a TCP upload client -> target gets 1 Mbit/s ± 30 % at the target; STOP ends it', async () => {
  const free = await tcpGoodput(w.clientNetns, w.targetNetns, targetIp, TCP_PORT, 3, 1);
  console.log(`TCP goodput before the fault: ${mbit(free.bitsPerSecond)} (over ${free.overMs} ms)`);
  assert.ok(free.bitsPerSecond > 5e6, `without the fault the path is much faster than 1 Mbit/s (${mbit(free.bitsPerSecond)})`);

  await faultRun('bandwidth', { direction: 'both', bandwidth: { rate: '1mbit' } });
  // 12 s of upload, measured from 3 s after its first byte: the policer's bucket (one second of the
  // rate) and TCP's start are left out.
  const m = await tcpGoodput(w.clientNetns, w.targetNetns, targetIp, TCP_PORT, 12, 3);
  figures['bandwidth 1mbit: measured'] = mbit(m.bitsPerSecond);
  console.log(`bandwidth {rate: 1mbit}: TCP goodput at the target ${mbit(m.bitsPerSecond)} (${m.bytes} bytes over ${m.overMs} ms)`);
  assert.ok(m.bitsPerSecond >= 0.7e6 && m.bitsPerSecond <= 1.3e6, `goodput ${mbit(m.bitsPerSecond)} within 1 Mbit/s ± 30 %`);

  stop('bandwidth');
  await runInPhase(env, ns, 'bandwidth', ['Stopped']);
  await nodeIsClean('the bandwidth step');
  const after = await tcpGoodput(w.clientNetns, w.targetNetns, targetIp, TCP_PORT, 3, 1);
  console.log(`TCP goodput after STOP: ${mbit(after.bitsPerSecond)}`);
  assert.ok(after.bitsPerSecond > 5e6, `the limit is over after STOP (${mbit(after.bitsPerSecond)})`);
});

test('delay {latency: 100ms} (ingress): a TCP connect to the target takes 100 ms ± 20 % longer; STOP ends it', async () => {
  const before = median(await connectTimes(w.clientNetns, targetIp, 8080, 21));
  console.log(`TCP connect client -> target before the fault: median ${before.toFixed(2)} ms`);

  await faultRun('delay', { direction: 'ingress', delay: { latency: '100ms' } });
  // The table is whole; the delayer binds its queue beside it (until then bypass lets packets pass).
  await eventually('a connect held by the delayer', async () => ((await connectTimes(w.clientNetns, targetIp, 8080, 1))[0] ?? 0) > 50, 20_000, 100);
  const times = await connectTimes(w.clientNetns, targetIp, 8080, 31);
  assert.ok(times.length >= 25, `the connects succeed (${times.length} of 31)`);
  const added = median(times) - before;
  figures['delay 100ms: added to a TCP connect'] = `${added.toFixed(1)} ms`;
  console.log(`delay {latency: 100ms}: TCP connect median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}), ${added.toFixed(1)} ms added`);
  assert.ok(added >= 80 && added <= 120, `added latency ${added.toFixed(1)} ms within 100 ms ± 20 %`);

  stop('delay');
  await runInPhase(env, ns, 'delay', ['Stopped']);
  await nodeIsClean('the delay step');
  const after = median(await connectTimes(w.clientNetns, targetIp, 8080, 11));
  console.log(`TCP connect after STOP: median ${after.toFixed(2)} ms`);
  assert.ok(after < before + 20, `the delay is over after STOP (${after.toFixed(1)} ms)`);
});

test('STOP ends a partition: requests pass within 1 s of the STOP\'s answer; the step is Aborted', async () => {
  await faultRun('stop', { direction: 'both', partition: {} });
  await cutAfter(w.clientNetns, w.toTarget, Date.now());
  const answered = stop('stop');
  const healMs = await healedAfter(w.clientNetns, w.toTarget, answered, 1000);
  figures['STOP answered -> requests pass'] = `${healMs} ms`;
  console.log(`STOP answered -> client -> target passes: ${healMs} ms`);
  assert.ok(healMs < 1000, `healed within 1 s of the STOP's answer (${healMs} ms)`);
  assert.ok(await request(w.targetNetns, w.toClient), 'target -> client passes too');
  const run = await runInPhase(env, ns, 'stop', ['Stopped']);
  assert.equal(run.status?.history?.[0]?.result, 'Aborted');
  await nodeIsClean('STOP');
});

test('the step\'s timeout ends a partition at the timeout, not before; the step is Failed "timed out"', async () => {
  const TIMEOUT_S = 15;
  await faultRun('timeout', { direction: 'both', partition: {} }, { step: { timeout: `${TIMEOUT_S}s` } });
  await cutAfter(w.clientNetns, w.toTarget, Date.now());
  const started = getRun(env, ns, 'timeout').status?.history?.[0]?.startTime;
  assert.ok(started, 'the step\'s start is recorded');
  const deadline = Date.parse(started) + TIMEOUT_S * 1000;
  assert.ok(deadline - Date.now() > 2000, `the fault is in force well before the timeout (${deadline - Date.now()} ms left)`);
  // Requests from now on (10 a second): the first to pass says when the fault ended, relative to the timeout.
  const healMs = await healedAfter(w.clientNetns, w.toTarget, deadline, deadline - Date.now() + 5000, 100);
  figures['timeout -> requests pass'] = `${healMs} ms after it`;
  console.log(`step timeout ${TIMEOUT_S}s -> client -> target passes ${healMs} ms after the timeout (its start ${started})`);
  // Two clocks end it: the operator's (the step's recorded start + timeout) and Kubernetes's (the Job's
  // activeDeadlineSeconds, capped at the timeout, counted from its status.startTime, which is in whole
  // seconds, rounded down): the latter may come up to 1 s before the former (136-665 ms seen here).
  assert.ok(healMs >= -1500, `the fault held until the timeout (healed ${healMs} ms after it)`);
  assert.ok(healMs < 5000, `healed within 5 s of the timeout (${healMs} ms)`);
  const run = await runInPhase(env, ns, 'timeout', ['Failed', 'Completed', 'Stopped']);
  assert.equal(run.status?.history?.[0]?.result, 'Failed');
  assert.match(run.status?.history?.[0]?.message ?? '', /timed out after 15s/);
  await nodeIsClean('the timeout');
});

test('the dead-man switch ends a partition: every controller SIGKILLed and kept down, the step\'s Job ends at its deadline and the agent reverts', async () => {
  const holder = await faultRun('deadman', { direction: 'both', partition: {} }, { spec: { deadManSeconds: 10 } });
  await cutAfter(w.clientNetns, w.toTarget, Date.now());
  await withoutOperator(env, release, async ({ listed, killed, killedAt }) => {
    // Four requests a second: the deadline was last moved at most 5 s before the kill, so 10 s
    // + the Job controller's and the kubelet's reaction bound it.
    const healMs = await healedAfter(w.clientNetns, w.toTarget, killedAt, 20_000, 250);
    figures['controllers SIGKILLed -> requests pass (deadManSeconds 10)'] = `${healMs} ms`;
    console.log(`dead-man switch: client -> target passes ${healMs} ms after the controllers were SIGKILLed (${killed} of ${listed}; deadManSeconds 10)`);
    assert.ok(healMs < 20_000, `healed within 20 s of the kill (${healMs} ms)`);
    assert.equal(release.pods().filter((p) => !p.metadata.deletionTimestamp).length, 0, 'no operator came back meanwhile');
    await eventually('the holder pod ended by Kubernetes', () => {
      const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '--field-selector', `metadata.name=${holder.metadata.name}`, '-o', 'json'])).items;
      return pods.length === 0 || pods[0].metadata.deletionTimestamp || pods[0].status.phase !== 'Running';
    }, 10_000, 250);
    await nodeIsClean('the dead-man switch (no operator running)');
  });
  const run = await runInPhase(env, ns, 'deadman', ['Failed', 'Completed', 'Stopped'], 180_000);
  const [step] = run.status!.history!;
  assert.equal(step.result, 'Failed');
  assert.equal(step.reason, 'DeadManSwitch', step.message);
  assert.ok(await request(w.clientNetns, w.toTarget), 'requests still pass once the operator is back');
  await nodeIsClean('the dead-man switch');
  console.log(`figures: ${JSON.stringify(figures)}`);
});
