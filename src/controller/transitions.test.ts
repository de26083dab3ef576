// status.transitions from decide(): each signal with its source, timed pauses, gate holds, bounded,
// and never a status write of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FINALIZER } from '../api/constants.ts';
import { signalStamp } from '../api/signal-source.ts';
import { TRANSITIONS_LIMIT, type ChaosRun, type ChaosRunSpec, type ChaosRunStatus, type Signal } from '../api/types.ts';
import { decide, type Decision, type GateView } from './decide.ts';
import { SPEC_EDIT, TIMED_PAUSE_ENDED } from './transitions.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function mkRun(spec: Partial<ChaosRunSpec> = {}): ChaosRun {
  return {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
    metadata: { name: 'r', namespace: 'ns', uid: 'u1', generation: 1, finalizers: [FINALIZER], resourceVersion: '1' },
    spec: {
      signalState: 'RUN', iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus: true,
      failurePolicy: 'Continue', historyLimit: 50, scenarios: [{ name: 'a', job: { image: 'x' } }], ...spec,
    },
  };
}
const statusOf = (d: Decision) => (d.actions.find((a) => a.kind === 'writeStatus') as { status: ChaosRunStatus } | undefined)?.status;
const after = (run: ChaosRun, d: Decision): ChaosRun => {
  const s = statusOf(d);
  return s ? { ...run, status: JSON.parse(JSON.stringify(s)) as ChaosRunStatus } : run;
};
/** What a writer of spec.signalState does: the signal (and a new generation when it changes). */
function send(run: ChaosRun, signal: Signal, opts: { pauseUntil?: string; by?: string } = {}): ChaosRun {
  const pauseUntil = opts.pauseUntil ?? null;
  const annotations = opts.by ? signalStamp(run, signal, pauseUntil, opts.by, 'HTTP') : run.metadata.annotations;
  const changes = run.spec.signalState !== signal || (run.spec.pauseUntil ?? null) !== pauseUntil;
  return {
    ...run,
    metadata: { ...run.metadata, annotations, generation: run.metadata.generation! + (changes ? 1 : 0) },
    spec: { ...run.spec, signalState: signal, ...(pauseUntil ? { pauseUntil } : { pauseUntil: undefined }) },
  };
}
const step = (run: ChaosRun, s: number, gates?: GateView) => after(run, decide(run, [], T0 + s * 1000, { keepFinishedJobs: 5, gates }));

test('a first RUN is not a transition; PAUSE and RUN are, with who sent them and when the operator acted', () => {
  let r = step(mkRun(), 0);
  assert.equal(r.status?.transitions, undefined);
  r = step(send(r, 'PAUSE', { by: 'alice' }), 5);
  r = step(send(r, 'RUN'), 9);
  assert.deepEqual(r.status?.transitions, [
    { time: at(5), kind: 'Signal', signal: 'PAUSE', source: 'alice via HTTP' },
    { time: at(9), kind: 'Signal', signal: 'RUN', source: SPEC_EDIT },
  ]);
});

test('a stamp made stale by a later spec edit is not believed', () => {
  let r = step(mkRun(), 0);
  r = step(send(r, 'PAUSE', { by: 'alice' }), 1);
  r = step(send(r, 'RUN'), 2);
  r = step(send(r, 'PAUSE'), 3); // kubectl: alice's PAUSE stamp is still there, but two generations old
  assert.deepEqual(r.status?.transitions?.map((t) => t.source), ['alice via HTTP', SPEC_EDIT, SPEC_EDIT]);
});

test('a timed pause records its end time, and its expiry is recorded as such', () => {
  let r = step(mkRun(), 0);
  r = step(send(r, 'PAUSE', { pauseUntil: at(60), by: 'bob' }), 1);
  assert.deepEqual(r.status?.transitions?.at(-1), { time: at(1), kind: 'Signal', signal: 'PAUSE', pauseUntil: at(60), source: 'bob via HTTP' });
  // The operator hands the signal back (endTimedPause, a spec write); the next reconcile records it.
  const expiry = decide(r, [], T0 + 60_000);
  assert.ok(expiry.actions.some((a) => a.kind === 'endTimedPause'));
  assert.equal(statusOf(expiry), undefined, 'the expiry itself writes no status');
  r = step(send(r, 'RUN'), 61);
  assert.deepEqual(r.status?.transitions?.at(-1), { time: at(61), kind: 'Signal', signal: 'RUN', source: TIMED_PAUSE_ENDED });
});

test('extending a timed pause is a transition; the same signal again is not', () => {
  let r = step(mkRun({ signalState: 'PAUSE', pauseUntil: at(60) }), 0);
  assert.equal(r.status?.transitions?.length, 1);
  assert.equal(r.status?.transitions?.[0].source, 'created with this signal');
  r = step(send(r, 'PAUSE', { pauseUntil: at(120) }), 10);
  assert.equal(r.status?.transitions?.at(-1)?.pauseUntil, at(120));
  const again = decide(r, [], T0 + 20_000);
  assert.equal(statusOf(again), undefined, 'nothing new: no write');
});

test('STOP lands on the timeline at the time the run ended', () => {
  let r = step(mkRun(), 0);
  r = step(send(r, 'STOP', { by: 'carol' }), 7);
  assert.equal(r.status?.phase, 'Stopped');
  assert.deepEqual(r.status?.transitions, [{ time: at(7), kind: 'Signal', signal: 'STOP', source: 'carol via HTTP' }]);
  assert.equal(r.status?.completionTime, at(7));
});

test('gate holds and releases are recorded once each; a stop gate ending the run too', () => {
  const gates = { pauseWhen: [{ name: 'load', prometheus: { url: 'http://p', query: 'q', comparison: '> 1', interval: '5s', onError: 'Hold' as const } }] };
  const held: GateView = { held: { gate: 'load', message: 'q → 2 > 1' } };
  let r = step(mkRun({ gates }), 0, held);
  r = step(r, 3, held);
  r = step(r, 8, {});
  r = step(r, 9, { stop: { gate: 'slo', message: 'burn' } });
  assert.deepEqual(r.status?.transitions, [
    { time: at(0), kind: 'GateHeld', gate: 'load', message: 'q → 2 > 1' },
    { time: at(8), kind: 'GateReleased', gate: 'load' },
    { time: at(9), kind: 'GateStopped', gate: 'slo', message: 'burn' },
  ]);
});

test(`the list keeps the newest ${TRANSITIONS_LIMIT}`, () => {
  let r = step(mkRun({ daemonMode: true }), 0);
  for (let i = 1; i <= TRANSITIONS_LIMIT + 10; i++) r = step(send(r, i % 2 ? 'PAUSE' : 'RUN'), i);
  assert.equal(r.status?.transitions?.length, TRANSITIONS_LIMIT);
  assert.equal(r.status?.transitions?.at(-1)?.time, at(TRANSITIONS_LIMIT + 10));
});
