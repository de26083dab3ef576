// Unit tests of the dead-man switch's arithmetic: when a deadline moves, to what, and who ended a Job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadlineCause, initialDeadline, renewalsPerMinute, renewDeadline } from './dead-man.ts';

const S = 1000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

test('a new step Job gets deadManSeconds, capped by the step timeout; 0 means none', () => {
  assert.equal(initialDeadline(120, undefined), 120);
  assert.equal(initialDeadline(120, 30 * S), 30);
  assert.equal(initialDeadline(120, 1500), 2, 'a timeout of 1.5 s is rounded up, never cut short');
  assert.equal(initialDeadline(0, 30 * S), undefined);
});

test('renewal happens when half of deadManSeconds is left, to now + deadManSeconds', () => {
  const job = { startMs: T0, activeDeadlineSeconds: 120 };
  assert.deepEqual(renewDeadline(120, undefined, job, T0 + 10 * S), { wakeAtMs: T0 + 60 * S }, 'plenty left: look again at the half point');
  assert.deepEqual(renewDeadline(120, undefined, job, T0 + 59 * S), { wakeAtMs: T0 + 60 * S });
  assert.deepEqual(renewDeadline(120, undefined, job, T0 + 60 * S), { set: 180, wakeAtMs: T0 + 120 * S });
  // Fractions of a second count as a whole second: the new deadline is never short of deadManSeconds.
  assert.deepEqual(renewDeadline(120, undefined, job, T0 + 60_400), { set: 181, wakeAtMs: T0 + 121 * S });
});

test('a step renewed on time for an hour never reaches its deadline, at one write per half period', () => {
  let ads = initialDeadline(20, undefined)!;
  let writes = 0;
  let t = T0;
  while (t < T0 + 3600 * S) {
    const r = renewDeadline(20, undefined, { startMs: T0, activeDeadlineSeconds: ads }, t);
    if (r.set !== undefined) { ads = r.set!; writes++; }
    assert.ok(T0 + ads * S - t >= 10 * S, `at least half of deadManSeconds left at ${(t - T0) / S}s`);
    t = r.wakeAtMs!;
  }
  // 3600 s / 10 s = 360 renewals: 120 / deadManSeconds = 6 per minute.
  assert.ok(writes >= 359 && writes <= 361, `writes ${writes}`);
  assert.equal(renewalsPerMinute(20), 6);
  assert.equal(renewalsPerMinute(120), 1);
  assert.equal(renewalsPerMinute(0), 0);
});

test('the deadline never passes the step timeout, and stops moving once it reaches it', () => {
  const r = renewDeadline(120, 100 * S, { startMs: T0, activeDeadlineSeconds: 100 }, T0 + 70 * S);
  assert.deepEqual(r, {}, 'at the cap: no write and nothing to wake for (the operator\'s own timeout requeue stands)');
  assert.deepEqual(renewDeadline(60, 100 * S, { startMs: T0, activeDeadlineSeconds: 60 }, T0 + 40 * S), { set: 100 });
});

test('a deadline already passed is final: no late renewal races Kubernetes', () => {
  assert.deepEqual(renewDeadline(20, undefined, { startMs: T0, activeDeadlineSeconds: 20 }, T0 + 20 * S), {});
  assert.deepEqual(renewDeadline(20, undefined, { startMs: T0, activeDeadlineSeconds: 20 }, T0 + 25 * S), {});
});

test('a Job without a deadline gets one; a lowered deadManSeconds lowers it; 0 removes it', () => {
  assert.deepEqual(renewDeadline(30, undefined, { startMs: T0 }, T0 + 100 * S), { set: 130, wakeAtMs: T0 + 115 * S });
  assert.deepEqual(renewDeadline(30, undefined, { startMs: T0, activeDeadlineSeconds: 3600 }, T0 + 100 * S), { set: 130, wakeAtMs: T0 + 115 * S });
  assert.deepEqual(renewDeadline(0, undefined, { startMs: T0, activeDeadlineSeconds: 60 }, T0 + 10 * S), { set: null });
  assert.deepEqual(renewDeadline(0, undefined, { startMs: T0 }, T0 + 10 * S), {});
});

test('a Job Kubernetes ended at the timeout cap is a timeout; below it, the dead-man switch', () => {
  assert.equal(deadlineCause(100, 100 * S), 'Timeout');
  assert.equal(deadlineCause(60, 100 * S), 'DeadManSwitch');
  assert.equal(deadlineCause(120, undefined), 'DeadManSwitch');
  assert.equal(deadlineCause(undefined, 100 * S), 'DeadManSwitch');
});
