import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Job } from '@kubernetes/client-node';
import { ANNOTATION_FAULT, LABEL_FAULT } from '../api/fault-holder.ts';
import { parseNodeFaultSpec } from '../api/node-fault.ts';
import type { ApiReader } from './kind.ts';
import { chooseNodes, nodeArgs, nodePlan, nodePod, nodeRights, operatorNodeOf, parseNodeArgs } from './node.ts';

const node = (name: string, over: { unschedulable?: boolean; labels?: Record<string, string> } = {}) =>
  ({ metadata: { name, labels: over.labels ?? {} }, spec: over.unschedulable ? { unschedulable: true } : {} });
const reader = (nodes: unknown[], pods: unknown[] = []): ApiReader & { paths: string[] } => {
  const seen: string[] = [];
  return {
    paths: seen,
    request: async <T>(_m: 'GET', path: string, o?: { query?: Record<string, unknown> }) => {
      seen.push(`${path}?${JSON.stringify(o?.query ?? {})}`);
      return (path === '/api/v1/nodes' ? { items: nodes } : { items: pods }) as T;
    },
  };
};

test('nodes are chosen among the schedulable matching ones; unschedulable and the operator\'s are left alone and said', async () => {
  const r = reader([node('a'), node('b', { unschedulable: true }), node('op'), node('c')]);
  const got = await chooseNodes(r, { labelSelector: 'pool=web', count: 2, operatorNode: 'op' });
  assert.equal(got.chosen.length, 2);
  assert.ok(got.chosen.every((n) => n === 'a' || n === 'c'));
  assert.equal(got.matched, 2);
  assert.deepEqual(got.skipped, [
    { node: 'b', why: 'already unschedulable: left as it was' },
    { node: 'op', why: 'the operator\'s controller runs on it (allowOperatorNode is not set)' },
  ]);
  assert.match(r.paths[0], /labelSelector":"pool=web/);
  const named = await chooseNodes(reader([node('a'), node('c')]), { names: ['c', 'zz'] });
  assert.deepEqual(named.chosen, ['c']);
  const pct = await chooseNodes(reader([node('a'), node('b'), node('c')]), { labelSelector: 'x', percent: 50 });
  assert.equal(pct.chosen.length, 2, '50% of 3 rounds up to 2');
});

test('too few schedulable nodes is a one-line failure that says what was left alone', async () => {
  await assert.rejects(chooseNodes(reader([node('b', { unschedulable: true })]), { names: ['b'] }),
    /^Error: no schedulable node matched \(names b\); left alone: b \(already unschedulable: left as it was\)$/);
  await assert.rejects(chooseNodes(reader([node('a')]), { labelSelector: 'x', count: 2 }), /^Error: only 1 schedulable node\(s\) matched \(labels x\), fewer than count 2$/);
});

test('the step runs the holder with the selection and the operator\'s node, unless the run allows it', () => {
  const ctx = { operatorImage: 'img:1', scenarioServiceAccount: 'chaosrun-scenario', operatorNode: 'op-node' };
  assert.deepEqual(nodeArgs('nodeCordon', { labelSelector: 'pool=web', count: 2 }, ctx, { name: 's', duration: '30s' }),
    ['scenario', 'node', '--kind=nodeCordon', '--label-selector=pool=web', '--count=2', '--operator-node=op-node', '--duration=30s']);
  assert.deepEqual(nodeArgs('nodeDrain', { names: ['a', 'b'], allowOperatorNode: true, evictionTimeout: '30s' }, ctx, { name: 's', duration: '1m' }),
    ['scenario', 'node', '--kind=nodeDrain', '--names=a,b', '--duration=1m']);
  const pod = nodePod('nodeDrain', { labelSelector: 'x', evictionTimeout: '90s', gracePeriodSeconds: 3 }, ctx, { name: 's', duration: '30s' });
  assert.equal(pod.podMetadata?.labels?.[LABEL_FAULT], 'nodeDrain');
  assert.deepEqual(parseNodeFaultSpec(pod.podMetadata?.annotations?.[ANNOTATION_FAULT]), { kind: 'nodeDrain', evictionTimeoutSeconds: 90, gracePeriodSeconds: 3 });
  assert.deepEqual(pod.containers[0].env?.map((e) => e.name), ['POD_NAME', 'POD_NAMESPACE', 'POD_UID']);
  const job = { spec: { template: { spec: { containers: [{ name: 'scenario', args: pod.containers[0].args }] } } } } as V1Job;
  assert.equal(operatorNodeOf(job), 'op-node');
});

test('a cordon needs patch nodes; a drain also create pods/eviction, both cluster-wide', () => {
  assert.deepEqual(nodeRights('nodeCordon'), [{ verb: 'patch', group: '', resource: 'nodes' }]);
  assert.deepEqual(nodeRights('nodeDrain'), [{ verb: 'patch', group: '', resource: 'nodes' }, { verb: 'create', group: '', resource: 'pods', subresource: 'eviction' }]);
});

test('the dry run names the nodes, and for a drain the pods it would evict and those it keeps', async () => {
  const pods = [
    { metadata: { namespace: 'shop', name: 'web-1', ownerReferences: [{ kind: 'ReplicaSet', controller: true }] }, status: { phase: 'Running' } },
    { metadata: { namespace: 'ops', name: 'agent-x', ownerReferences: [{ kind: 'DaemonSet', controller: true }] }, status: { phase: 'Running' } },
    { metadata: { namespace: 'shop', name: 'bare' }, status: { phase: 'Running' } },
  ];
  const plan = await nodePlan('nodeDrain', { names: ['a'], evictionTimeout: '60s' }, { client: reader([node('a')], pods) }, { name: 's', duration: '30s' });
  assert.equal(plan.ok, true);
  assert.equal(plan.plan, 'nodeDrain would cordon 1 of the 1 schedulable node(s) that match now for 30s, e.g. a; from a evict shop/web-1, keep ops/agent-x (DaemonSet), shop/bare (unmanaged)');
  const bad = await nodePlan('nodeCordon', { names: ['a'] }, { client: reader([node('a')]), operatorNode: 'a' }, { name: 's', duration: '30s' });
  assert.equal(bad.ok, false);
  assert.match(bad.plan, /^nodeCordon would fail: no schedulable node matched \(names a\); left alone: a \(the operator's controller runs on it/);
});

test('the holder\'s flags: bad input is one line', () => {
  const env = { POD_NAME: 'p', POD_NAMESPACE: 'ns', POD_UID: 'u' };
  const { opts } = parseNodeArgs(['--kind=nodeDrain', '--names=a, b', '--percent=50', '--duration=30s', '--operator-node=op'], env);
  assert.deepEqual(opts, { kind: 'nodeDrain', selection: { names: ['a', 'b'], percent: 50, operatorNode: 'op' }, durationMs: 30_000, self: { namespace: 'ns', name: 'p', uid: 'u' } });
  assert.throws(() => parseNodeArgs(['--kind=nodeX', '--names=a', '--duration=1s'], env), /^Error: node needs --kind nodeCordon or nodeDrain, not "nodeX"$/);
  assert.throws(() => parseNodeArgs(['--kind=nodeCordon', '--duration=1s'], env), /node needs --label-selector, --names or both/);
  assert.throws(() => parseNodeArgs(['--kind=nodeCordon', '--names=a', '--duration=1s', '--count=1', '--percent=5'], env), /count or --percent, not both/);
  assert.throws(() => parseNodeArgs(['--kind=nodeCordon', '--names=a', '--duration=1s'], {}), /POD_NAMESPACE and POD_NAME/);
});
