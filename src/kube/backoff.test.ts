// Unit tests of the watch restart backoff: exponential, capped, jittered within [half, all] of the step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.ts';

test('doubles from the initial step up to the cap; reset starts over', () => {
  const top = new Backoff({ initialMs: 500, maxMs: 2000, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => top.next()), [500, 1000, 2000, 2000, 2000]);
  top.reset();
  assert.equal(top.next(), 500);
  const bottom = new Backoff({ initialMs: 500, maxMs: 2000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4].map(() => bottom.next()), [250, 500, 1000, 1000]);
});

test('jitter spreads watches that fail together instead of retrying in step', () => {
  const watches = Array.from({ length: 20 }, () => new Backoff({ initialMs: 500, maxMs: 2000 }));
  for (let round = 0; round < 4; round++) {
    const delays = watches.map((b) => b.next());
    const step = Math.min(500 * 2 ** round, 2000);
    for (const d of delays) assert.ok(d >= step / 2 && d <= step, `${d} within [${step / 2}, ${step}]`);
    assert.ok(new Set(delays).size >= 10, `20 watches retry at ${new Set(delays).size} distinct times: ${delays.join(', ')}`);
  }
});
