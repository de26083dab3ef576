// krkn's GET / over many runs, as a pure function of the runs in scope; the broadcast on a fake API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChaosRun, Phase, Signal } from '../api/types.ts';
import { pino } from 'pino';
import { parseKillSwitch } from '../api/kill-switch.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { killSwitchNote } from './kill-switch.ts';
import { broadcastSignal, stateText, type SignalDeps } from './runs.ts';

const run = (name: string, signalState: Signal, phase?: Phase) =>
  ({ metadata: { name, namespace: 'ns' }, spec: { signalState }, status: phase ? { phase } : undefined }) as ChaosRun;

test('GET / answers from the unfinished runs while there are any', () => {
  assert.equal(stateText([run('live', 'PAUSE', 'Paused'), run('old', 'STOP', 'Stopped')]), 'PAUSE');
  assert.equal(stateText([run('live', 'RUN', 'Running'), run('done', 'RUN', 'Completed'), run('old', 'STOP', 'Stopped')]), 'RUN');
  // A run not yet seen by the controller (no phase) is unfinished.
  assert.equal(stateText([run('new', 'RUN'), run('old', 'STOP', 'Stopped')]), 'RUN');
  assert.equal(stateText([run('a', 'PAUSE', 'Paused'), run('b', 'RUN', 'Running'), run('old', 'STOP', 'Stopped')]), 'ns/a PAUSE\nns/b RUN\n');
});

test('GET / answers from all runs once every run has finished, marking each with its phase in a listing', () => {
  assert.equal(stateText([run('a', 'STOP', 'Stopped'), run('b', 'STOP', 'Stopped')]), 'STOP');
  assert.equal(stateText([run('a', 'RUN', 'Completed'), run('b', 'STOP', 'Stopped')]), 'ns/a RUN (Completed)\nns/b STOP (Stopped)\n');
});

test('GET / with no runs says so in one line', () => {
  assert.equal(stateText([]), 'no ChaosRuns in scope\n');
});

// The broadcast on a fake API: the kill-switch record goes first, and never keeps the runs from stopping.
interface Call { method: string; path: string; body?: unknown }
function fakeApi(options: { recordFails?: KubeError; recordMissing?: boolean } = {}) {
  const calls: Call[] = [];
  let rv = 100;
  const missing = options.recordMissing ?? false;
  const client = {
    async request(method: string, path: string, o: { body?: unknown } = {}) {
      calls.push({ method, path, body: o.body });
      if (path.includes('/configmaps')) {
        if (options.recordFails) throw options.recordFails;
        if (missing) throw new KubeError(404, 'NotFound', 'configmaps "chaosrun-kill-switch" not found');
        return { metadata: { resourceVersion: String(++rv) } };
      }
      if (path.includes('/events')) return {};
      const [, namespace, name] = /namespaces\/([^/]+)\/chaosruns\/([^/]+)$/.exec(path)!;
      return { metadata: { name, namespace, uid: `uid-${name}`, resourceVersion: String(++rv) }, spec: { signalState: 'STOP' } };
    },
  };
  const deps: SignalDeps = { client: client as unknown as KubeClient, log: pino({ level: 'silent' }), cacheWaitMs: 0, via: 'test', killSwitch: { namespace: 'ops', scope: 'all namespaces' } };
  return { calls, deps };
}
const live = (name: string, namespace = 'ns', signalState: Signal = 'RUN') =>
  ({ metadata: { name, namespace }, spec: { signalState }, status: { phase: 'Running' } }) as ChaosRun;
const user = { name: 'alice' };
const yes = async () => true;

test('a broadcast STOP writes the kill-switch record naming every target before it patches any run', async () => {
  const { calls, deps } = fakeApi();
  const runs = [live('a'), live('b', 'other'), live('c', 'ns', 'STOP'), { ...live('done'), status: { phase: 'Stopped' } } as ChaosRun];
  const r = await broadcastSignal(deps, runs, 'STOP', null, user, yes);
  assert.equal(r.summary, 'STOP: 2 runs changed, 1 already STOP\n');
  assert.equal(r.killSwitch?.written, true);
  assert.equal(killSwitchNote(r.killSwitch), '');
  const writes = calls.filter((c) => c.method !== 'POST' || !c.path.includes('/events'));
  assert.equal(writes[0].method, 'PATCH');
  assert.equal(writes[0].path, '/api/v1/namespaces/ops/configmaps/chaosrun-kill-switch');
  const record = parseKillSwitch((writes[0].body as { data: Record<string, string> }).data)!;
  assert.deepEqual([...record.runs].sort(), ['ns/a', 'ns/c', 'other/b'], 'the targets, finished runs left out');
  assert.equal((writes[0].body as { data: Record<string, string> }).data.by, 'alice via test');
  assert.ok(Math.abs(record.stoppedAt - Date.now()) < 5000);
  assert.deepEqual(writes.slice(1).map((c) => c.path).sort(), ['/apis/chaosrun.dev/v1alpha1/namespaces/ns/chaosruns/a', '/apis/chaosrun.dev/v1alpha1/namespaces/ns/chaosruns/c', '/apis/chaosrun.dev/v1alpha1/namespaces/other/chaosruns/b']);
});

test('a record that cannot be written is told, and the runs are stopped all the same', async () => {
  const { calls, deps } = fakeApi({ recordFails: new KubeError(403, 'Forbidden', 'configmaps "chaosrun-kill-switch" is forbidden: User "bob" cannot patch resource "configmaps"') });
  const r = await broadcastSignal(deps, [live('a'), live('b')], 'STOP', null, user, yes);
  assert.equal(r.summary, 'STOP: 2 runs changed\n');
  assert.equal(r.killSwitch?.written, false);
  assert.equal(killSwitchNote(r.killSwitch), 'kill-switch record ops/chaosrun-kill-switch not written (configmaps "chaosrun-kill-switch" is forbidden: User "bob" cannot patch resource "configmaps"); ' +
    'the runs were stopped all the same, and the node agents end each run\'s lasting faults as its STOP reaches them');
  assert.equal(calls.filter((c) => c.method === 'PATCH' && c.path.includes('/chaosruns/')).length, 2);
});

test('a missing record is not created (the chart makes it; Helm could not adopt one a writer made); no record for a denied broadcast, for RUN or PAUSE, with no unfinished run, or with nowhere to write it', async () => {
  const missing = fakeApi({ recordMissing: true });
  const r = await broadcastSignal(missing.deps, [live('a')], 'STOP', null, user, yes);
  assert.equal(r.summary, 'STOP: 1 run changed\n');
  assert.match(killSwitchNote(r.killSwitch), /^kill-switch record ops\/chaosrun-kill-switch not written \(there is no ConfigMap chaosrun-kill-switch in namespace ops \(the chart creates it at install\)\); the runs were stopped all the same/);
  assert.deepEqual(missing.calls.filter((c) => c.path.includes('/configmaps')).map((c) => c.method), ['PATCH']);
  const nowhere = fakeApi();
  delete nowhere.deps.killSwitch;
  assert.equal((await broadcastSignal(nowhere.deps, [live('a')], 'STOP', null, user, yes)).killSwitch, undefined);
  assert.ok(!nowhere.calls.some((c) => c.path.includes('/configmaps')));

  for (const [signal, runs, mayPatch] of [['STOP', [live('a')], async () => false], ['PAUSE', [live('a')], yes], ['RUN', [live('a')], yes], ['STOP', [], yes]] as const) {
    const { calls, deps } = fakeApi();
    const out = await broadcastSignal(deps, [...runs], signal, null, user, mayPatch);
    assert.equal(out.killSwitch, undefined, signal);
    assert.ok(!calls.some((c) => c.path.includes('/configmaps')), `${signal}: no record written`);
  }
});
