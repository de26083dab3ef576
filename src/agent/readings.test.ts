// Readings on plain objects: what a pass plans from between listings, how the agent's own actions and
// a listing in flight meet, when a namespace is read again, and when what was known is forgotten.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FoundFault } from './fault.ts';
import { planNode } from './plan.ts';
import { RELIST_MS, Readings } from './readings.ts';
import { mkFault } from '../../test/agent/fault-fixture.ts';
import { specHash } from './fault.ts';

const A = '/proc/11/ns/net';
const B = '/proc/12/ns/net';
const f = (id: string, over: Partial<FoundFault> = {}): FoundFault => ({ id, netns: A, specHash: 'aaaaaaaaaaaaaaaa', leaseExpiresInMs: 4000, ...over });
const ids = (r: Readings, now: number) => r.found(now).map((x) => `${x.netns === A ? 'A' : 'B'} ${x.id} ${x.specHash.slice(0, 1)} ${x.leaseExpiresInMs ?? '-'}`).sort();

/** A Readings that knows namespace A (read at `at` with `faults`) and B (read empty). */
function known(faults: FoundFault[], at = 0): Readings {
  const r = new Readings();
  r.sync([[A, '1:11'], [B, '1:12']]);
  assert.deepEqual(r.unread([A, B]), [A, B]);
  r.record(r.begin(A, at), faults);
  r.record(r.begin(B, at), []);
  return r;
}

describe('Readings', () => {
  it('nothing is known before a namespace is read: a restarted agent reads every one first', () => {
    const r = new Readings();
    r.sync([[A, '1:11']]);
    assert.deepEqual(r.unread([A]), [A]);
    assert.deepEqual(r.found(0), []);
    assert.deepEqual(r.due(1e9), [], 'an unread namespace is not due in the background: the pass reads it');
    assert.equal(r.record(r.begin(A, 0), [f('x')]), true, 'a first reading that finds a table is news');
    assert.deepEqual(r.unread([A]), []);
    assert.deepEqual(ids(r, 1000), ['A x a 3000']);
  });

  it('leases count down from when the listing began, and never below 0', () => {
    const r = known([f('x', { leaseExpiresInMs: 3000 }), f('y', { leaseExpiresInMs: undefined })], 100);
    assert.deepEqual(ids(r, 1100), ['A x a 2000', 'A y a -']);
    assert.deepEqual(ids(r, 9000), ['A x a 0', 'A y a -']);
  });

  it('the agent\'s own actions: an apply or renewal holds a fresh lease from when it was sent; a revert removes the table', () => {
    const r = known([f('x', { leaseExpiresInMs: 1000 })]);
    r.holds(A, 'x', 'bbbbbbbbbbbbbbbb', 4000, 500);
    r.holds(B, 'z', 'cccccccccccccccc', 4000, 500);
    assert.deepEqual(ids(r, 1500), ['A x b 3000', 'B z c 3000']);
    r.gone(A, 'x');
    r.gone(A, 'never-there');
    assert.deepEqual(ids(r, 1500), ['B z c 3000']);
  });

  it('a STOP plans its revert from memory: planNode on what is known reverts the table with no listing', () => {
    const w = mkFault({ leaseSeconds: 4 });
    const r = new Readings();
    r.sync([[w.target.netns, '1:1']]);
    r.record(r.begin(w.target.netns, 0), []);
    r.holds(w.target.netns, w.id, specHash(w), 4000, 0);
    assert.deepEqual(planNode([w], r.found(100)).actions, [], 'wanted and held: nothing to do');
    assert.deepEqual(planNode([w], r.found(1400)).actions.map((a) => a.kind), ['renew'], 'a third of the lease gone: renew');
    assert.deepEqual(planNode([], r.found(100)).actions, [{ kind: 'revert', netns: w.target.netns, id: w.id, reason: 'not-wanted' }]);
  });

  it('an action during a listing is laid over the listing, whichever came first in the kernel', () => {
    const r = known([f('x'), f('y')]);
    // The listing began, then the agent reverted x and applied z; the listing may show either state.
    for (const listed of [[f('x'), f('y')], [f('y'), f('z', { specHash: 'cccccccccccccccc' })]]) {
      const token = r.begin(A, 1000);
      r.gone(A, 'x');
      r.holds(A, 'z', 'cccccccccccccccc', 4000, 1100);
      r.record(token, listed);
      assert.deepEqual(ids(r, 1100), ['A y a 3900', 'A z c 4000']);
    }
  });

  it('a listing shows what someone else did (a table added, changed or removed): it is taken, and reported', () => {
    const r = known([f('x'), f('y')]);
    assert.equal(r.record(r.begin(A, 5000), [f('x', { leaseExpiresInMs: 0 }), f('y')]), false, 'an expired lease is not news (its renewal is the plan\'s)');
    assert.equal(r.record(r.begin(A, 6000), [f('x', { specHash: '' }), f('y')]), true, 'a table changed by hand');
    assert.deepEqual(ids(r, 6000), ['A x  4000', 'A y a 4000']);
    assert.equal(r.record(r.begin(A, 7000), [f('y')]), true, 'a table removed');
    assert.equal(r.record(r.begin(A, 8000), [f('y'), f('w')]), true, 'a table added');
    assert.equal(r.record(r.begin(A, 9000), [f('y', { leaseExpiresInMs: undefined }), f('w')]), true, 'a lease made unreadable');
    assert.deepEqual(ids(r, 9000), ['A w a 4000', 'A y a -']);
  });

  it('nft\'s whole seconds rounded down do not shorten a lease the agent set; a shorter one found is taken', () => {
    const r = known([]);
    r.holds(A, 'x', 'aaaaaaaaaaaaaaaa', 4000, 1000); // ends at 5000
    r.record(r.begin(A, 1500), [f('x', { leaseExpiresInMs: 3000 })]); // 3.5 s left, listed as 3
    assert.deepEqual(ids(r, 1500), ['A x a 3500']);
    r.record(r.begin(A, 2000), [f('x', { leaseExpiresInMs: 1000 })]); // someone set a shorter lease
    assert.deepEqual(ids(r, 2000), ['A x a 1000']);
  });

  it('of two readings the later one wins; a reading of a namespace that changed or went meanwhile is dropped', () => {
    const r = known([f('x')]);
    const early = r.begin(A, 1000);
    const late = r.begin(A, 2000);
    r.record(late, [f('y')]);
    assert.equal(r.record(early, [f('x')]), false);
    assert.deepEqual(ids(r, 2000), ['A y a 4000']);
    const t = r.begin(A, 3000);
    r.sync([[A, '1:99'], [B, '1:12']]); // the path leads to another namespace now (a new sandbox, a pid reused)
    assert.deepEqual(r.unread([A, B]), [A], 'what was known of the old namespace is forgotten');
    assert.equal(r.record(t, [f('x')]), false);
    assert.deepEqual(r.unread([A, B]), [A]);
    r.sync([[B, undefined]]);
    assert.deepEqual(r.found(0), [], 'a namespace gone is forgotten');
  });

  it('each namespace is read again once its reading is RELIST_MS old, oldest first, never twice at once; at once after a failure', () => {
    const r = known([f('x')], 0);
    r.record(r.begin(B, 1000), []);
    assert.deepEqual(r.due(RELIST_MS - 1), []);
    assert.deepEqual(r.due(RELIST_MS + 1000), [A, B]);
    const t = r.begin(A, RELIST_MS + 1000);
    assert.deepEqual(r.due(RELIST_MS + 1000), [B], 'not while a reading of it is in flight');
    r.abort(t);
    assert.deepEqual(ids(r, 0), ['A x a 4000'], 'a failed reading keeps what was known');
    assert.deepEqual(r.due(RELIST_MS + 1000), [A, B]);
    r.record(r.begin(A, 7000), [f('x')]);
    r.record(r.begin(B, 7000), []);
    assert.deepEqual(r.due(7001), []);
    r.unsure(B);
    assert.deepEqual(r.due(7001), [B], 'an action failed there: read again at once');
  });
});
