// nodeCordon and nodeDrain against the real API server, scheduler and Eviction API of the test plane:
// two kwok nodes of this file's own, a Deployment and a DaemonSet on them, PodDisruptionBudgets the
// API server enforces. The step's holder pod is a kwok pod (it runs for its duration and nothing
// more), so the holder's work, picking the nodes and recording them on its pod, is done by the
// holder's own code (holdNodeFault) in this process; the controller (in-process, or a child process
// for the SIGKILL) does the rest. After each test no node of ours is left cordoned or marked (checked
// from the API).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ANNOTATION_CORDON, ANNOTATION_DRAIN, LABEL_CORDON, parseDrainRecord, type NodeFaultKind } from '../../src/api/node-fault.ts';
import { LABEL_FAULT } from '../../src/api/fault-holder.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { holdNodeFault } from '../../src/scenarios/node.ts';
import type { Scenario } from '../../src/api/types.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, quietLog, signal, spawnController, waitForPhase } from '../helpers/operator.ts';
import { stopChild } from '../helpers/node-lab.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/env.ts';

const env = await testEnv('cordon');
const { client, namespace } = env;
const tag = randomBytes(3).toString('hex');
const pool = `cordon-${tag}`;
const [nodeA, nodeB] = [`cordon-a-${tag}`, `cordon-b-${tag}`];
const POOL_LABEL = 'chaosrun-test/pool';

interface NodeObj { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: { unschedulable?: boolean } }
const getNode = (name: string) => client.request<NodeObj>('GET', paths.nodes(name));
const cordoned = async (name: string) => (await getNode(name)).spec?.unschedulable === true;

/** No node of this file's left unschedulable or carrying our marks. */
async function assertNothingLeft(): Promise<void> {
  for (const n of [nodeA, nodeB]) {
    const node = await getNode(n);
    assert.equal(node.spec?.unschedulable ?? false, false, `${n} schedulable`);
    assert.equal(node.metadata.labels?.[LABEL_CORDON], undefined, `${n} has no cordon label`);
    assert.equal(node.metadata.annotations?.[ANNOTATION_CORDON], undefined, `${n} has no cordon record`);
  }
}

for (const name of [nodeA, nodeB]) {
  await client.request('POST', paths.nodes(), { body: {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', [POOL_LABEL]: pool } },
    status: { allocatable: { cpu: '32', memory: '64Gi', pods: '110' }, capacity: { cpu: '32', memory: '64Gi', pods: '110' } },
  } });
}
await eventually('our kwok nodes Ready', async () => {
  for (const n of [nodeA, nodeB]) {
    const node = await client.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', paths.nodes(n));
    if (!node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return false;
  }
  return true;
}, 30_000);
// The ServiceAccount built-in steps run as (the chart makes it where runs live).
await client.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'chaosrun-scenario' } } });
after(async () => {
  for (const n of [nodeA, nodeB]) await client.request('DELETE', paths.nodes(n)).catch(() => {});
});

const onPool = { nodeSelector: { [POOL_LABEL]: pool }, tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }] };
const appLabels = (app: string) => ({ app, [POOL_LABEL]: pool });

async function deployment(name: string, replicas: number): Promise<void> {
  await client.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, { body: {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: appLabels(name) }, spec: { ...onPool, containers: [{ name: 'c', image: 'busybox' }] } } },
  } });
}

interface PodObj { metadata: { name: string; uid: string; deletionTimestamp?: string; labels?: Record<string, string> }; spec: { nodeName?: string }; status?: { phase?: string } }
const podsOf = async (selector: string) => (await client.request<{ items: PodObj[] }>('GET', paths.pods(namespace), { query: { labelSelector: selector } })).items;
const runningOn = async (selector: string) => (await podsOf(selector)).filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp).map((p) => p.spec.nodeName!);

/** The step's holder pod, Running (kwok), and the holder's own code run for it here. */
async function holdFor(run: string, kind: NodeFaultKind, names: string[], durationMs: number): Promise<{ done: Promise<string>; stop: () => void; pod: PodObj }> {
  const pod = await eventually(`the holder of ${run} Running`, async () =>
    (await podsOf(`chaosrun.dev/run=${run},${LABEL_FAULT}`)).find((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp), 30_000);
  let stop = () => {};
  const stopped = new Promise<void>((r) => { stop = r; });
  const done = holdNodeFault(client, { kind, selection: { names }, durationMs, self: { namespace, name: pod.metadata.name, uid: pod.metadata.uid }, pollMs: 500 }, quietLog(), stopped);
  done.catch(() => {});
  return { done, stop, pod };
}

/** Stops every run of this file still going, so a failed test leaves no step holding a cordon into the next. */
async function endRuns(): Promise<void> {
  const runs = await client.request<{ items: Array<{ metadata: { name: string }; status?: { phase?: string } }> }>('GET', paths.chaosRuns(namespace));
  for (const r of runs.items) if (!['Completed', 'Failed', 'Stopped'].includes(r.status?.phase ?? '')) await signal(client, namespace, r.metadata.name, 'STOP').catch(() => {});
}

/** The reasons of the Events on a run, oldest first (what `kubectl describe crun` shows). */
const eventsOf = async (run: string) => (await client.request<{ items: Array<{ reason: string; message: string }> }>('GET', paths.events(namespace), { query: { fieldSelector: `involvedObject.name=${run}` } })).items;

const step = (name: string, body: Partial<Scenario>, duration = '60s'): Scenario => ({ name, duration, ...body } as Scenario);
const ms = (t0: number) => Date.now() - t0;

test('nodeCordon: unschedulable while the step runs and says RUN; PAUSE uncordons at once, RUN cordons again, STOP uncordons', async () => {
  const controller = await inProcessController(env, { operatorNode: 'kwok-node-0' });
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'cordon', { scenarios: [step('cordon', { nodeCordon: { names: [nodeA] } })] });
    holder = await holdFor('cordon', 'nodeCordon', [nodeA], 60_000);
    await eventually(`${nodeA} cordoned`, () => cordoned(nodeA), 15_000, 50);
    const node = await getNode(nodeA);
    assert.equal(node.metadata.labels?.[LABEL_CORDON], holder.pod.metadata.uid, 'labelled with the holder');
    const record = JSON.parse(node.metadata.annotations![ANNOTATION_CORDON]);
    assert.equal(record.run, `${namespace}/cordon`);
    assert.ok(Date.parse(record.deadline) > Date.now() + 50_000, `a deadline about a minute out: ${record.deadline}`);
    assert.equal(await cordoned(nodeB), false, 'only the named node');

    let t0 = Date.now();
    await signal(client, namespace, 'cordon', 'PAUSE');
    await eventually(`${nodeA} uncordoned on PAUSE`, async () => !(await cordoned(nodeA)), 10_000, 20);
    const pauseMs = ms(t0);
    t0 = Date.now();
    await signal(client, namespace, 'cordon', 'RUN');
    await eventually(`${nodeA} cordoned again on RUN`, () => cordoned(nodeA), 10_000, 20);
    const runMs = ms(t0);
    t0 = Date.now();
    await signal(client, namespace, 'cordon', 'STOP');
    await eventually(`${nodeA} uncordoned on STOP`, async () => !(await cordoned(nodeA)), 10_000, 20);
    const stopMs = ms(t0);
    console.log(`nodeCordon: PAUSE -> schedulable ${pauseMs} ms, RUN -> cordoned ${runMs} ms, STOP -> schedulable ${stopMs} ms`);
    assert.ok(pauseMs < 2_000 && runMs < 2_000 && stopMs < 2_000, 'each within 2 s');
    await waitForPhase(client, namespace, 'cordon', ['Stopped'], 20_000);
    const events = await eventually('the cordon Events', async () => {
      const e = await eventsOf('cordon');
      return e.filter((x) => x.reason === 'NodeCordoned').length >= 2 && e.filter((x) => x.reason === 'NodeUncordoned').length >= 2 ? e : undefined;
    }, 10_000);
    assert.ok(events.some((e) => e.reason === 'NodeUncordoned' && e.message.startsWith(`uncordoned node ${nodeA}: its step is not running`)), JSON.stringify(events.map((e) => e.message)));
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await controller.stop();
  }
});

test('nodeDrain: the node\'s Deployment pods are evicted and re-created on the other node, DaemonSet pods stay; schedulable again at the step\'s end', async () => {
  await deployment('web', 3);
  await client.request('POST', `/apis/apps/v1/namespaces/${namespace}/daemonsets`, { body: {
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds' },
    spec: { selector: { matchLabels: { app: 'ds' } }, template: { metadata: { labels: appLabels('ds') }, spec: { ...onPool, containers: [{ name: 'c', image: 'busybox' }] } } },
  } });
  await eventually('3 web pods and 2 DaemonSet pods Running', async () => (await runningOn('app=web')).length === 3 && (await runningOn('app=ds')).length === 2, 60_000, 200);
  // Drain the node holding the most web pods (the scheduler spreads them; one node may hold all three).
  const on = await runningOn('app=web');
  const target = on.filter((n) => n === nodeA).length >= on.filter((n) => n === nodeB).length ? nodeA : nodeB;
  const other = target === nodeA ? nodeB : nodeA;
  const before = on.filter((n) => n === target).length;
  const controller = await inProcessController(env, { operatorNode: 'kwok-node-0' });
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'drain', { scenarios: [step('drain', { nodeDrain: { names: [target], evictionTimeout: '30s' } }, '12s')] });
    holder = await holdFor('drain', 'nodeDrain', [target], 12_000);
    await eventually(`${target} cordoned`, () => cordoned(target), 15_000, 50);
    const moved = await eventually(`every web pod Running on ${other}`, async () => {
      const now = await runningOn('app=web');
      return now.length === 3 && now.every((n) => n === other) ? now : undefined;
    }, 30_000, 200);
    assert.equal(moved.length, 3);
    assert.deepEqual((await runningOn('app=ds')).sort(), [nodeA, nodeB].sort(), 'the DaemonSet pod stays on the drained node');
    const drain = parseDrainRecord((await getNode(target)).metadata.annotations?.[ANNOTATION_DRAIN]);
    assert.equal(drain?.evicted.length, before, `the record names the ${before} evicted pod(s): ${JSON.stringify(drain)}`);
    const summary = await holder.done;
    assert.match(summary, new RegExp(`^nodeDrain: cordoned ${target} for 12s; evicted ${before} pod\\(s\\): `), summary);
    await eventually(`${target} schedulable after the step's end`, async () => !(await cordoned(target)), 20_000, 100);
    await waitForPhase(client, namespace, 'drain', ['Completed'], 30_000);
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await controller.stop();
  }
});

test('nodeDrain: a PodDisruptionBudget blocks the eviction; retried until evictionTimeout, then the holder fails with the blocked pod; deleting the run uncordons', async () => {
  await deployment('guarded', 1);
  await client.request('POST', `/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets`, { body: {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'guarded' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
  } });
  const [where] = await eventually('the guarded pod Running', async () => { const n = await runningOn('app=guarded'); return n.length === 1 ? n : undefined; }, 30_000, 200);
  const guarded = (await podsOf('app=guarded')).find((p) => p.status?.phase === 'Running')!;
  const controller = await inProcessController(env, { operatorNode: 'kwok-node-0' });
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'pdb', { scenarios: [step('pdb', { nodeDrain: { names: [where], evictionTimeout: '4s' } })] });
    holder = await holdFor('pdb', 'nodeDrain', [where], 60_000);
    await eventually(`${where} cordoned`, () => cordoned(where), 15_000, 50);
    const t0 = Date.now();
    await assert.rejects(holder.done, (err: Error) => {
      assert.match(err.message, new RegExp(`^nodeDrain: node ${where}: 1 pod\\(s\\) not evicted within the eviction timeout: ${namespace}/${guarded.metadata.name} \\(Cannot evict pod as it would violate the pod's disruption budget\\.\\)$`), err.message);
      return true;
    });
    console.log(`nodeDrain with a PDB: the holder failed ${ms(t0)} ms after the cordon (evictionTimeout 4s)`);
    const blocked = await eventually('a DrainBlocked Warning', async () => (await eventsOf('pdb')).find((e) => e.reason === 'DrainBlocked'), 10_000);
    assert.match(blocked.message, new RegExp(`^drain of node ${where} gave up after 4s: ${namespace}/${guarded.metadata.name} \\(Cannot evict pod as it would violate the pod's disruption budget\\.\\)$`), blocked.message);
    const still = (await podsOf('app=guarded')).filter((p) => !p.metadata.deletionTimestamp);
    assert.deepEqual(still.map((p) => p.metadata.uid), [guarded.metadata.uid], 'the budget kept the pod where it was');
    assert.equal(await cordoned(where), true, 'the cordon holds while the holder runs');
    const t1 = Date.now();
    await client.request('DELETE', paths.chaosRuns(namespace, 'pdb'));
    await eventually(`${where} uncordoned after the run was deleted`, async () => !(await cordoned(where)), 15_000, 50);
    console.log(`run deleted -> schedulable ${ms(t1)} ms`);
    await eventually('the run gone', async () => client.request('GET', paths.chaosRuns(namespace, 'pdb')).then(() => false, () => true), 20_000);
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await controller.stop();
  }
});

test('a node already unschedulable is left as it was, and never uncordoned; the operator\'s node is never picked', async () => {
  env.kubectl(['cordon', nodeB]);
  const controller = await inProcessController(env, { operatorNode: nodeA });
  try {
    await createRun(client, namespace, 'left', { scenarios: [step('left', { nodeCordon: { names: [nodeA, nodeB] } }, '5s')] });
    const pod = await eventually('the holder Running', async () => (await podsOf(`chaosrun.dev/run=left,${LABEL_FAULT}`)).find((p) => p.status?.phase === 'Running'), 30_000);
    await assert.rejects(holdNodeFault(client, { kind: 'nodeCordon', selection: { names: [nodeA, nodeB], operatorNode: nodeA }, durationMs: 5_000, self: { namespace, name: pod.metadata.name, uid: pod.metadata.uid } }, quietLog(), new Promise(() => {})),
      new RegExp(`^Error: no schedulable node matched \\(names ${nodeA},${nodeB}\\); left alone: ${nodeA} \\(the operator's controller runs on it \\(allowOperatorNode is not set\\)\\), ${nodeB} \\(already unschedulable: left as it was\\)$`));
    // Even a holder that names them (recorded by hand, as a confused or old holder might): the controller leaves both alone.
    await client.request('PATCH', paths.pods(namespace, pod.metadata.name), { contentType: MERGE_PATCH, body: { metadata: { annotations: {
      'chaosrun.dev/node-targets': JSON.stringify({ nodes: [nodeA, nodeB], deadline: new Date(Date.now() + 60_000).toISOString() }),
    } } } });
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(await cordoned(nodeA), false, 'the operator\'s node is not cordoned');
    const b = await getNode(nodeB);
    assert.equal(b.spec?.unschedulable, true, 'the hand-cordoned node stays cordoned');
    assert.equal(b.metadata.labels?.[LABEL_CORDON], undefined, 'and is not marked as ours');
    await signal(client, namespace, 'left', 'STOP');
    await waitForPhase(client, namespace, 'left', ['Stopped'], 20_000);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await cordoned(nodeB), true, 'still cordoned after the step: it was never ours');
  } finally {
    env.kubectl(['uncordon', nodeB]);
    await controller.stop();
  }
  await assertNothingLeft();
});

test('the controller SIGKILLed mid-cordon: the cordon stays while no controller lives, and a new controller process uncordons it at once', async () => {
  const first = spawnController(env, ['--node-name', 'kwok-node-0']);
  let second: ReturnType<typeof spawnController> | undefined;
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'crash', { scenarios: [step('crash', { nodeCordon: { names: [nodeA] } })] });
    holder = await holdFor('crash', 'nodeCordon', [nodeA], 60_000);
    await eventually(`${nodeA} cordoned`, () => cordoned(nodeA), 20_000, 50);
    await stopChild(first, 'SIGKILL');
    // While no controller lives, the step ends (a STOP: nothing of ours acts on it); the cordon is API state and stays.
    await signal(client, namespace, 'crash', 'STOP');
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(await cordoned(nodeA), true, 'no process of ours is alive to uncordon: the cordon stays');
    const t0 = Date.now();
    second = spawnController(env, ['--node-name', 'kwok-node-0']);
    await eventually(`${nodeA} uncordoned by the new controller`, async () => !(await cordoned(nodeA)), 30_000, 20);
    const boundMs = ms(t0);
    console.log(`controller SIGKILLed: the new process uncordoned ${boundMs} ms after it was started`);
    assert.ok(boundMs < 10_000, `within 10 s of the new process starting (${boundMs} ms)`);
    await waitForPhase(client, namespace, 'crash', ['Stopped'], 20_000);
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await stopChild(first, 'SIGKILL');
    await stopChild(second, 'SIGTERM');
  }
});

test('a controller of other namespaces leaves a cordon of this namespace\'s run alone, even unwanted; past its recorded deadline it undoes it, and the Event lands on the run it does not cache', async () => {
  // Marked nodes are watched cluster-wide, so every controller sees every cordon; one scoped to other
  // namespaces answers only for its own runs, and ends another's cordon only at the deadline it records.
  const first = spawnController(env, ['--node-name', 'kwok-node-0']);
  let elsewhere: Awaited<ReturnType<typeof inProcessController>> | undefined;
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'foreign', { scenarios: [step('foreign', { nodeCordon: { names: [nodeA] } }, '12s')] });
    holder = await holdFor('foreign', 'nodeCordon', [nodeA], 12_000);
    await eventually(`${nodeA} cordoned`, () => cordoned(nodeA), 20_000, 50);
    const deadline = Date.parse(JSON.parse((await getNode(nodeA)).metadata.annotations![ANNOTATION_CORDON]).deadline);
    await stopChild(first, 'SIGKILL');
    elsewhere = await inProcessController(env, { namespaces: [`${namespace}-elsewhere`], operatorNode: 'kwok-node-0' });
    await signal(client, namespace, 'foreign', 'PAUSE');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(Date.now() < deadline - 1_000, 'the check ran before the deadline');
    assert.equal(await cordoned(nodeA), true, 'not its run: left to its own operator, even though the run says PAUSE');
    await eventually(`${nodeA} uncordoned at its deadline`, async () => !(await cordoned(nodeA)), 20_000, 50);
    console.log(`a controller of other namespaces: uncordoned ${Date.now() - deadline} ms after the recorded deadline`);
    const events = await eventually('the NodeUncordoned Event on the run', async () => {
      const e = (await eventsOf('foreign')).filter((x) => x.reason === 'NodeUncordoned');
      return e.length ? e : undefined;
    }, 10_000);
    assert.ok(events[0].message.startsWith(`uncordoned node ${nodeA}: its deadline passed`), events[0].message);
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await stopChild(first, 'SIGKILL');
    await elsewhere?.stop();
  }
});

test('the controller SIGKILLed mid-cordon and restarted while the step still runs: the new process keeps the cordon, and the step\'s end uncordons', async () => {
  const first = spawnController(env, ['--node-name', 'kwok-node-0']);
  let second: ReturnType<typeof spawnController> | undefined;
  let holder: Awaited<ReturnType<typeof holdFor>> | undefined;
  try {
    await createRun(client, namespace, 'keep', { scenarios: [step('keep', { nodeCordon: { names: [nodeA] } }, '15s')] });
    holder = await holdFor('keep', 'nodeCordon', [nodeA], 15_000);
    await eventually(`${nodeA} cordoned`, () => cordoned(nodeA), 20_000, 50);
    const since = JSON.parse((await getNode(nodeA)).metadata.annotations![ANNOTATION_CORDON]).since;
    await stopChild(first, 'SIGKILL');
    second = spawnController(env, ['--node-name', 'kwok-node-0']);
    await new Promise((r) => setTimeout(r, 3_000));
    const node = await getNode(nodeA);
    assert.equal(node.spec?.unschedulable, true, 'still wanted: kept');
    assert.equal(JSON.parse(node.metadata.annotations![ANNOTATION_CORDON]).since, since, 'the same cordon: not undone and redone');
    await holder.done;
    await eventually(`${nodeA} schedulable after the step's end`, async () => !(await cordoned(nodeA)), 20_000, 100);
    const run = await waitForPhase(client, namespace, 'keep', ['Completed'], 30_000);
    assert.equal(run.status?.history?.[0]?.result, 'Succeeded');
    await assertNothingLeft();
  } finally {
    holder?.stop();
    await endRuns();
    await stopChild(first, 'SIGKILL');
    await stopChild(second, 'SIGTERM');
  }
});

test('dry run: names the nodes, and for a drain the pods it would evict', async () => {
  const controller = await inProcessController(env, { operatorNode: 'kwok-node-0', render: { operatorImage: 'x:1', scenarioServiceAccount: 'chaosrun-scenario', operatorNode: 'kwok-node-0' } });
  try {
    await createRun(client, namespace, 'dry', { dryRun: true, scenarios: [step('dry', { nodeDrain: { labelSelector: `${POOL_LABEL}=${pool}`, count: 2, evictionTimeout: '30s' } }, '30s')] });
    const run = await waitForPhase(client, namespace, 'dry', ['Completed', 'Failed'], 30_000);
    const message = run.status?.history?.[0]?.message ?? '';
    assert.match(message, new RegExp(`^dry run: nodeDrain would cordon 2 of the 2 schedulable node\\(s\\) that match now for 30s, e\\.g\\. ${[nodeA, nodeB].sort().join(', ')}; from `), message);
    assert.match(message, /web-[a-z0-9-]+/, 'names the Deployment pods it would evict');
    assert.match(message, /ds-[a-z0-9]+ \(DaemonSet\)/, 'and the DaemonSet pods it keeps');
    await assertNothingLeft();
  } finally {
    await controller.stop();
  }
  void getRun;
});

test('the CRD refuses a node step without a duration, without a selector, with count and percent, and two bodies; each with its one line', () => {
  const apply = (scenario: object) => env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], JSON.stringify({
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name: 'bad' }, spec: { scenarios: [{ name: 'x', ...scenario }] },
  }));
  assert.throws(() => apply({ nodeCordon: { names: ['a'] } }), /a nodeCordon scenario needs a duration \(how long the nodes stay cordoned\)/);
  assert.throws(() => apply({ nodeDrain: { names: ['a'] } }), /a nodeDrain scenario needs a duration/);
  assert.throws(() => apply({ duration: '10s', nodeCordon: {} }), /nodeCordon needs labelSelector, names or both/);
  assert.throws(() => apply({ duration: '10s', nodeDrain: { labelSelector: 'x', count: 1, percent: 5 } }), /nodeDrain takes count or percent, not both/);
  assert.throws(() => apply({ duration: '10s', nodeDrain: { names: ['a'], evictionTimeout: 'soon' } }), /evictionTimeout/);
  assert.throws(() => apply({ duration: '10s', nodeCordon: { names: ['a'] }, nodeDrain: { names: ['a'] } }), /each scenario needs exactly one body/);
  assert.match(apply({ duration: '10s', nodeDrain: { labelSelector: 'pool=web', percent: 50 } }), /created \(server dry run\)/);
});

test('the holder as a process (`chaosrun scenario node`): records its nodes, says what it did, exits 0; the recorded deadline uncordons even while its pod still looks Running', async () => {
  const controller = await inProcessController(env, { operatorNode: 'kwok-node-0' });
  try {
    // The kwok pod stays Running for 30 s; the holder process holds for 3 s: its deadline is what ends the cordon.
    await createRun(client, namespace, 'proc', { scenarios: [step('proc', { nodeCordon: { names: [nodeA] } }, '30s')] });
    const pod = await eventually('the holder Running', async () => (await podsOf(`chaosrun.dev/run=proc,${LABEL_FAULT}`)).find((p) => p.status?.phase === 'Running'), 30_000);
    const child = spawn(process.execPath, [join(repoRoot, 'src/cli.ts'), 'scenario', 'node', '--kind=nodeCordon', `--names=${nodeA}`, '--operator-node=kwok-node-0', '--duration=3s'], {
      env: { ...process.env, KUBECONFIG: env.kubeconfig, POD_NAME: pod.metadata.name, POD_NAMESPACE: namespace, POD_UID: pod.metadata.uid, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await eventually(`${nodeA} cordoned`, () => cordoned(nodeA), 15_000, 50);
    assert.equal(await exited, 0, out);
    assert.match(out, new RegExp(`nodeCordon: cordoned ${nodeA} for 3s`), out);
    const t0 = Date.now();
    await eventually(`${nodeA} uncordoned at the recorded deadline`, async () => !(await cordoned(nodeA)), 10_000, 50);
    console.log(`holder process: uncordoned ${ms(t0)} ms after the process exited (its deadline), its pod still Running`);
    assert.equal((await podsOf(`chaosrun.dev/run=proc,${LABEL_FAULT}`)).find((p) => p.metadata.uid === pod.metadata.uid)?.status?.phase, 'Running', 'the pod still looks Running');
    await assertNothingLeft();
  } finally {
    await endRuns();
    await controller.stop();
  }
});
