// The lasting-fault invariants (faults/leases.ts) on hand-made timelines and sightings: a fault that
// ends in time passes, and each broken record is caught by the check it breaks; the campaign's own
// writes (targets, RUN) never make a correctly re-applied fault look late; a cordon is also unwanted past
// its deadline, and its clock runs only while a controller does. Also the nft readers the
// fault and the bench share (faults/agent-lab.ts): a lease element with less than a second left is live.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cordonLeft, CORDON_BOUND_SECONDS, faultEndsInTime, LEASE_SLACK_MS, longestUp, nothingLeftBehind, podObject, runObject, tableLeft, unwantedSince, WantedTimeline, type HolderSeen, type InForce } from '../../faults/leases.ts';
import { parseMonitorLine, tablesFromRuleset } from '../../faults/agent-lab.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const s = (sec: number) => T0 + sec * 1000;
const H = 'aaaaaaaa-1111-2222-3333-444444444444';
const TARGET = 'bbbbbbbb-1111-2222-3333-444444444444';
const OTHER = 'cccccccc-1111-2222-3333-444444444444';
const NETNS = '/run/netns/crf-x-0';
const holder = (extra: Partial<HolderSeen> = {}): HolderSeen => ({ run: 'r', phase: 'Running', deleting: false, targets: [TARGET], leaseSeconds: 3, ...extra });
/** Sightings of the table every 100 ms over [fromS, toS]. */
const seen = (fromS: number, toS: number, target = TARGET, id = H): InForce[] =>
  Array.from({ length: Math.round((toS - fromS) * 10) + 1 }, (_, i) => ({ at: s(fromS) + i * 100, where: NETNS, target, holder: id }));

/** A run RUN from 0 s, its holder Running at 1 s, the targets written at 2 s (seen at 2.01 s, rv 10). */
function applied(): WantedTimeline {
  const t = new WantedTimeline();
  t.run(s(0), 'r', { signalState: 'RUN', phase: 'Running' }, '1');
  t.holder(s(1), H, holder({ targets: [] }), '5');
  t.wrote(podObject(H), s(2), '10', 'the targets', s(2.005));
  t.holder(s(2.01), H, holder(), '10');
  return t;
}

describe('lasting-fault invariants', () => {
  it('a fault in force while wanted, gone soon after PAUSE, passes', () => {
    const t = applied();
    t.run(s(5), 'r', { signalState: 'PAUSE', phase: 'Running' }, '20');
    assert.deepEqual(faultEndsInTime(seen(2.1, 5.2), t.data), []);
  });

  it('a table still in force past its lease + slack after PAUSE is caught, once per episode', () => {
    const t = applied();
    t.run(s(5), 'r', { signalState: 'PAUSE', phase: 'Paused' }, '20');
    const within = seen(2.1, 5 + 3 + LEASE_SLACK_MS / 1000);
    assert.deepEqual(faultEndsInTime(within, t.data), [], 'the lease and the slack are allowed');
    const late = faultEndsInTime(seen(2.1, 9.5), t.data);
    assert.equal(late.length, 1);
    assert.equal(late[0].invariant, 'faultEndsInTime');
    assert.match(late[0].detail, /4500 ms after its fault was surely unwanted at 2026-01-01T00:00:05.000Z \(run says PAUSE\); bound: 3 s/);
  });

  it('every way a fault stops being wanted counts: holder deleting, ended, gone; run STOP or finished', () => {
    for (const end of [
      (t: WantedTimeline) => t.holder(s(5), H, holder({ deleting: true }), '30'),
      (t: WantedTimeline) => t.holder(s(5), H, holder({ phase: 'Succeeded' }), '30'),
      (t: WantedTimeline) => t.holder(s(5), H, undefined, undefined),
      (t: WantedTimeline) => t.run(s(5), 'r', { signalState: 'STOP', phase: 'Running' }, '30'),
      (t: WantedTimeline) => t.run(s(5), 'r', { signalState: 'RUN', phase: 'Failed' }, '30'),
      (t: WantedTimeline) => t.run(s(5), 'r', undefined, undefined),
    ]) {
      const t = applied();
      end(t);
      assert.equal(faultEndsInTime(seen(2.1, 10), t.data).length, 1, String(end));
    }
  });

  it('a RUN the campaign sent opens a window: re-applied before the watch shows it, the fault is not late', () => {
    const t = applied();
    t.run(s(5), 'r', { signalState: 'PAUSE', phase: 'Paused' }, '20');
    // RUN sent at 20 s; the agent re-applies at 20.05 s; our watch shows it only at 20.5 s.
    t.wrote(runObject('r'), s(20), '40', 'RUN', s(20.02));
    t.run(s(20.5), 'r', { signalState: 'RUN', phase: 'Paused' }, '40');
    assert.deepEqual(faultEndsInTime([...seen(2.1, 5.1), ...seen(20.05, 25)], t.data), []);
  });

  it('a stale event delivered inside the window does not close it: only the written version does', () => {
    const t = applied();
    t.run(s(5), 'r', { signalState: 'PAUSE', phase: 'Paused' }, '20');
    t.wrote(runObject('r'), s(20), '40', 'RUN', s(20.02));
    // The controller's status write from before the RUN arrives first (rv 30 < 40): still the old view.
    t.run(s(20.3), 'r', { signalState: 'PAUSE', phase: 'Paused' }, '30');
    t.run(s(29), 'r', { signalState: 'RUN', phase: 'Running' }, '40');
    assert.deepEqual(faultEndsInTime(seen(20.05, 30), t.data), []);
    const f = t.data.faults.values().next().value!;
    assert.equal(unwantedSince(f, t.data.windows, s(25)), undefined, 'possibly wanted while the window is open');
    assert.equal(t.data.windows.get(runObject('r'))![0].until, s(29), 'closed by the event at the written version');
  });

  it('a RUN that did not make it wanted: late from the moment the view caught up', () => {
    const t = applied();
    t.holder(s(5), H, holder({ phase: 'Succeeded' }), '30');
    t.wrote(runObject('r'), s(6), '50', 'RUN', s(6.01));
    t.run(s(7), 'r', { signalState: 'RUN', phase: 'Running' }, '50');
    const late = faultEndsInTime(seen(2.1, 12), t.data);
    assert.equal(late.length, 1);
    assert.match(late[0].detail, /surely unwanted at 2026-01-01T00:00:07.000Z \(holder Succeeded, once the view showed RUN\)/);
  });

  it('the targets window covers a table applied before the campaign\'s watch shows the targets', () => {
    const t = new WantedTimeline();
    t.run(s(0), 'r', { signalState: 'RUN', phase: 'Running' }, '1');
    t.holder(s(1), H, holder({ targets: [] }), '5');
    t.wrote(podObject(H), s(2), '10', 'the targets', s(2.03));
    assert.deepEqual(faultEndsInTime(seen(2.02, 2.02), t.data), [], 'seen before the view knows the fault at all');
    t.holder(s(2.04), H, holder(), '10');
    assert.deepEqual(faultEndsInTime(seen(2.02, 4), t.data), []);
  });

  it('a table of no holder of the campaign, or in a sandbox its holder never named, is caught', () => {
    const t = applied();
    const stranger = faultEndsInTime(seen(3, 3, TARGET, 'dddddddd-1111-2222-3333-444444444444'), t.data);
    assert.match(stranger[0].detail, /is no holder of this campaign/);
    const elsewhere = faultEndsInTime(seen(3, 3, OTHER), t.data);
    assert.match(elsewhere[0].detail, /a target its holder never named/);
  });

  it('nothingLeftBehind reports each thing left: a table in force or not, a frozen cgroup', () => {
    assert.deepEqual(nothingLeftBehind('trial 1', [], 10_000), []);
    const v = nothingLeftBehind('trial 3', [tableLeft({ netns: NETNS, id: H, leaseElements: 0 }), tableLeft({ netns: NETNS, id: 'x', leaseElements: 1 }),
      { what: 'a FROZEN freezer', where: '/sys/fs/cgroup/freezer/lab/podx/c' }], 10_000);
    assert.deepEqual(v.map((x) => x.invariant), ['nothingLeftBehind', 'nothingLeftBehind', 'nothingLeftBehind']);
    assert.match(v[0].detail, /lease expired/);
    assert.match(v[1].detail, /in force/);
    assert.match(v[2].detail, /a FROZEN freezer still in \/sys\/fs\/cgroup\/freezer/);
  });
});

describe('cordons: the deadline, and a clock that runs only with a controller', () => {
  const NODE = 'cordon-x-0';
  /** A cordon holder (targets: NODE, deadline at 6 s) with its run RUN and a controller up from 0 s until `killedS`, again from `againS`. */
  function cordon(killedS = Infinity, againS?: number): WantedTimeline {
    const t = new WantedTimeline();
    t.controllerStarted(s(0));
    if (killedS !== Infinity) t.controllerKilled(s(killedS));
    if (againS !== undefined) t.controllerStarted(s(againS));
    t.run(s(0), 'r', { signalState: 'RUN', phase: 'Running' }, '1');
    t.holder(s(1), H, holder({ targets: [] }), '5');
    t.wrote(podObject(H), s(2), '10', 'the node targets', s(2.005));
    t.holder(s(2.01), H, holder({ targets: [NODE], leaseSeconds: CORDON_BOUND_SECONDS, needsController: true, deadline: s(6) }), '10');
    return t;
  }
  const cordoned = (fromS: number, toS: number) => seen(fromS, toS, NODE);
  const bound = CORDON_BOUND_SECONDS + LEASE_SLACK_MS / 1000;

  it('past its deadline a cordon is unwanted though the view still shows its holder Running', () => {
    assert.deepEqual(faultEndsInTime(cordoned(2.1, 6 + bound), cordon().data), []);
    const late = faultEndsInTime(cordoned(2.1, 6 + bound + 0.5), cordon().data);
    assert.equal(late.length, 1);
    assert.match(late[0].detail, /surely unwanted at 2026-01-01T00:00:06.000Z \(its deadline .* passed\), 2500 ms of it with one controller running/);
  });

  it('unwanted while the controller is down: late only past the bound from its restart', () => {
    const t = cordon(5, 9);
    t.holder(s(5.5), H, undefined, undefined);
    assert.deepEqual(faultEndsInTime(cordoned(2.1, 9 + bound), t.data), [], 'down 5-9 s: the cordon may stay until the restart + the bound');
    assert.equal(faultEndsInTime(cordoned(2.1, 9 + bound + 0.3), t.data).length, 1);
  });

  it('short stretches with a controller do not add up; a long one before a kill counts', () => {
    assert.equal(longestUp([{ from: s(0), until: s(1) }, { from: s(2), until: s(3) }], s(0.5), s(10)), 1000);
    const t = new WantedTimeline();
    for (const [from, until] of [[0, 7.5], [8, 9.5], [10, 11.5]]) { t.controllerStarted(s(from)); t.controllerKilled(s(until)); }
    t.run(s(0), 'r', { signalState: 'RUN', phase: 'Running' }, '1');
    t.wrote(podObject(H), s(2), '10', 'the node targets', s(2.005));
    t.holder(s(2.01), H, holder({ targets: [NODE], leaseSeconds: CORDON_BOUND_SECONDS, needsController: true, deadline: s(60) }), '10');
    t.run(s(7), 'r', { signalState: 'PAUSE', phase: 'Paused' }, '20');
    assert.deepEqual(faultEndsInTime(cordoned(2.1, 12), t.data), [], 'up 0.5 s, 1.5 s, 1.5 s after the PAUSE: none past the bound');
    t.controllerStarted(s(12));
    assert.equal(faultEndsInTime(cordoned(2.1, 14.5), t.data).length, 1, 'up from 12 s: late at 14.1 s');
  });

  it('nothingLeftBehind names each mark left on a node', () => {
    const left = cordonLeft({ name: NODE, unschedulable: true, labels: { 'chaosrun.dev/cordoned-by': H }, annotations: { 'chaosrun.dev/drain': '{}' } },
      { label: 'chaosrun.dev/cordoned-by', annotations: ['chaosrun.dev/cordon', 'chaosrun.dev/drain'] });
    assert.deepEqual(left.map((l) => l.what), ['spec.unschedulable', `label chaosrun.dev/cordoned-by=${H}`, 'annotation chaosrun.dev/drain']);
    assert.deepEqual(cordonLeft({ name: NODE, unschedulable: false, labels: {}, annotations: {} }, { label: 'x', annotations: [] }), []);
  });
});

describe('nft readers', () => {
  it('a lease element in its last second (expires 0) is live; an empty set is not; other tables are not ours', () => {
    const json = JSON.stringify({ nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: `chaosrun_${H}`, handle: 1 } },
      { table: { family: 'inet', name: 'chaosrun_bad_id', handle: 2 } },
      { table: { family: 'inet', name: 'filter', handle: 3 } },
      { table: { family: 'inet', name: 'chaosrun_expired', handle: 4 } },
      { set: { family: 'inet', name: 'lease', table: `chaosrun_${H}`, elem: [{ elem: { val: { prefix: { addr: '0.0.0.0', len: 0 } }, timeout: 2, expires: 0 } }] } },
      { set: { family: 'inet', name: 'lease', table: 'chaosrun_expired' } },
    ] });
    assert.deepEqual(tablesFromRuleset(NETNS, json), [
      { id: H, netns: NETNS, leaseElements: 1 },
      { id: 'expired', netns: NETNS, leaseElements: 0 },
    ]);
  });

  it('nft monitor lines: tables added and deleted, renewals; nothing else', () => {
    assert.deepEqual(parseMonitorLine(`add table inet chaosrun_${H}`, NETNS, 5), { at: 5, netns: NETNS, id: H, kind: 'add-table' });
    assert.deepEqual(parseMonitorLine(`delete table inet chaosrun_${H}`, NETNS, 6)?.kind, 'delete-table');
    assert.deepEqual(parseMonitorLine(`add element inet chaosrun_${H} lease { 0.0.0.0/0 timeout 4s expires 4s }`, NETNS, 7)?.kind, 'lease-element');
    assert.equal(parseMonitorLine(`delete element inet chaosrun_${H} lease { 0.0.0.0/0 timeout 4s expires 3s976ms }`, NETNS, 7), undefined);
    assert.equal(parseMonitorLine('add table inet benchprobe_abc', NETNS, 8), undefined);
    assert.equal(parseMonitorLine('# new generation 5 by process 18972 (nft)', NETNS, 8), undefined);
    assert.equal(parseMonitorLine(`add rule inet chaosrun_${H} input iifname != "lo" goto ingress_fault`, NETNS, 8), undefined);
  });
});
