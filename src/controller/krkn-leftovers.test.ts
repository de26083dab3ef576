// The krkn leftover rules: a hog step's helper namespace lives exactly as long as its step runs, and goes
// whenever the step is not running (STOP, timeout, dead-man switch, failure, success, a run deleted or
// finished), pass after pass until it is gone; nothing but the run's own helper namespaces is ever named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type Action, type Decision, type ObservedJob } from './decide.ts';
import { jobName } from './job-name.ts';
import { leftoverActions, HELPER_RECHECK_MS, orphanedHelperNamespaces } from './krkn-leftovers.ts';
import { HelperSweep } from './krkn-sweep.ts';
import type { ChaosRun, ChaosRunStatus, Scenario } from '../api/types.ts';
import { LABEL_ITERATION, LABEL_STEP_INDEX } from '../api/constants.ts';
import {
  helperNamespaceName, helperNamespaceObject, helperNamespaceOf, LABEL_KRKN_HELPERS, LABEL_RUN_NAMESPACE, LABEL_RUN_UID,
  observeHelperNamespace, type ObservedHelperNamespace,
} from '../scenarios/krkn-helpers.ts';
import { mkRun, RUN_UID } from '../../test/helpers/run-fixture.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOG: Scenario = { name: 'hog', timeout: '5m', krknHub: { scenario: 'node-cpu-hog', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub' } };
const PODS: Scenario = { name: 'pods', krknHub: { scenario: 'pod-scenarios', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', env: { NAMESPACE: '^a$' } } };
const hogRun = (extra: Partial<ChaosRun['spec']> = {}) => mkRun({ scenarios: [HOG, { name: 'b', job: { image: 'x' } }], ...extra });

const job = (it: number, idx: number, state: ObservedJob['state'], extra: Partial<ObservedJob> = {}): ObservedJob => ({
  name: jobName('r', RUN_UID, it, idx), iteration: it, stepIndex: idx, state, deleting: false,
  ...(state !== 'Active' ? { finishTime: new Date(T0 + 1000).toISOString() } : {}), ...extra,
});
const ns = (it: number, idx: number, terminating = false): ObservedHelperNamespace =>
  ({ name: helperNamespaceName(RUN_UID, it, idx), iteration: it, stepIndex: idx, terminating });
const statusOf = (d: Decision): ChaosRunStatus | undefined => (d.actions.find((a) => a.kind === 'writeStatus') as { status: ChaosRunStatus } | undefined)?.status;
const removed = (d: Decision) => d.actions.filter((a): a is Extract<Action, { kind: 'deleteHelperNamespace' }> => a.kind === 'deleteHelperNamespace').map((a) => a.name);
function after(run: ChaosRun, d: Decision): ChaosRun {
  const s = statusOf(d);
  return s ? { ...run, status: JSON.parse(JSON.stringify(s)) as ChaosRunStatus } : run;
}
/** The run with its hog step started (status recorded, as the API server stores it). */
const running = (extra: Partial<ChaosRun['spec']> = {}) => after(hogRun(extra), decide(hogRun(extra), [], T0, { keepFinishedJobs: 5, helperNamespaces: [] }));

test('a hog step has a helper namespace of its own, named from the run uid, iteration and step; other steps have none', () => {
  const run = hogRun();
  assert.equal(helperNamespaceOf(run, 1, 0), 'chaosrun-krkn-abcdef123456-1-0');
  assert.equal(helperNamespaceOf(run, 1, 1), undefined, 'a job step');
  assert.equal(helperNamespaceOf(mkRun({ scenarios: [PODS] }), 1, 0), undefined, 'pod-scenarios leaves nothing behind');
  const long = helperNamespaceName('0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', 999999, 99);
  assert.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
});

test('only a namespace that is exactly this run\'s helper namespace is observed as one', () => {
  const run = hogRun();
  const mine = helperNamespaceObject(run, 1, 0);
  assert.deepEqual(observeHelperNamespace(mine, run), ns(1, 0));
  const variant = (labels: Record<string, string | undefined>, name = mine.metadata.name) =>
    observeHelperNamespace({ metadata: { name, labels: Object.fromEntries(Object.entries({ ...mine.metadata.labels, ...labels }).filter(([, v]) => v !== undefined)) as Record<string, string> } }, run);
  assert.equal(variant({ [LABEL_KRKN_HELPERS]: undefined }), undefined, 'no marker');
  assert.equal(variant({ [LABEL_RUN_UID]: 'another-uid' }), undefined, 'another run');
  assert.equal(variant({ [LABEL_RUN_NAMESPACE]: 'elsewhere' }), undefined, 'a run of that name elsewhere');
  assert.equal(variant({}, 'default'), undefined, 'the labels copied onto a namespace of another name');
  assert.equal(variant({ [LABEL_STEP_INDEX]: '1' }), undefined, 'a name that is not the one its labels derive');
  assert.equal(variant({ [LABEL_ITERATION]: 'x' }), undefined);
  assert.equal(observeHelperNamespace({ metadata: { name: 'kube-system' } }, run), undefined);
});

test('the running hog step keeps its helper namespace; nothing else is touched and no write is made', () => {
  const run = running();
  const d = decide(run, [job(1, 0, 'Active')], T0 + 1000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] });
  assert.deepEqual(d.actions, []);
});

test('STOP mid-hog: the Job goes first, then the step\'s helper namespace, after the status write', () => {
  const run = running();
  const stop = { ...run, spec: { ...run.spec, signalState: 'STOP' as const } };
  const d = decide(stop, [job(1, 0, 'Active')], T0 + 1000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] });
  const kinds = d.actions.map((a) => a.kind);
  assert.deepEqual(kinds.slice(0, 2), ['deleteJob', 'writeStatus']);
  assert.deepEqual(removed(d), [ns(1, 0).name]);
  assert.ok(kinds.indexOf('deleteHelperNamespace') > kinds.indexOf('writeStatus'));
  assert.equal(d.requeueAfterMs, HELPER_RECHECK_MS, 'looks again until it is gone');
  // The next passes (run Stopped) go on removing it while it is there, terminating or not, and stop when it is gone.
  const stopped = after(stop, d);
  assert.deepEqual(removed(decide(stopped, [job(1, 0, 'Active', { deleting: true })], T0 + 2000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0, true)] })), [ns(1, 0).name]);
  const gone = decide(stopped, [], T0 + 3000, { keepFinishedJobs: 5, helperNamespaces: [] });
  assert.deepEqual(removed(gone), []);
  assert.equal(gone.requeueAfterMs, undefined);
});

test('however the hog step ends, its helper namespace goes in the pass that records the end', () => {
  const run = running();
  const opts = { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] };
  const ends: Array<[string, ObservedJob[], number, Partial<ChaosRun['spec']>?]> = [
    ['success', [job(1, 0, 'Succeeded')], T0 + 2000],
    ['failure', [job(1, 0, 'Failed', { message: 'krkn: scenario failed' })], T0 + 2000],
    ['the operator\'s timeout', [job(1, 0, 'Active')], T0 + 6 * 60_000],
    ['the dead-man switch', [job(1, 0, 'Failed', { failureReason: 'DeadlineExceeded', activeDeadlineSeconds: 120 })], T0 + 200_000],
    ['its Job deleted by someone', [job(1, 0, 'Active', { deleting: true })], T0 + 2000],
  ];
  for (const [how, jobs, now] of ends) {
    const d = decide(run, jobs, now, opts);
    assert.ok(statusOf(d)?.history?.[0].result !== 'Running', `${how}: the step is recorded as ended`);
    assert.deepEqual(removed(d), [ns(1, 0).name], how);
  }
});

test('PAUSE lets a running hog step finish: its helper namespace stays while it runs', () => {
  const run = running();
  const paused = { ...run, spec: { ...run.spec, signalState: 'PAUSE' as const } };
  const d = decide(paused, [job(1, 0, 'Active')], T0 + 1000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] });
  assert.deepEqual(removed(d), []);
  assert.equal(statusOf(d)?.phase, 'Paused');
});

test('a STOP before the hog step\'s Job existed (a crash after recording it) removes the namespace it may have got', () => {
  const run = running();
  const d = decide({ ...run, spec: { ...run.spec, signalState: 'STOP' } }, [], T0 + 1000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] });
  assert.deepEqual(removed(d), [ns(1, 0).name]);
});

test('a stale helper namespace of an earlier iteration goes while the next one runs, and the running one stays', () => {
  const run = running({ iterations: 2 });
  const later = { ...run, status: { ...run.status!, iteration: 2, activeJob: jobName('r', RUN_UID, 2, 0), history: [...run.status!.history!, { iteration: 2, stepIndex: 0, step: 'hog', job: jobName('r', RUN_UID, 2, 0), result: 'Running' as const, startTime: new Date(T0).toISOString() }] } };
  const d = decide(later, [job(2, 0, 'Active')], T0 + 1000, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0), ns(2, 0)] });
  assert.deepEqual(removed(d), [ns(1, 0).name]);
});

test('a deleted run keeps its finalizer until its helper namespaces are gone, and while they cannot be read', () => {
  const r = mkRun({ scenarios: [HOG] }, undefined, { deletionTimestamp: new Date(T0).toISOString() });
  const kinds = (d: Decision) => d.actions.map((a) => a.kind);
  assert.deepEqual(kinds(decide(r, [], T0, { keepFinishedJobs: 5, helperNamespaces: [ns(1, 0)] })), ['deleteHelperNamespace']);
  const unread = decide(r, [], T0, { keepFinishedJobs: 5 });
  assert.deepEqual(kinds(unread), [], 'not read: not released');
  assert.equal(unread.requeueAfterMs, HELPER_RECHECK_MS);
  assert.deepEqual(kinds(decide(r, [], T0, { keepFinishedJobs: 5, helperNamespaces: [] })), ['removeFinalizer']);
  // A run without hog steps reads none and is released as before.
  assert.deepEqual(kinds(decide(mkRun({}, undefined, { deletionTimestamp: new Date(T0).toISOString() }), [], T0)), ['removeFinalizer']);
});

test('not read this pass: nothing is removed (a failed list is not a reason to delete)', () => {
  assert.deepEqual(leftoverActions(undefined, undefined, 'x'), { actions: [] });
  const run = running();
  const d = decide({ ...run, spec: { ...run.spec, signalState: 'STOP' } }, [job(1, 0, 'Active')], T0 + 1000, { keepFinishedJobs: 5 });
  assert.deepEqual(removed(d), []);
});

test('the sweep removes exactly the helper namespaces whose run is gone, of runs in its scope', () => {
  const run = hogRun();
  const mine = helperNamespaceObject(run, 1, 0);
  const recreated = helperNamespaceObject(mkRun({}, undefined, { uid: 'ffffffff-0000' }), 2, 0);
  const elsewhere = helperNamespaceObject(mkRun({}, undefined, { namespace: 'not-watched', uid: '12345678-9abc' }), 1, 0);
  const forged = { metadata: { name: 'kube-system', labels: { ...recreated.metadata.labels } } };
  const someones = { metadata: { name: 'shop', labels: { app: 'web' } } };
  const uidOf = (ns: string, name: string) => (ns === 'ns' && name === 'r' ? RUN_UID : undefined);
  const inScope = (ns: string) => ns === 'ns';
  assert.deepEqual(orphanedHelperNamespaces([mine, recreated, elsewhere, forged, someones], uidOf, inScope), [recreated.metadata.name],
    'the run r exists with another uid: the old instance\'s namespace goes; the live one\'s, another scope\'s, a forged name and anyone\'s stay');
  assert.deepEqual(orphanedHelperNamespaces([mine], () => undefined, () => true), [mine.metadata.name], 'its run deleted');
});

test('the sweep\'s shell: one list, then pods (no grace) and the namespace of each orphan; nothing while not leading', async () => {
  const calls: string[] = [];
  const orphan = helperNamespaceObject(mkRun({}, undefined, { uid: 'ffffffff-0000' }), 1, 0);
  const client = {
    request: async <T>(method: string, path: string, o?: { body?: { gracePeriodSeconds?: number } }): Promise<T> => {
      calls.push(`${method} ${path}${o?.body?.gracePeriodSeconds === 0 ? ' grace=0' : ''}`);
      return (method === 'GET' ? { items: [orphan, helperNamespaceObject(hogRun(), 1, 0)] } : {}) as T;
    },
  };
  let leading = false;
  const sweep = new HelperSweep({ client: client as never, runs: { get: (name, ns) => (name === 'r' && ns === 'ns' ? hogRun() : undefined) }, canAct: () => leading, log: { info() {}, warn() {} } as never });
  assert.deepEqual(await sweep.once(), []);
  assert.deepEqual(calls, []);
  leading = true;
  assert.deepEqual(await sweep.once(), [orphan.metadata.name]);
  assert.deepEqual(calls, [
    'GET /api/v1/namespaces',
    `DELETE /api/v1/namespaces/${orphan.metadata.name}/pods grace=0`,
    `DELETE /api/v1/namespaces/${orphan.metadata.name}`,
  ]);
});
