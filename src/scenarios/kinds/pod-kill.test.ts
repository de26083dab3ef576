// The podKill body renders to flags that the scenario command reads back into the same options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podKillArgs, podKillPod } from './pod-kill.ts';
import { parsePodKillArgs } from '../main.ts';

const ctx = { operatorImage: 'example.com/chaosrun:1', scenarioServiceAccount: 'chaosrun-scenario' };

test('body → args → options round-trips, patterns that start with "-" included', () => {
  const args = podKillArgs({ namespacePattern: '-?^shop-.*$', labelSelector: 'app=web,tier!=db', namePattern: '^web-', count: 2, gracePeriodSeconds: 0, recovery: { timeout: '90s' } });
  assert.deepEqual(args.slice(0, 2), ['scenario', 'pod-kill']);
  assert.deepEqual(parsePodKillArgs(args.slice(2)).opts, {
    namespace: undefined, namespacePattern: '-?^shop-.*$', labelSelector: 'app=web,tier!=db', namePattern: '^web-',
    count: 2, gracePeriodSeconds: 0, recoveryTimeoutMs: 90_000,
  });
});

test('defaults: count 1, recovery 120s, the operator image and the scenario ServiceAccount', () => {
  const pod = podKillPod({ namespace: 'shop', labelSelector: 'app=web', count: 1 }, ctx);
  assert.equal(pod.serviceAccountName, 'chaosrun-scenario');
  assert.equal(pod.containers[0].image, 'example.com/chaosrun:1');
  assert.equal(pod.containers[0].terminationMessagePolicy, 'FallbackToLogsOnError');
  assert.deepEqual(pod.containers[0].args, ['scenario', 'pod-kill', '--namespace=shop', '--label-selector=app=web', '--count=1', '--recovery-timeout=120s']);
  const own = podKillPod({ namespace: 'shop', namePattern: 'x', count: 1, image: 'mine:2', serviceAccountName: 'killer' }, ctx);
  assert.equal(own.containers[0].image, 'mine:2');
  assert.equal(own.serviceAccountName, 'killer');
});

test('the command refuses what the CRD refuses', () => {
  assert.throws(() => parsePodKillArgs(['--label-selector=a=b']), /exactly one of namespace and namespacePattern/);
  assert.throws(() => parsePodKillArgs(['--namespace=a']), /labelSelector, namePattern or both/);
  assert.throws(() => parsePodKillArgs(['--namespace=a', '--name-pattern=x', '--count=0']), /count must be a whole number of at least 1/);
  assert.throws(() => parsePodKillArgs(['--namespace=a', '--name-pattern=x', '--count=two']), /--count must be a whole number/);
  assert.throws(() => parsePodKillArgs(['--namespace=a', '--name-pattern=(']), /namePattern "\(" is not a valid regular expression/);
  assert.throws(() => parsePodKillArgs(['--namespace=a', '--name-pattern=x', '--force']), /Unknown option '--force'/);
});
