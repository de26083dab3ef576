// The process faults' pure core on plain objects: which containers a holder's fault is wanted in, and
// what the agent does about what it finds (freeze, thaw, start, stop, signal, refuse).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerOnNode } from './containers.ts';
import { cgroupRelative, parseBundle } from './containers.ts';
import { keyOf, parseBytes, planProcessFaults, stressArgs, wantedProcessFaults, type FoundProcessFault, type WantedProcessFault } from './process-faults.ts';
import type { LiveHolder } from './wanted.ts';

const NODE = 'n1';
const container = (podUid: string, id: string, name?: string): ContainerOnNode => ({
  id, podUid, sandbox: name === undefined, cgroupsPath: `/kubepods/pod${podUid}/${id}`, initPid: 100 + id.length, ...(name ? { name } : {}),
});
const live = (spec: LiveHolder['spec'], containers?: Array<{ name: string; id: string }>, extra: Partial<LiveHolder['holder']> = {}): LiveHolder => ({
  holder: { uid: 'H1', namespace: 'chaos', name: 'h', phase: 'Running', deleting: false, labels: { 'chaosrun.dev/step': 's' }, annotations: {}, ...extra },
  runName: 'r', spec,
  targets: [{ namespace: 'shop', name: 'web-0', uid: 'p1', node: NODE, ...(containers ? { containers } : {}) }],
});
const onNode = [container('p1', 'sand'), container('p1', 'aaa', 'app'), container('p1', 'bbb', 'side'), container('p2', 'ccc', 'app')];

test('a freeze is wanted in every container of the target (never the sandbox), or only the named ones', () => {
  const all = wantedProcessFaults(NODE, [live({ kind: 'freeze' })], onNode).wanted;
  assert.deepEqual(all.map((w) => w.target.container).sort(), ['app', 'side']);
  const named = wantedProcessFaults(NODE, [live({ kind: 'freeze' }, [{ name: 'side', id: '' }])], onNode).wanted;
  assert.deepEqual(named.map((w) => w.key), [keyOf('h1', 'bbb')]);
});

test('a freeze follows a restarted container by name; a containerKill aims only at the id its holder recorded', () => {
  const restarted = [container('p1', 'sand'), container('p1', 'new', 'app')];
  assert.deepEqual(wantedProcessFaults(NODE, [live({ kind: 'freeze' }, [{ name: 'app', id: 'aaa' }])], restarted).wanted.map((w) => w.target.containerId), ['new']);
  const kill = live({ kind: 'containerKill', signal: 'KILL' }, [{ name: 'app', id: 'aaa' }]);
  assert.equal(wantedProcessFaults(NODE, [kill], onNode).wanted.length, 1);
  const r = wantedProcessFaults(NODE, [kill], restarted);
  assert.equal(r.wanted.length, 0, 'the successor of the killed container is never signalled');
  assert.deepEqual(r.unresolved, ['shop/web-0']);
});

test('targets on other nodes and network holders are not this node\'s process faults', () => {
  const other = { ...live({ kind: 'freeze' }), targets: [{ namespace: 'shop', name: 'web-1', uid: 'p1', node: 'n2' }] };
  const net = live({ kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4 });
  assert.equal(wantedProcessFaults(NODE, [other, net], onNode).wanted.length, 0);
});

test('the deadline is the holder\'s start plus its duration', () => {
  const w = wantedProcessFaults(NODE, [live({ kind: 'freeze' }, undefined, { started: '2026-12-03T10:00:00Z', annotations: { 'chaosrun.dev/duration': '30s' } })], onNode).wanted[0];
  assert.equal(w.deadlineMs, Date.parse('2026-12-03T10:00:30Z'));
});

const wanted = (kind: 'freeze' | 'stress' | 'containerKill', key = 'h1/aaa', deadlineMs?: number): WantedProcessFault => ({
  key, id: 'h1', run: { namespace: 'chaos', name: 'r' }, step: 's',
  target: { namespace: 'shop', pod: 'web-0', podUid: 'p1', container: 'app', containerId: 'aaa' },
  spec: kind === 'freeze' ? { kind } : kind === 'stress' ? { kind, cpu: { workers: 1, load: 50 } } : { kind, signal: 'KILL' },
  cgroupsPath: '/kubepods/p1/aaa', initPid: 42, ...(deadlineMs !== undefined ? { deadlineMs } : {}),
});
const NOW = 1_000_000;

test('plan: freeze what is wanted and not found; thaw a recorded freeze no longer wanted, first', () => {
  const found: FoundProcessFault[] = [{ key: 'old/x', kind: 'freeze', alive: false }];
  const actions = planProcessFaults([wanted('freeze', 'h1/aaa', NOW + 10_500)], found, NOW);
  assert.deepEqual(actions.map((a) => a.kind), ['thaw', 'freeze']);
  assert.equal((actions[1] as { guardSeconds: number }).guardSeconds, 11, 'the guard thaws at the step\'s end by itself');
});

test('plan: a freeze whose guard runs is left alone; one whose guard died is frozen again (a restarted agent)', () => {
  assert.deepEqual(planProcessFaults([wanted('freeze')], [{ key: 'h1/aaa', kind: 'freeze', alive: true }], NOW), []);
  assert.deepEqual(planProcessFaults([wanted('freeze')], [{ key: 'h1/aaa', kind: 'freeze', alive: false }], NOW).map((a) => a.kind), ['freeze']);
});

test('plan: past the step\'s deadline nothing is wanted: the freeze is thawed, the stressor stopped', () => {
  const found: FoundProcessFault[] = [{ key: 'h1/aaa', kind: 'freeze', alive: true }, { key: 'h1/bbb', kind: 'stress', alive: true, startedAtMs: NOW - 5000 }];
  const actions = planProcessFaults([wanted('freeze', 'h1/aaa', NOW - 1), wanted('stress', 'h1/bbb', NOW - 1)], found, NOW);
  assert.deepEqual(actions.map((a) => a.kind), ['thaw', 'stop']);
});

test('plan: a stressor that died while wanted is started again, but not within 2 s of its last start', () => {
  assert.deepEqual(planProcessFaults([wanted('stress')], [{ key: 'h1/aaa', kind: 'stress', alive: false, startedAtMs: NOW - 500 }], NOW), []);
  assert.deepEqual(planProcessFaults([wanted('stress')], [{ key: 'h1/aaa', kind: 'stress', alive: false, startedAtMs: NOW - 2500 }], NOW).map((a) => a.kind), ['start']);
  assert.deepEqual(planProcessFaults([], [{ key: 'h1/aaa', kind: 'stress', alive: false, startedAtMs: NOW - 2500 }], NOW), [], 'a dead one not wanted needs nothing');
});

test('plan: a container is signalled once', () => {
  assert.deepEqual(planProcessFaults([wanted('containerKill')], [], NOW).map((a) => a.kind), ['signal']);
  assert.deepEqual(planProcessFaults([wanted('containerKill')], [{ key: 'h1/aaa', kind: 'containerKill', alive: true }], NOW), []);
});

test('plan: an invalid fault is refused with its reason, and nothing is done for it', () => {
  const bad = { ...wanted('stress'), spec: { kind: 'stress' as const, cpu: { workers: 0, load: 50 } } };
  const [a] = planProcessFaults([bad], [], NOW);
  assert.equal(a.kind, 'refuse');
  assert.match((a as { reason: string }).reason, /workers must be a whole number from 1 to 64, got 0/);
  const sig = { ...wanted('containerKill'), spec: { kind: 'containerKill' as const, signal: 'STOP' } };
  assert.match((planProcessFaults([sig], [], NOW)[0] as { reason: string }).reason, /use one of KILL, TERM/);
});

test('memory sizes are Kubernetes quantities; stress-ng gets bytes and the timeout', () => {
  assert.equal(parseBytes('96Mi'), 96 * 1024 * 1024);
  assert.equal(parseBytes('1G'), 1e9);
  assert.throws(() => parseBytes('96MB'), /use a quantity like 96Mi/);
  assert.throws(() => parseBytes('1'), /from 4Ki to 1Ti/);
  assert.deepEqual(stressArgs({ kind: 'stress', cpu: { workers: 2, load: 80 }, memory: { size: '64Mi' } }, 30),
    ['--cpu', '2', '--cpu-load', '80', '--vm', '1', '--vm-bytes', `${64 * 1024 * 1024}b`, '--vm-keep', '--timeout', '30s', '--quiet']);
});

test('a task bundle names its pod, container and cgroup; the systemd driver\'s cgroupsPath is expanded as runc does', () => {
  const c = parseBundle('abc', { annotations: {
    'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': 'app', 'io.kubernetes.cri.sandbox-uid': 'u1',
    'io.kubernetes.cri.sandbox-namespace': 'shop', 'io.kubernetes.cri.sandbox-name': 'web-0',
  }, linux: { cgroupsPath: '/kubepods/burstable/podu1/abc' } }, '4242\n');
  assert.deepEqual(c, { id: 'abc', podUid: 'u1', sandbox: false, cgroupsPath: '/kubepods/burstable/podu1/abc', podNamespace: 'shop', podName: 'web-0', name: 'app', initPid: 4242 });
  assert.equal(parseBundle('x', { annotations: {} , linux: { cgroupsPath: '/a' } }, '1'), undefined, 'not a Kubernetes container');
  assert.equal(cgroupRelative('kubepods-burstable-podu1.slice:cri-containerd:abc'), '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu1.slice/cri-containerd-abc.scope');
  assert.throws(() => cgroupRelative('nonsense'), /unreadable cgroupsPath/);
});

test('a node stress is one load per node in a cgroup of the agent\'s own, whatever the targets\' containers', () => {
  const two = { ...live({ kind: 'stress', cpu: { workers: 1, load: 50 }, node: true }) };
  two.targets = [...two.targets, { namespace: 'shop', name: 'web-1', uid: 'p2', node: NODE }, { namespace: 'shop', name: 'web-2', uid: 'p3', node: 'n2' }];
  const w = wantedProcessFaults(NODE, [two], onNode).wanted;
  assert.deepEqual(w.map((x) => [x.key, x.cgroupsPath]), [['h1/node-n1', '/chaosrun-stress/h1']]);
});
