import { test } from 'node:test';
import assert from 'node:assert/strict';
import { faultKey, type WantedFault } from './fault.ts';
import { NftError } from './nft.ts';
import type { AgentAction } from './plan.ts';
import { classifyFailure, faultReport } from './report.ts';

const fault = (id: string, pod: string, action: WantedFault['action'] = { partition: {} }): WantedFault => ({
  id, run: { namespace: 'ops', name: 'r' }, step: 'cut', direction: 'both', action, leaseSeconds: 4,
  target: { namespace: 'shop', pod, podUid: `uid-${pod}`, netns: `/proc/1${pod.length}/ns/net/${pod}` },
});

test('each wanted fault is in force, refused (the plan\'s or a failure no retry helps) or failing; put-off applies are not told', () => {
  const a = fault('aaaa', 'web-0');
  const b = fault('bbbb', 'web-1', { loss: { percent: 30 } });
  const c = fault('cccc', 'web-2');
  const d = fault('dddd', 'web-3', { delay: { latency: '100ms' } });
  const e = fault('eeee', 'web-4');
  const actions: AgentAction[] = [{ kind: 'refuse', fault: d, reason: 'two delays share queue 1234' }];
  const failures = new Map([
    [faultKey(b.target.netns, b.id), classifyFailure(new NftError(b.target.netns, 'missing-feature', 'nft in netns x: this kernel lacks the numgen expression'))],
    [faultKey(c.target.netns, c.id), classifyFailure(new NftError(c.target.netns, 'timeout', 'nft in netns x: no answer within 10s'))],
  ]);
  const report = faultReport('node-a', [a, b, c, d, e, a], actions, failures, new Set([faultKey(e.target.netns, e.id)]));
  assert.deepEqual(report, { node: 'node-a', faults: [
    { holder: 'aaaa', namespace: 'shop', pod: 'web-0', state: 'in-force' },
    { holder: 'bbbb', namespace: 'shop', pod: 'web-1', state: 'refused', reason: 'nft in netns x: this kernel lacks the numgen expression' },
    { holder: 'cccc', namespace: 'shop', pod: 'web-2', state: 'failing', reason: 'nft in netns x: no answer within 10s' },
    { holder: 'dddd', namespace: 'shop', pod: 'web-3', state: 'refused', reason: 'delay refused: two delays share queue 1234' },
  ] });
});

test('not installed and not permitted are refusals; anything else, or an error that is not nft\'s, may pass', () => {
  assert.equal(classifyFailure(new NftError('n', 'not-installed', 'nft is not installed')).permanent, true);
  assert.equal(classifyFailure(new NftError('n', 'not-permitted', 'needs CAP_NET_ADMIN')).permanent, true);
  assert.equal(classifyFailure(new NftError('n', 'failed', 'x')).permanent, false);
  assert.deepEqual(classifyFailure(new Error('first line\nsecond')), { permanent: false, message: 'first line' });
});
