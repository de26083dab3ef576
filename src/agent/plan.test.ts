// planNode's rules on plain objects: apply, renew, revert, refuse, their order and the next wake-up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planNode, renewBelowMs, type AgentAction } from './plan.ts';
import { specHash, type FoundFault, type WantedFault } from './fault.ts';
import { mkFault } from '../../test/agent/fault-fixture.ts';

const found = (w: WantedFault, over: Partial<FoundFault> = {}): FoundFault =>
  ({ id: w.id, netns: w.target.netns, specHash: specHash(w), leaseExpiresInMs: w.leaseSeconds * 1000, ...over });
const kinds = (actions: AgentAction[]) => actions.map((a) => `${a.kind} ${a.kind === 'revert' ? a.id : a.fault.id}`);
const atNetns = (netns: string) => ({ namespace: 'shop', pod: 'api-0', podUid: 'u-1', netns });

describe('planNode', () => {
  it('nothing wanted, nothing found: nothing to do, no wake-up', () => {
    assert.deepEqual(planNode([], []), { actions: [] });
  });

  it('wanted and not found: apply, and wake when its renewal falls due', () => {
    const w = mkFault();
    const plan = planNode([w], []);
    assert.deepEqual(plan.actions, [{ kind: 'apply', fault: w, specHash: specHash(w), reason: 'missing' }]);
    assert.equal(plan.wakeInMs, 30_000 - renewBelowMs(30));
    assert.equal(plan.wakeInMs, 10_000);
  });

  it('found with the same hash and most of its lease left: nothing, wake when 2/3 is left', () => {
    const w = mkFault();
    const plan = planNode([w], [found(w, { leaseExpiresInMs: 25_000 })]);
    assert.deepEqual(plan.actions, []);
    assert.equal(plan.wakeInMs, 5_000);
  });

  it('found with the same hash and less than 2/3 of its lease left: renew', () => {
    const w = mkFault();
    const plan = planNode([w], [found(w, { leaseExpiresInMs: 19_999 })]);
    assert.deepEqual(plan.actions, [{ kind: 'renew', fault: w, leaseExpiresInMs: 19_999 }]);
    assert.equal(plan.wakeInMs, 10_000);
    assert.deepEqual(kinds(planNode([w], [found(w, { leaseExpiresInMs: 20_000 })]).actions), []);
  });

  it('a lease already expired is renewed (its rules are intact and match nothing), not rebuilt', () => {
    const w = mkFault();
    assert.deepEqual(kinds(planNode([w], [found(w, { leaseExpiresInMs: 0 })]).actions), ['renew f1']);
  });

  it('found with another hash (the spec changed): apply whole', () => {
    const old = mkFault({ action: { loss: { percent: 10 } } });
    const w = mkFault({ action: { loss: { percent: 30 } } });
    const plan = planNode([w], [found(old)]);
    assert.deepEqual(plan.actions, [{ kind: 'apply', fault: w, specHash: specHash(w), reason: 'changed' }]);
  });

  it('found without a readable hash or lease: apply whole', () => {
    const w = mkFault();
    assert.deepEqual(planNode([w], [found(w, { specHash: '' })]).actions.map((a) => a.kind === 'apply' && a.reason), ['changed']);
    const noLease = found(w);
    delete noLease.leaseExpiresInMs;
    assert.deepEqual(planNode([w], [noLease]).actions.map((a) => a.kind === 'apply' && a.reason), ['no-lease']);
  });

  it('found and not wanted: revert that table', () => {
    const w = mkFault();
    assert.deepEqual(planNode([], [found(w)]).actions, [{ kind: 'revert', netns: '/run/netns/pod-a', id: 'f1', reason: 'not-wanted' }]);
  });

  it('a found entry whose id is not a valid tag is never touched', () => {
    assert.deepEqual(planNode([], [{ id: 'Not_Ours', netns: '/run/netns/pod-a', specHash: '' }, { id: '', netns: '/x', specHash: '' }]).actions, []);
  });

  it('a restarted agent converges: what a previous agent left and is still wanted is kept or renewed, never applied twice', () => {
    const a = mkFault({ id: 'a' });
    const b = mkFault({ id: 'b' });
    const gone = mkFault({ id: 'gone' });
    const leftBehind = [found(a, { leaseExpiresInMs: 28_000 }), found(b, { leaseExpiresInMs: 3_000 }), found(gone)];
    const plan = planNode([a, b], leftBehind);
    assert.deepEqual(kinds(plan.actions), ['revert gone', 'renew b']);
    assert.equal(plan.wakeInMs, 8_000);
    // The next pass, after the renewal, finds b fresh: nothing to do.
    assert.deepEqual(planNode([a, b], [found(a, { leaseExpiresInMs: 20_500 }), found(b)]).actions, []);
  });

  it('the same id in two namespaces is two faults; moved to another namespace: revert the old, apply the new', () => {
    const here = mkFault({ target: atNetns('/proc/10/ns/net') });
    const there = mkFault({ target: atNetns('/proc/20/ns/net') });
    assert.deepEqual(kinds(planNode([here, there], [found(here)]).actions), ['apply f1']);
    const plan = planNode([there], [found(here)]);
    assert.deepEqual(plan.actions.map((a) => `${a.kind} ${a.kind === 'revert' ? a.netns : a.fault.target.netns}`),
      ['revert /proc/10/ns/net', 'apply /proc/20/ns/net']);
  });

  it('the same fault wanted twice with the same spec is one fault, with the shorter lease', () => {
    const long = mkFault({ leaseSeconds: 60 });
    const short = mkFault({ leaseSeconds: 9 });
    const plan = planNode([long, short], []);
    assert.deepEqual(plan.actions, [{ kind: 'apply', fault: short, specHash: specHash(short), reason: 'missing' }]);
    assert.equal(plan.wakeInMs, 3_000);
  });

  it('the same key wanted twice with different specs: both refused, what is found reverted', () => {
    const a = mkFault({ run: { namespace: 'chaos', name: 'run-a' } });
    const b = mkFault({ run: { namespace: 'chaos', name: 'run-b' } });
    const plan = planNode([a, b], [found(a)]);
    assert.deepEqual(kinds(plan.actions), ['revert f1', 'refuse f1', 'refuse f1']);
    const refusal = plan.actions[1];
    assert.ok(refusal.kind === 'refuse');
    assert.equal(refusal.reason, 'fault f1 in /run/netns/pod-a is wanted 2 times with different specs (runs chaos/run-a, chaos/run-b)');
    assert.deepEqual(plan.actions[0], { kind: 'revert', netns: '/run/netns/pod-a', id: 'f1', reason: 'refused' });
    assert.equal(plan.wakeInMs, undefined);
  });

  it('two delays in one namespace on one queue (ids d261 and d537 hash to 35057): the later id is refused, its table reverted', () => {
    const delay = (id: string, netns = '/run/netns/pod-a') => mkFault({ id, target: atNetns(netns), direction: 'ingress', action: { delay: { latency: '50ms' } } });
    const [a, b] = [delay('d261'), delay('d537')];
    const plan = planNode([b, a], [found(b)]);
    assert.deepEqual(kinds(plan.actions), ['revert d537', 'apply d261', 'refuse d537']);
    const refusal = plan.actions[2];
    assert.ok(refusal.kind === 'refuse');
    assert.equal(refusal.reason, "fault d537: its delay queue 35057 in /run/netns/pod-a is fault d261's already");
    // In two namespaces, or beside a fault that is not a delay, the same number is no conflict.
    assert.deepEqual(kinds(planNode([a, delay('d537', '/run/netns/pod-b')], []).actions), ['apply d261', 'apply d537']);
    assert.deepEqual(kinds(planNode([a, mkFault({ id: 'd537' })], []).actions), ['apply d261', 'apply d537']);
  });

  it('an invalid wanted fault is refused with its reason, and its old table reverted', () => {
    const good = mkFault();
    const bad = mkFault({ action: { bandwidth: { rate: '1mb' } } });
    const plan = planNode([bad], [found(good)]);
    assert.deepEqual(kinds(plan.actions), ['revert f1', 'refuse f1']);
    const refusal = plan.actions[1];
    assert.ok(refusal.kind === 'refuse');
    assert.match(refusal.reason, /^fault f1: invalid rate "1mb": unknown unit "mb"/);
  });

  it('an invalid id is refused and never becomes a revert', () => {
    const plan = planNode([mkFault({ id: 'BAD' })], []);
    assert.deepEqual(kinds(plan.actions), ['refuse BAD']);
  });

  it('the same table listed twice: one action; if the readings disagree, rebuilt', () => {
    const w = mkFault();
    assert.deepEqual(planNode([], [found(w), found(w)]).actions.length, 1);
    assert.deepEqual(kinds(planNode([w], [found(w), found(w)]).actions), []);
    assert.deepEqual(kinds(planNode([w], [found(w), found(w, { leaseExpiresInMs: 1_000 })]).actions), ['renew f1']);
    assert.deepEqual(planNode([w], [found(w), found(w, { specHash: 'other' })]).actions.map((a) => a.kind === 'apply' && a.reason), ['changed']);
  });

  it('orders reverts, renewals, applies, refusals; each by namespace and id', () => {
    const mk = (id: string, netns: string) => mkFault({ id, target: atNetns(netns) });
    const toApply = [mk('z', '/n/1'), mk('a', '/n/2'), mk('b', '/n/1')];
    const toRenew = [mk('r2', '/n/2'), mk('r1', '/n/2')];
    const toRevert = [mk('x', '/n/2'), mk('y', '/n/1')];
    const plan = planNode([mkFault({ id: 'Q' }), ...toApply, ...toRenew],
      [...toRenew.map((w) => found(w, { leaseExpiresInMs: 1 })), ...toRevert.map((w) => found(w))]);
    assert.deepEqual(kinds(plan.actions), ['revert y', 'revert x', 'renew r1', 'renew r2', 'apply b', 'apply z', 'apply a', 'refuse Q']);
  });

  it('wakes for the soonest renewal among all faults', () => {
    const a = mkFault({ id: 'a', leaseSeconds: 30 });
    const b = mkFault({ id: 'b', leaseSeconds: 6 });
    assert.equal(planNode([a, b], [found(a, { leaseExpiresInMs: 21_000 }), found(b)]).wakeInMs, 1_000);
  });
});
