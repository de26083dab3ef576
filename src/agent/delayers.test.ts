// delayersWanted on plain objects: which delayers to start and stop, and when one that keeps dying
// may start again (the processes themselves are proven in test/agent/delay.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delayerOf, delayersWanted, restartBackoffMs, type DelayerExits } from './delayers.ts';
import { faultKey, queueNumber, type WantedFault } from './fault.ts';
import { mkFault } from '../../test/agent/fault-fixture.ts';

const delay = (id: string, latency = '100ms', jitter?: string, netns = '/run/netns/pod-a'): WantedFault => mkFault({
  id, direction: 'ingress', action: { delay: { latency, ...(jitter ? { jitter } : {}) } },
  target: { namespace: 'shop', pod: 'api-0', podUid: 'u-1', netns },
});
const key = (w: WantedFault) => faultKey(w.target.netns, w.id);
const none = new Map<string, DelayerExits>();
const starts = (p: ReturnType<typeof delayersWanted>) => p.start.map((d) => d.id);

describe('delayerOf', () => {
  it('a delay needs one, with its queue and its latency and jitter in microseconds; other faults and invalid ones none', () => {
    const w = delay('f1', '0.1s', '10ms');
    assert.deepEqual(delayerOf(w), {
      key: key(w), id: 'f1', netns: '/run/netns/pod-a', queue: queueNumber('f1'),
      args: ['--queue', String(queueNumber('f1')), '--latency', '100000us', '--jitter', '10000us'],
    });
    assert.equal(delayerOf(mkFault()), undefined);
    assert.equal(delayerOf({ ...w, direction: 'both' }), undefined);
  });
});

describe('delayersWanted', () => {
  it('starts one per delay in force, once; stops those no longer wanted', () => {
    const [a, b] = [delay('a'), delay('b')];
    assert.deepEqual(starts(delayersWanted([b, a, a, mkFault({ id: 'p' })], [], none, 0)), ['a', 'b']);
    const running = [{ key: key(a), args: delayerOf(a)!.args }, { key: 'gone\u0000x', args: [] }];
    const plan = delayersWanted([a], running, none, 0);
    assert.deepEqual(plan, { start: [], stop: ['gone\u0000x'] });
  });

  it('a changed latency or jitter stops the old delayer and starts a new one', () => {
    const old = delay('a', '100ms');
    const now = delay('a', '100ms', '20ms');
    const plan = delayersWanted([now], [{ key: key(old), args: delayerOf(old)!.args }], none, 0);
    assert.deepEqual(plan.stop, [key(old)]);
    assert.deepEqual(plan.start.map((d) => d.args), [delayerOf(now)!.args]);
  });

  it('one that died is started again: at once the first time, then after a growing wait, and says when', () => {
    const a = delay('a');
    const exits = (count: number, lastAt: number) => new Map([[key(a), { count, lastAt }]]);
    assert.deepEqual(starts(delayersWanted([a], [], exits(1, 1000), 1000)), ['a']);
    const held = delayersWanted([a], [], exits(2, 1000), 1100);
    assert.deepEqual(held, { start: [], stop: [], wakeInMs: 150 });
    assert.deepEqual(starts(delayersWanted([a], [], exits(2, 1000), 1250)), ['a']);
    assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map(restartBackoffMs), [0, 250, 500, 1000, 8000, 10_000, 10_000]);
  });
});
