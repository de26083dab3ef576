// The lasting holders' pure parts (network, freeze, stress): their flags (refused as the CRD refuses them)
// a count or percent picks.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseHoldArgs } from './main.ts';
import { targetCount } from './hold.ts';

const env = { POD_NAMESPACE: 'shop', POD_NAME: 'cut-1-0-abc' };

it('targetCount: count as given; percent of the matching pods, rounded up, at least one, at most all', () => {
  assert.equal(targetCount(10, undefined, undefined), 1);
  assert.equal(targetCount(10, 3, undefined), 3);
  assert.equal(targetCount(10, undefined, 25), 3);
  assert.equal(targetCount(3, undefined, 1), 1);
  assert.equal(targetCount(4, undefined, 100), 4);
});

it('parseHoldArgs reads the selection, the duration and its own pod from the downward API', () => {
  const { opts } = parseHoldArgs(['--namespace=shop', '--label-selector=app=web', '--percent=50', '--duration=60s', '--what=partition (both)'], env);
  assert.deepEqual(opts.selection, { namespace: 'shop', namespacePattern: undefined, labelSelector: 'app=web', namePattern: undefined });
  assert.equal(opts.percent, 50);
  assert.equal(opts.count, undefined);
  assert.equal(opts.durationMs, 60_000);
  assert.deepEqual(opts.self, { namespace: 'shop', name: 'cut-1-0-abc' });
  assert.equal(opts.what, 'partition (both)');
});

it('parseHoldArgs refuses what the CRD refuses, with one-line reasons', () => {
  const base = ['--namespace=shop', '--label-selector=app=web', '--duration=60s'];
  assert.throws(() => parseHoldArgs(['--namespace=shop', '--label-selector=app=web'], env), /network needs --duration/);
  assert.throws(() => parseHoldArgs([...base, '--count=1', '--percent=5'], env), /--count or --percent, not both/);
  assert.throws(() => parseHoldArgs([...base, '--percent=0'], env), /--percent must be more than 0 and at most 100/);
  assert.throws(() => parseHoldArgs([...base, '--percent=101'], env), /--percent must be more than 0/);
  assert.throws(() => parseHoldArgs(['--label-selector=app=web', '--duration=60s'], env), /exactly one of namespace and namespacePattern/);
  assert.throws(() => parseHoldArgs(base, {}), /POD_NAMESPACE and POD_NAME/);
});
