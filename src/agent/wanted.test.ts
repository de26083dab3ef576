// wantedOnNode on plain objects: a fault is wanted only while its holder runs, its run says RUN, and
// its target's sandbox is on this node.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, type NetworkFaultSpec } from '../api/fault-holder.ts';
import { parseKillSwitch, type KillSwitchRecord } from '../api/kill-switch.ts';
import { findSandboxes } from './sandboxes.ts';
import { endedByKillSwitch, faultIdOf, wantedOnNode, type HolderView, type RunView } from './wanted.ts';

const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4, to: [{ cidr: '198.19.0.0/24', ports: [443] }] };
const targets = [
  { namespace: 'shop', name: 'web-1', uid: 'aaaaaaaa-0000-0000-0000-000000000001', node: 'n1' },
  { namespace: 'shop', name: 'web-2', uid: 'aaaaaaaa-0000-0000-0000-000000000002', node: 'n2' },
];
function holder(over: Partial<HolderView> = {}): HolderView {
  return {
    uid: 'BBBBBBBB-1111-2222-3333-444444444444', namespace: 'shop', name: 'cut-1-0-xyz', phase: 'Running', deleting: false,
    labels: { 'chaosrun.dev/run': 'game-day', 'chaosrun.dev/step': 'cut-web' },
    annotations: { [ANNOTATION_FAULT]: JSON.stringify(spec), [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) },
    ...over,
  };
}
const running: RunView = { signalState: 'RUN', phase: 'Running' };
const sandboxes = new Map([[targets[0].uid, '/proc/42/ns/net'], [targets[1].uid, '/proc/43/ns/net']]);
const plan = (h: HolderView[], run: RunView | undefined = running, node = 'n1') =>
  wantedOnNode(node, h, () => run, (uid) => sandboxes.get(uid));

it('a running holder whose run says RUN wants its fault on the targets on this node only', () => {
  const { wanted, unresolved } = plan([holder()]);
  assert.equal(wanted.length, 1);
  assert.deepEqual(unresolved, []);
  const w = wanted[0];
  assert.equal(w.id, faultIdOf('BBBBBBBB-1111-2222-3333-444444444444'));
  assert.equal(w.id, 'bbbbbbbb-1111-2222-3333-444444444444');
  assert.deepEqual(w.target, { namespace: 'shop', pod: 'web-1', podUid: targets[0].uid, netns: '/proc/42/ns/net' });
  assert.deepEqual(w.run, { namespace: 'shop', name: 'game-day' });
  assert.equal(w.step, 'cut-web');
  assert.deepEqual(w.action, { partition: {} });
  assert.deepEqual(w.to, spec.to);
  assert.equal(w.leaseSeconds, 4);
  assert.equal(plan([holder()], running, 'n2').wanted[0].target.pod, 'web-2');
});

it('PAUSE, STOP, a finished or missing run want nothing', () => {
  for (const run of [{ signalState: 'PAUSE', phase: 'Paused' }, { signalState: 'STOP', phase: 'Running' }, { signalState: 'RUN', phase: 'Stopped' }, { signalState: 'RUN', phase: 'Completed' }]) {
    assert.deepEqual(plan([holder()], run).wanted, [], JSON.stringify(run));
  }
  assert.deepEqual(wantedOnNode('n1', [holder()], () => undefined, (uid) => sandboxes.get(uid)).wanted, [], 'a deleted run');
});

it('a holder that is not running (pending, finished, being deleted) wants nothing', () => {
  for (const over of [{ phase: 'Pending' }, { phase: 'Succeeded' }, { phase: 'Failed' }, { deleting: true }]) {
    assert.deepEqual(plan([holder(over)]).wanted, [], JSON.stringify(over));
  }
});

it('a holder without targets yet, without a readable spec or without its run label wants nothing', () => {
  assert.deepEqual(plan([holder({ annotations: { [ANNOTATION_FAULT]: JSON.stringify(spec) } })]).wanted, []);
  assert.deepEqual(plan([holder({ annotations: { [ANNOTATION_FAULT]: '{nope', [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) } })]).wanted, []);
  assert.deepEqual(plan([holder({ labels: {} })]).wanted, []);
});

it('a target whose sandbox is not on this node (yet) is unresolved, not guessed at', () => {
  const r = wantedOnNode('n1', [holder()], () => running, () => undefined);
  assert.deepEqual(r.wanted, []);
  assert.deepEqual(r.unresolved, [targets[0]]);
});

const thrown = (stoppedAt: string, runs: string[]): KillSwitchRecord => ({ stoppedAt: Date.parse(stoppedAt), runs: new Set(runs) });
const withSwitch = (h: HolderView, record: KillSwitchRecord | undefined) =>
  wantedOnNode('n1', [h], () => running, (uid) => sandboxes.get(uid), record).wanted;

it('the kill-switch record ends the fault of a listed run\'s holder created before it, though the run still says RUN', () => {
  const h = holder({ created: '2026-03-01T10:00:00Z' });
  assert.equal(withSwitch(h, undefined).length, 1, 'no record: wanted');
  assert.deepEqual(withSwitch(h, thrown('2026-03-01T10:00:05.250Z', ['shop/game-day'])), []);
  assert.deepEqual(withSwitch(h, thrown('2026-03-01T10:00:05.250Z', ['other/x', 'shop/game-day', 'shop/y'])), [], 'among many');
});

it('the record leaves alone the holders of runs it does not name, and holders created after it', () => {
  const h = holder({ created: '2026-03-01T10:00:00Z' });
  for (const runs of [[], ['shop/other'], ['prod/game-day'], ['shop/game-day-2']]) {
    assert.equal(withSwitch(h, thrown('2026-03-01T10:00:05Z', runs)).length, 1, JSON.stringify(runs));
  }
  // Never cleared: a run re-created under the same name later has holders created after stoppedAt.
  assert.equal(withSwitch(holder({ created: '2026-03-01T10:00:06Z' }), thrown('2026-03-01T10:00:05.250Z', ['shop/game-day'])).length, 1);
});

it('creation times are whole seconds: a holder of a listed run in the second of the throw, or with no readable time, is ended', () => {
  const record = thrown('2026-03-01T10:00:05.250Z', ['shop/game-day']);
  assert.equal(endedByKillSwitch(record, holder({ created: '2026-03-01T10:00:05Z' }), 'game-day'), true, 'same second, rounded down');
  assert.equal(endedByKillSwitch(record, holder({ created: undefined }), 'game-day'), true, 'no creation time');
  assert.equal(endedByKillSwitch(record, holder({ created: 'yesterday' }), 'game-day'), true, 'unreadable');
  assert.equal(endedByKillSwitch(record, holder({ created: '2026-03-01T10:00:06Z' }), 'game-day'), false);
  assert.equal(endedByKillSwitch(undefined, holder({ created: '2026-03-01T10:00:00Z' }), 'game-day'), false);
});

it('a record read from its ConfigMap data applies as written', () => {
  const record = parseKillSwitch({ stoppedAt: '2026-03-01T10:00:05.250Z', runs: 'shop/game-day\nshop/other\n', scope: 'all namespaces', by: 'alice via HTTP' });
  assert.deepEqual(withSwitch(holder({ created: '2026-03-01T10:00:00Z' }), record), []);
  assert.deepEqual(withSwitch(holder({ created: '2026-03-01T10:00:00Z' }), parseKillSwitch({})).length, 1, 'an empty ConfigMap (the chart\'s, before any throw) ends nothing');
});

it('findSandboxes reads pause processes and their pod uid from /proc (cgroupfs and systemd spellings)', () => {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  const add = (pid: number, cmd: string, cgroup: string) => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cmdline'), `${cmd}\0`);
    writeFileSync(join(proc, String(pid), 'cgroup'), cgroup);
  };
  add(10, '/pause', '12:freezer:/kubepods/besteffort/podaaaaaaaa-0000-0000-0000-000000000001/0123abcd\n');
  add(11, '/bin/web', '12:freezer:/kubepods/besteffort/podaaaaaaaa-0000-0000-0000-000000000001/4567ef\n');
  add(12, 'pause', '0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podaaaaaaaa_0000_0000_0000_000000000002.slice/cri-containerd-1.scope\n');
  add(13, '/pause', '0::/system.slice/something-else.service\n');
  mkdirSync(join(proc, 'self'));
  const found = findSandboxes(proc);
  assert.deepEqual([...found.entries()].sort(), [
    ['aaaaaaaa-0000-0000-0000-000000000001', join(proc, '10/ns/net')],
    ['aaaaaaaa-0000-0000-0000-000000000002', join(proc, '12/ns/net')],
  ]);
});
