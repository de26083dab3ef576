// nodeCordon on the real node with the operator installed by helm from its image: the holder is a real
// `chaosrun scenario node` process, the cordon the controller's. Every controller and node agent
// process of the release is SIGKILLed mid-cordon (the Deployment and the DaemonSet are left as they
// are, so the kubelet starts them again, as in a crash) and the step is stopped while they are down:
// the cordon must be gone within the bound docs/faults.md gives (the controller's restart plus its
// first pass). The operator's own node is refused. After each: no cordon left (checked from the API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, e2eEnv, eventually, getRun, hostPids, installOperator, runInPhase } from './e2e.ts';
import { LABEL_CORDON } from '../../src/api/node-fault.ts';

const env = await e2eEnv('e2e-cordon');
const release = installOperator(env);
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const realNode = env.state.realNode!.name;
// A node the operator does not run on: the plane's kwok node (a cordon is API state; any node takes it).
const target = 'kwok-node-0';

interface NodeObj { metadata: { labels?: Record<string, string> }; spec?: { unschedulable?: boolean } }
const node = (name: string) => JSON.parse(env.kubectl(['get', 'node', name, '-o', 'json'])) as NodeObj;
const cordoned = (name: string) => node(name).spec?.unschedulable === true;

function assertNothingLeft(): void {
  for (const n of [target, realNode]) {
    const got = node(n);
    assert.equal(got.spec?.unschedulable ?? false, false, `${n} schedulable`);
    assert.equal(got.metadata.labels?.[LABEL_CORDON], undefined, `${n} carries no cordon label`);
  }
  assert.equal(env.kubectl(['get', 'nodes', '-l', LABEL_CORDON, '-o', 'name']).trim(), '', 'no node marked');
}

test('the operator\'s own node is never picked: the step fails with one line naming it', async () => {
  const ns = await env.createNamespace('e2e-cordon-op');
  apply(chaosRun(ns, 'own', { scenarios: [{ name: 'own', duration: '20s', nodeCordon: { names: [realNode] } }] }));
  const run = await runInPhase(env, ns, 'own', ['Failed', 'Completed'], 120_000);
  const message = run.status?.history?.[0]?.message ?? '';
  assert.match(message, new RegExp(`no schedulable node matched \\(names ${realNode}\\); left alone: ${realNode} \\(the operator's controller runs on it`), message);
  assertNothingLeft();
});

test('every controller and agent process SIGKILLed mid-cordon, the step stopped while they are down: the restarted controller uncordons', async () => {
  const ns = await env.createNamespace('e2e-cordon');
  apply(chaosRun(ns, 'cordon', { scenarios: [{ name: 'cordon', duration: '120s', nodeCordon: { names: [target] } }] }));
  await eventually(`${target} cordoned by the step`, () => cordoned(target), 120_000, 250);
  assert.ok(node(target).metadata.labels?.[LABEL_CORDON], 'marked with its holder');
  const controllers = hostPids('/nodejs/bin/node dist/cli.js controller');
  const agents = hostPids('dist/cli.js agent');
  assert.ok(controllers.length > 0 && agents.length > 0, `processes to kill: controllers ${controllers}, agents ${agents}`);
  const killedAt = Date.now();
  for (const pid of [...controllers, ...agents]) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ } }
  // The step ends while nothing of ours is alive to act on it: STOP is API state too.
  env.kubectl(['patch', 'crun', 'cordon', '-n', ns, '--type', 'merge', '-p', '{"spec":{"signalState":"STOP"}}']);
  assert.equal(cordoned(target), true, 'right after the kill, the cordon is still there: no process of ours undid it');
  await eventually(`${target} uncordoned by a restarted controller`, () => !cordoned(target), 120_000, 100);
  const boundMs = Date.now() - killedAt;
  const restarted = hostPids('/nodejs/bin/node dist/cli.js controller').filter((p) => !controllers.includes(p));
  console.log(`# SIGKILLed ${controllers.length} controller and ${agents.length} agent process(es): ${target} schedulable ${boundMs} ms after the kill (restarted controllers: ${restarted.length})`);
  assert.ok(restarted.length > 0, 'a new controller process did it');
  assert.ok(boundMs < 60_000, `within a minute of the kill (${boundMs} ms)`);
  const run = await runInPhase(env, ns, 'cordon', ['Stopped'], 60_000);
  assert.equal(run.status?.phase, 'Stopped');
  assertNothingLeft();
  void getRun;
  void release;
});
