import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATION_FAULT } from '../api/fault-holder.ts';
import { ANNOTATION_CORDON, ANNOTATION_NODE_TARGETS, LABEL_CORDON, type CordonRecord } from '../api/node-fault.ts';
import { cordonRecordOf, foundCordons, planCordons, planDrain, skipReason, wantedCordons, type HolderView, type NodeView, type PodView, type RunView } from './rules.ts';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const holder = (over: Partial<HolderView> & { nodes?: string[]; kind?: string; deadline?: number; allowOperatorNode?: boolean } = {}): HolderView => ({
  uid: over.uid ?? 'h-1', namespace: 'shop', name: over.name ?? 'step-pod', phase: over.phase ?? 'Running', deleting: over.deleting ?? false,
  created: over.created ?? iso(T0 - 10_000),
  labels: { 'chaosrun.dev/fault': over.kind ?? 'nodeCordon', 'chaosrun.dev/run': 'drill', 'chaosrun.dev/step': 'cordon' },
  annotations: {
    [ANNOTATION_FAULT]: JSON.stringify({ kind: over.kind ?? 'nodeCordon', ...(over.allowOperatorNode ? { allowOperatorNode: true } : {}) }),
    [ANNOTATION_NODE_TARGETS]: JSON.stringify({ nodes: over.nodes ?? ['n1'], deadline: iso(over.deadline ?? T0 + 60_000) }),
  },
});
const running: RunView = { signalState: 'RUN', phase: 'Running' };
const runs = (r: RunView | undefined) => (ns: string, name: string) => (ns === 'shop' && name === 'drill' ? r : undefined);

const record = (over: Partial<CordonRecord> = {}): CordonRecord => ({
  run: 'shop/drill', holder: { namespace: 'shop', name: 'step-pod', uid: 'h-1' }, kind: 'nodeCordon',
  deadline: iso(T0 + 60_000), since: iso(T0 - 5_000), ...over,
});
const node = (name: string, rec?: CordonRecord | string, unschedulable = true): NodeView => ({
  name, unschedulable,
  labels: rec === undefined ? {} : { [LABEL_CORDON]: typeof rec === 'string' ? 'h-1' : rec.holder.uid },
  annotations: rec === undefined || typeof rec === 'string' ? {} : { [ANNOTATION_CORDON]: JSON.stringify(rec) },
});

test('a running holder of a run that says RUN wants its nodes cordoned until its deadline', () => {
  const w = wantedCordons([holder({ nodes: ['n1', 'n2'] })], runs(running), T0);
  assert.deepEqual([...w.keys()], ['n1', 'n2']);
  assert.equal(w.get('n1')!.deadline, T0 + 60_000);
  assert.equal(w.get('n1')!.run, 'shop/drill');
  const plan = planCordons(w, [], T0);
  assert.deepEqual(plan.actions.map((a) => [a.kind, a.node]), [['cordon', 'n1'], ['cordon', 'n2']]);
  assert.equal(plan.wakeAt, T0 + 60_000);
});

test('nothing is wanted when the holder is not running, is deleting, its run is paused, stopped, finished or gone, or its deadline passed', () => {
  const none = (h: HolderView, r: RunView | undefined, now = T0) => assert.equal(wantedCordons([h], runs(r), now).size, 0);
  none(holder({ phase: 'Pending' }), running);
  none(holder({ phase: 'Succeeded' }), running);
  none(holder({ deleting: true }), running);
  none(holder(), { signalState: 'PAUSE', phase: 'Paused' });
  none(holder(), { signalState: 'STOP', phase: 'Running' });
  none(holder(), { signalState: 'RUN', phase: 'Completed' });
  none(holder(), undefined);
  none(holder({ deadline: T0 }), running);
  none({ ...holder(), annotations: { [ANNOTATION_FAULT]: '{"kind":"nodeCordon"}' } }, running);
});

test('the kill-switch record ends a holder of a run it names that was created before it was thrown', () => {
  const ks = { stoppedAt: T0 - 1_000, runs: new Set(['shop/drill']) };
  assert.equal(wantedCordons([holder()], runs(running), T0, ks).size, 0);
  assert.equal(wantedCordons([holder({ created: iso(T0) })], runs(running), T0, ks).size, 1, 'a holder created after the throw');
  assert.equal(wantedCordons([holder()], runs(running), T0, { stoppedAt: T0, runs: new Set(['shop/other']) }).size, 1);
});

test('a found cordon is uncordoned when its holder no longer wants it, another holder does, or its deadline passed; kept otherwise', () => {
  const found = foundCordons([node('n1', record())]);
  assert.deepEqual(planCordons(new Map(), found, T0).actions, [{ kind: 'uncordon', node: 'n1', holderUid: 'h-1', why: 'its step is not running (or its run does not say RUN)' }]);
  const wanted = wantedCordons([holder()], runs(running), T0);
  assert.deepEqual(planCordons(wanted, found, T0).actions, [], 'wanted by its own holder: kept, nothing to do');
  const other = wantedCordons([holder({ uid: 'h-2' })], runs(running), T0);
  assert.equal(planCordons(other, found, T0).actions[0].kind, 'uncordon');
  // The record's own deadline ends it even when a (stale) cache still shows the holder wanting it.
  const late = foundCordons([node('n1', record({ deadline: iso(T0) }))]);
  assert.deepEqual(planCordons(wanted, late, T0).actions.map((a) => [a.kind, a.kind === 'uncordon' && a.why]), [['uncordon', 'its deadline passed']]);
});

test('a cordon of a run in a namespace this controller does not watch is judged by its deadline alone', () => {
  const found = foundCordons([node('n1', record())]);
  const here = (ns: string) => ns === 'elsewhere';
  const plan = planCordons(new Map(), found, T0, undefined, here);
  assert.deepEqual(plan.actions, [], 'not wanted by any holder this controller sees, and not its to judge: left alone');
  assert.equal(plan.wakeAt, T0 + 60_000, 'woken at its deadline');
  const late = foundCordons([node('n1', record({ deadline: iso(T0) }))]);
  assert.deepEqual(planCordons(new Map(), late, T0, undefined, here).actions.map((a) => a.kind === 'uncordon' && a.why), ['its deadline passed']);
  assert.equal(planCordons(new Map(), found, T0, undefined, (ns) => ns === 'shop').actions[0].kind, 'uncordon', 'its own namespace: judged');
});

test('a node with our label but no readable record is only unmarked, never made schedulable', () => {
  const plan = planCordons(new Map(), foundCordons([node('n1', 'label-only')]), T0);
  assert.deepEqual(plan.actions.map((a) => a.kind), ['unmark']);
  assert.deepEqual(foundCordons([node('n9')]), [], 'a node without our label is not ours');
});

test('the operator\'s node is refused unless the step allows it', () => {
  const plan = planCordons(wantedCordons([holder({ nodes: ['op', 'n1'] })], runs(running), T0), [], T0, 'op');
  assert.deepEqual(plan.actions.map((a) => a.node), ['n1']);
  assert.deepEqual(plan.refused.map((r) => r.node), ['op']);
  const allowed = planCordons(wantedCordons([holder({ nodes: ['op'], allowOperatorNode: true })], runs(running), T0), [], T0, 'op');
  assert.deepEqual(allowed.actions.map((a) => [a.kind, a.node]), [['cordon', 'op']]);
});

test('two holders naming one node: the older has it', () => {
  const w = wantedCordons([holder({ uid: 'h-2', created: iso(T0 - 1_000) }), holder({ uid: 'h-1', created: iso(T0 - 9_000) })], runs(running), T0);
  assert.equal(w.get('n1')!.holder.uid, 'h-1');
});

test('a drain step\'s found cordon is drained each pass; its record carries the deadline and when the cordon began', () => {
  const w = wantedCordons([holder({ kind: 'nodeDrain' })], runs(running), T0);
  const rec = cordonRecordOf(w.get('n1')!, T0);
  assert.deepEqual(rec, { run: 'shop/drill', holder: { namespace: 'shop', name: 'step-pod', uid: 'h-1' }, step: 'cordon', kind: 'nodeDrain', deadline: iso(T0 + 60_000), since: iso(T0) });
  const plan = planCordons(w, foundCordons([node('n1', rec)]), T0 + 1_000);
  assert.deepEqual(plan.actions.map((a) => a.kind), ['drain']);
});

const pod = (name: string, over: Partial<PodView> = {}): PodView => ({ namespace: 'shop', name, phase: 'Running', deleting: false, ownerKinds: ['ReplicaSet'], mirror: false, holder: false, ...over });

test('a drain skips DaemonSet, mirror, finished, unmanaged and step pods, as kubectl drain does without --force', () => {
  assert.equal(skipReason(pod('a')), undefined);
  assert.equal(skipReason(pod('b', { ownerKinds: ['DaemonSet'] })), 'DaemonSet');
  assert.equal(skipReason(pod('c', { mirror: true })), 'mirror');
  assert.equal(skipReason(pod('c2', { ownerKinds: ['Node'] })), 'mirror');
  assert.equal(skipReason(pod('d', { phase: 'Succeeded' })), 'finished');
  assert.equal(skipReason(pod('e', { holder: true, ownerKinds: ['Job'] })), 'holder');
  assert.equal(skipReason(pod('f', { ownerKinds: [] })), 'unmanaged');
});

test('a drain evicts what is evictable and not leaving, retries refusals until its timeout, then records them as blocked and stops', () => {
  const cordon = record({ kind: 'nodeDrain', since: iso(T0) });
  const pods = [pod('web-1'), pod('web-2', { deleting: true }), pod('agent', { ownerKinds: ['DaemonSet'] })];
  const first = planDrain(pods, cordon, undefined, new Map(), [], T0 + 100, 30);
  assert.deepEqual(first.evict, [{ namespace: 'shop', name: 'web-1' }]);
  assert.equal(first.settled, false);
  const refusals = new Map([['shop/web-1', 'Cannot evict pod as it would violate the pod\'s disruption budget.']]);
  const retry = planDrain(pods, cordon, first.record, refusals, [], T0 + 29_000, 30);
  assert.deepEqual(retry.evict.map((p) => p.name), ['web-1'], 'a refusal is retried before the timeout');
  const late = planDrain(pods, cordon, retry.record ?? first.record, refusals, [], T0 + 30_000, 30);
  assert.deepEqual(late.evict, []);
  assert.equal(late.settled, true);
  assert.deepEqual(late.record, { since: iso(T0), evicted: [], timedOut: true, blocked: [{ pod: 'shop/web-1', reason: 'Cannot evict pod as it would violate the pod\'s disruption budget.' }] });
  const after = planDrain(pods, cordon, late.record, new Map(), [], T0 + 40_000, 30);
  assert.deepEqual(after.evict, [], 'blocked stays blocked: no more evictions for this cordon');
  assert.equal(after.record, undefined, 'and nothing more to write');
});

test('a drain records what it evicted; a new cordon (RUN after PAUSE) starts a new record and evicts again', () => {
  const cordon = record({ kind: 'nodeDrain', since: iso(T0) });
  const done = planDrain([pod('web-1', { deleting: true })], cordon, undefined, new Map(), ['shop/web-1'], T0 + 500, 30);
  assert.deepEqual(done.record, { since: iso(T0), evicted: ['shop/web-1'] });
  assert.equal(done.settled, true);
  const again = planDrain([pod('web-3')], record({ kind: 'nodeDrain', since: iso(T0 + 20_000) }), done.record, new Map(), [], T0 + 20_100, 30);
  assert.deepEqual(again.evict.map((p) => p.name), ['web-3']);
  assert.deepEqual(again.record, { since: iso(T0 + 20_000), evicted: [] });
});
