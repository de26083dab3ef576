// What freeze, stress and containerKill steps really do on the real node: the installed operator's
// steps, held by the chart's node agent (the Dockerfile's agent image, with stress-ng), on busybox
// pods under containerd and the kubelet. Requests are made from a client pod's sandbox (nsenter), the
// cgroups read on the host. Proven, with the figures printed:
//   - freeze: the server stops answering and its readiness probe fails (the pod turns not Ready);
//     it answers again within a second of PAUSE and of STOP; a liveness-probe restart during a freeze
//     lands once the freeze ends, and the new container is not frozen;
//   - stress cpu: the target container's cgroup uses up to its 0.5-CPU limit, and its requests slow;
//   - stress memory: the container's memory usage rises by the size; past a pod's limit the OOM kill
//     lands in that container (its restartCount), never in another pod;
//   - containerKill: restartCount + 1, the same pod uid;
//   - after each: no stress-ng process and no FROZEN cgroup on the node, no freeze record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chaosRun, e2eEnv, eventually, hostPids, installOperator, placement, runInPhase, type Release } from './e2e.ts';
import { getPod, request, runningHolder, sandboxOf } from './node-net.ts';
import type { TestEnv } from '../helpers/env.ts';
import { BUSYBOX_IMAGE } from '../../src/realnode/images.ts';

const env: TestEnv = await e2eEnv('e2e-process');
const release: Release = installOperator(env);
const ns = await env.createNamespace('e2e-process');
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const figures: Record<string, string> = {};

function httpd(name: string, extra: { probes?: boolean; liveness?: boolean; limits?: Record<string, string> } = {}): unknown {
  const probe = { httpGet: { path: '/', port: 8080 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1 };
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      ...placement, terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'httpd', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never',
        command: ['sh', '-c', `mkdir -p /tmp/www-${name} && echo ok > /tmp/www-${name}/index.html && exec httpd -f -p 8080 -h /tmp/www-${name}`],
        ...(extra.probes ? { readinessProbe: probe } : {}),
        ...(extra.liveness ? { livenessProbe: { ...probe, failureThreshold: 2 } } : {}),
        ...(extra.limits ? { resources: { limits: extra.limits, requests: extra.limits } } : {}),
      }],
    },
  };
}

const urlOf = (name: string) => `http://${getPod(env, ns, name).status.podIP}:8080/`;
let clientNetns = '';
const answers = (name: string) => request(clientNetns, urlOf(name));
/** The first time after `since` that the pod answers (polled every 50 ms), in ms after `since`. */
async function answersAfter(name: string, since: number, withinMs = 10_000): Promise<number> {
  await eventually(`${name} answers`, () => answers(name), withinMs, 50);
  return Date.now() - since;
}

/** Container cgroup directories of a pod on the host, for a v1 hierarchy (kubelet's cgroupfs layout). */
function containerCgroups(hierarchy: string, podUid: string): string[] {
  const root = `/sys/fs/cgroup/${hierarchy}/kubepods`;
  // Guaranteed pods sit right under kubepods, the others under its burstable or besteffort.
  const pod = [join(root, `pod${podUid}`), join(root, 'burstable', `pod${podUid}`), join(root, 'besteffort', `pod${podUid}`)].find((d) => existsSync(d));
  if (!pod) return [];
  return readdirSync(pod).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `${join(pod, n)}/`);
}
const frozenOnNode = () => globSync('/sys/fs/cgroup/freezer/kubepods/**/freezer.state').filter((f) => readFileSync(f, 'utf8').trim() !== 'THAWED');
const freezeRecords = () => { const d = '/run/chaosrun-node/chaosrun-agent/frozen'; return existsSync(d) ? readdirSync(d) : []; };
async function nothingLeft(after: string): Promise<void> {
  await eventually(`no stressor, frozen cgroup or freeze record on the node after ${after}`,
    () => hostPids('stress-ng').length === 0 && frozenOnNode().length === 0 && freezeRecords().length === 0, 10_000, 200)
    .catch(() => assert.fail(`left after ${after}: stress-ng ${JSON.stringify(hostPids('stress-ng'))}, frozen ${JSON.stringify(frozenOnNode())}, records ${JSON.stringify(freezeRecords())}`));
}
const agentLog = () => { try { return env.kubectl(['logs', '-n', release.namespace, release.agentPods()[0].metadata.name]); } catch (err) { return String(err); } };
const signal = (run: string, s: string) => env.kubectl(['patch', 'chaosrun', '-n', ns, run, '--type', 'merge', '-p', JSON.stringify({ spec: { signalState: s } })]);
const ready = (name: string) => (getPod(env, ns, name).status as { conditions?: Array<{ type: string; status: string }> }).conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const restarts = (name: string) => getPod(env, ns, name).status.containerStatuses?.[0]?.restartCount ?? 0;

test('the workload runs on the real node, and nothing of ours is on it yet', async () => {
  await eventually('the agent pod Ready', () => release.agentPods().some((p) => p.status.containerStatuses?.every((c) => c.ready)), 90_000, 250);
  apply(httpd('client'));
  apply(httpd('web', { probes: true, limits: { cpu: '500m', memory: '256Mi' } }));
  apply(httpd('lively', { liveness: true }));
  apply(httpd('tight', { limits: { cpu: '200m', memory: '48Mi' } }));
  apply(httpd('bystander', { limits: { cpu: '100m', memory: '64Mi' } }));
  for (const n of ['client', 'web', 'lively', 'tight', 'bystander']) {
    await eventually(`${n} Running with an address`, () => { const p = getPod(env, ns, n); return p.status.phase === 'Running' && p.status.podIP; }, 90_000, 250);
  }
  clientNetns = sandboxOf(getPod(env, ns, 'client').metadata.uid);
  await eventually('web answers and is Ready', async () => (await answers('web')) && ready('web'), 30_000, 200);
  await nothingLeft('nothing');
});

test('freeze: the server stops answering and turns not Ready; PAUSE and STOP each end it within a second', async () => {
  apply(chaosRun(ns, 'freeze', { scenarios: [{ name: 'freeze', duration: '10m', freeze: { namespace: ns, labelSelector: 'app=web' } }] }));
  await runningHolder(env, ns, 'freeze', 120_000, 'freeze');
  await eventually('web stops answering', async () => !(await answers('web')), 30_000, 100);
  await eventually('web not Ready (its readiness probe fails)', () => !ready('web'), 30_000, 250);
  const paused = Date.now();
  signal('freeze', 'PAUSE');
  const pauseMs = await answersAfter('web', paused);
  signal('freeze', 'RUN');
  await eventually('web frozen again after RUN', async () => !(await answers('web')), 30_000, 100);
  const stopped = Date.now();
  signal('freeze', 'STOP');
  const stopMs = await answersAfter('web', stopped);
  await runInPhase(env, ns, 'freeze', ['Stopped']);
  figures['freeze: answers after PAUSE'] = `${pauseMs} ms`;
  figures['freeze: answers after STOP'] = `${stopMs} ms`;
  console.log(`freeze: web answered ${pauseMs} ms after PAUSE, ${stopMs} ms after STOP`);
  assert.ok(pauseMs < 1000 && stopMs < 1000, `within a second: PAUSE ${pauseMs} ms, STOP ${stopMs} ms`);
  await eventually('web Ready again', () => ready('web'), 30_000, 250);
  await nothingLeft('the freeze');
});

test('freeze with a liveness probe: the restart lands when the freeze ends, the new container is not frozen, and it ends with its duration', async () => {
  const before = restarts('lively');
  apply(chaosRun(ns, 'lively', { scenarios: [{ name: 'freeze', duration: '8s', freeze: { namespace: ns, labelSelector: 'app=lively' } }] }));
  await runningHolder(env, ns, 'lively', 120_000, 'freeze');
  await eventually('lively stops answering', async () => !(await answers('lively')), 30_000, 100);
  await runInPhase(env, ns, 'lively', ['Completed']);
  const ended = Date.now();
  const backMs = await answersAfter('lively', ended, 60_000);
  await eventually('the kubelet restarted it', () => restarts('lively') > before, 60_000, 250);
  console.log(`freeze + liveness: lively answered ${backMs} ms after the step completed, restartCount ${before} -> ${restarts('lively')}`);
  figures['freeze + liveness: answers after the step'] = `${backMs} ms`;
  await nothingLeft('the liveness freeze');
});

test('stress cpu: the container\'s cgroup runs at its 0.5-CPU limit and its requests slow; STOP ends the load', async () => {
  const uid = getPod(env, ns, 'web').metadata.uid;
  const usage = () => containerCgroups('cpuacct', uid).map((d) => Number(readFileSync(`${d}cpuacct.usage`, 'utf8'))).reduce((a, b) => a + b, 0);
  const rate = async () => { const a = usage(); const t = Date.now(); await new Promise((r) => setTimeout(r, 3000)); return (usage() - a) / ((Date.now() - t) * 1e6); };
  assert.ok(containerCgroups('cpuacct', uid).length > 0, `web's container cgroups found on the host`);
  /** The median time of 15 requests to web from the client's sandbox (nsenter and curl included, alike in both). */
  const latency = async () => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) { const t = performance.now(); assert.ok(await answers('web')); times.push(performance.now() - t); }
    return times.sort((a, b) => a - b)[7];
  };
  const calm = await latency();
  const idle = await rate();
  apply(chaosRun(ns, 'cpu', { scenarios: [{ name: 'cpu', duration: '10m', stress: { namespace: ns, labelSelector: 'app=web', cpu: { workers: 2, load: 100 } } }] }));
  await runningHolder(env, ns, 'cpu', 120_000, 'stress');
  await eventually('a stressor in web\'s cgroup', () => containerCgroups('cpuacct', uid).some((d) => readFileSync(`${d}cgroup.procs`, 'utf8').trim().split('\n').length > 1), 30_000, 100)
    .catch((err: unknown) => { throw new Error(`${(err as Error).message}; agent log: ${agentLog().split('\n').filter((l) => /stress|fault/.test(l)).slice(-5).join(' | ')}`); });
  await new Promise((r) => setTimeout(r, 1000));
  // Where the stressors are, as the host's kernel says it (what a failure here needs to be read).
  for (const pid of hostPids('stress-ng')) {
    try { console.log(`stress cpu: stress-ng ${pid} cgroups: ${readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').filter((l) => /cpuacct|memory/.test(l)).join(' ')}`); } catch { /* gone */ }
  }
  console.log(`stress cpu: web's container cgroups: ${containerCgroups('cpuacct', uid).join(' ')}; agent log: ${agentLog().split('\n').filter((l) => /stress|fault/.test(l)).slice(-5).join(' | ')}`);
  const loaded = await rate();
  const slowed = await latency();
  console.log(`stress cpu: web's median request ${calm.toFixed(1)} ms before, ${slowed.toFixed(1)} ms under stress`);
  figures['stress cpu: web median request'] = `${calm.toFixed(1)} -> ${slowed.toFixed(1)} ms`;
  assert.ok(slowed > calm, `web's requests slow under the stress (${calm.toFixed(1)} -> ${slowed.toFixed(1)} ms)`);
  console.log(`stress cpu: web's cgroup used ${idle.toFixed(2)} CPU idle, ${loaded.toFixed(2)} CPU under stress (limit 0.50)`);
  figures['stress cpu: cgroup CPU (limit 0.5)'] = `${idle.toFixed(2)} -> ${loaded.toFixed(2)}`;
  assert.ok(loaded > 0.35 && loaded < 0.55, `the load is charged to web's cgroup and held to its limit (${loaded.toFixed(2)} CPU)`);
  const stopped = Date.now();
  signal('cpu', 'STOP');
  await eventually('no stress-ng after STOP', () => hostPids('stress-ng').length === 0, 5_000, 20);
  const stopMs = Date.now() - stopped;
  figures['stress cpu: stressors gone after STOP'] = `${stopMs} ms`;
  console.log(`stress cpu: stressors gone ${stopMs} ms after STOP`);
  assert.ok(stopMs < 1000, `stressors gone within a second of STOP (${stopMs} ms)`);
  await nothingLeft('the cpu stress');
});

test('stress memory: the container\'s usage rises by the size; past the pod\'s limit the OOM kill lands in it, never in another pod', async () => {
  const uid = getPod(env, ns, 'web').metadata.uid;
  const mem = () => containerCgroups('memory', uid).map((d) => Number(readFileSync(`${d}memory.usage_in_bytes`, 'utf8'))).reduce((a, b) => a + b, 0);
  const before = mem();
  apply(chaosRun(ns, 'mem', { scenarios: [{ name: 'mem', duration: '10m', stress: { namespace: ns, labelSelector: 'app=web', memory: { size: '96Mi' } } }] }));
  await runningHolder(env, ns, 'mem', 120_000, 'stress');
  await eventually('web\'s memory up by the size', () => mem() - before > 90 * 2 ** 20, 30_000, 200);
  console.log(`stress memory: web's container ${(before / 2 ** 20).toFixed(1)} MiB -> ${(mem() / 2 ** 20).toFixed(1)} MiB with 96Mi asked (limit 256Mi)`);
  figures['stress memory 96Mi: container usage'] = `${(before / 2 ** 20).toFixed(1)} -> ${(mem() / 2 ** 20).toFixed(1)} MiB`;
  signal('mem', 'STOP');
  await nothingLeft('the memory stress');

  const oom = (name: string) => containerCgroups('memory', getPod(env, ns, name).metadata.uid)
    .map((d) => Number(/oom_kill (\d+)/.exec(readFileSync(`${d}memory.oom_control`, 'utf8'))?.[1] ?? 0)).reduce((a, b) => a + b, 0);
  const bystanderBefore = restarts('bystander');
  apply(chaosRun(ns, 'oom', { scenarios: [{ name: 'oom', duration: '20s', stress: { namespace: ns, labelSelector: 'app=tight', memory: { size: '96Mi' } } }] }));
  await runningHolder(env, ns, 'oom', 120_000, 'stress');
  await eventually('an OOM kill in tight\'s container (limit 48Mi)', () => oom('tight') > 0, 30_000, 200);
  console.log(`stress memory past the limit: ${oom('tight')} OOM kill(s) in tight's container, ${oom('bystander')} in bystander's`);
  assert.equal(oom('bystander'), 0, 'no OOM kill in another pod');
  assert.equal(restarts('bystander'), bystanderBefore);
  signal('oom', 'STOP');
  await nothingLeft('the OOM stress');
});

test('containerKill: the container restarts (restartCount + 1) in the same pod', async () => {
  const pod = getPod(env, ns, 'client');
  const before = restarts('client');
  apply(chaosRun(ns, 'kill', { scenarios: [{ name: 'kill', containerKill: { namespace: ns, labelSelector: 'app=client', signal: 'KILL' } }] }));
  const run = await runInPhase(env, ns, 'kill', ['Completed', 'Failed']);
  assert.equal(run.status?.phase, 'Completed', JSON.stringify(run.status?.history?.at(-1)));
  const after = getPod(env, ns, 'client');
  assert.equal(after.metadata.uid, pod.metadata.uid, 'the same pod');
  assert.equal(restarts('client'), before + 1, 'restartCount + 1');
  console.log(`containerKill: ${run.status?.history?.at(-1)?.message ?? ''}`);
  await nothingLeft('the container kill');
  console.log(`process-fault figures: ${JSON.stringify(figures)}`);
});
