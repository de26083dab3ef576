// Unit tests of the pure gate pieces: comparisons, rollout detection, and the gate rules in decide().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, parseComparison } from './comparison.ts';
import { rollingOut } from './rollout.ts';
import { alertsQuery } from './prometheus.ts';
import { decide, type Decision } from '../controller/decide.ts';
import type { ChaosRun, ChaosRunStatus } from '../api/types.ts';
import { FINALIZER } from '../api/constants.ts';

test('comparisons parse and compare like the CRD says', () => {
  assert.deepEqual(parseComparison('> 0.8'), { kind: 'threshold', op: '>', value: 0.8 });
  assert.deepEqual(parseComparison('>=1e3'), { kind: 'threshold', op: '>=', value: 1000 });
  assert.deepEqual(parseComparison('any'), { kind: 'any' });
  for (const bad of ['>', '0.8', '=> 1', 'gt 1', '> abc', '']) assert.throws(() => parseComparison(bad), /invalid comparison/);
  assert.equal(compare(parseComparison('> 0.8'), [0.1, 0.9]).true, true);
  assert.equal(compare(parseComparison('> 0.8'), [0.1, 0.8]).true, false);
  assert.equal(compare(parseComparison('== 0'), []).true, false);
  assert.equal(compare(parseComparison('any'), [1]).true, true);
  assert.equal(compare(parseComparison('none'), []).true, true);
  assert.match(compare(parseComparison('> 0.8'), [0.95]).seen, /0\.95 > 0\.8/);
});

test('the alerts query is krkn\'s critical-alerts check', () => {
  assert.equal(alertsQuery('critical'), 'ALERTS{alertstate="firing", severity=~"critical"}');
  assert.equal(alertsQuery('critical|warning', 'namespace="prod"'), 'ALERTS{alertstate="firing", severity=~"critical|warning", namespace="prod"}');
});

test('rollouts: unobserved generation, unupdated or unavailable replicas', () => {
  const settled = { metadata: { generation: 2 }, spec: { replicas: 3 }, status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 } };
  assert.equal(rollingOut('Deployment', settled), undefined);
  assert.match(rollingOut('Deployment', { ...settled, metadata: { generation: 3 } })!, /generation 3 not yet observed/);
  assert.match(rollingOut('Deployment', { ...settled, status: { ...settled.status, updatedReplicas: 1 } })!, /1\/3 replicas updated/);
  assert.match(rollingOut('Deployment', { ...settled, status: { ...settled.status, replicas: 4 } })!, /1 old replicas/);
  assert.match(rollingOut('Deployment', { ...settled, status: { ...settled.status, availableReplicas: 2 } })!, /2\/3 replicas available/);
  assert.match(rollingOut('StatefulSet', { ...settled, status: { ...settled.status, currentRevision: 'a', updateRevision: 'b' } })!, /revision b/);
  const ds = { metadata: { generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1 } };
  assert.match(rollingOut('DaemonSet', ds)!, /1\/2 pods available/);
});

const T0 = Date.parse('2026-01-01T00:00:00Z');
const gated = (signalState: 'RUN' | 'PAUSE' | 'STOP', status?: ChaosRunStatus): ChaosRun => ({
  apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
  metadata: { name: 'g', namespace: 'ns', uid: 'u-1', generation: 1, finalizers: [FINALIZER] },
  spec: {
    signalState, iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus: true, failurePolicy: 'Continue', historyLimit: 50,
    scenarios: [{ name: 'a', job: { image: 'x' } }],
    gates: { pauseWhen: [{ name: 'load', prometheus: { url: 'http://p', query: 'q', comparison: '> 1', interval: '1s', onError: 'Hold' } }] },
  },
  ...(status ? { status } : {}),
});
const st = (d: Decision) => (d.actions.find((a) => a.kind === 'writeStatus') as { status: ChaosRunStatus } | undefined)?.status;
const reasons = (d: Decision) => d.actions.flatMap((a) => (a.kind === 'event' ? [a.reason] : []));
const held = { held: { gate: 'load', message: 'q → 2 > 1' } };

test('a held pause gate starts no step, pauses the run with reason Gated, and counts the time', () => {
  const d = decide(gated('RUN'), [], T0, { keepFinishedJobs: 5, gates: held });
  assert.equal(d.actions.some((a) => a.kind === 'createJob'), false);
  const s = st(d)!;
  assert.equal(s.phase, 'Paused');
  assert.equal(s.observedSignal, 'RUN', 'the signal is untouched');
  assert.equal(s.gatedSince, new Date(T0).toISOString());
  assert.deepEqual(s.conditions!.find((c) => c.type === 'Gated'), { type: 'Gated', status: 'True', reason: 'load', message: 'q → 2 > 1', lastTransitionTime: new Date(T0).toISOString(), observedGeneration: 1 });
  assert.equal(s.conditions!.find((c) => c.type === 'Paused')?.reason, 'Gated');
  assert.ok(reasons(d).includes('GateHeld'));
  // Released 10 s later: the step starts, the time is counted, an Event says so.
  const r = decide({ ...gated('RUN'), status: s }, [], T0 + 10_000, { keepFinishedJobs: 5, gates: {} });
  assert.ok(r.actions.some((a) => a.kind === 'createJob'));
  assert.equal(st(r)!.gatedSeconds, 10);
  assert.equal(st(r)!.gatedSince, undefined);
  assert.equal(st(r)!.conditions!.find((c) => c.type === 'Gated')?.status, 'False');
  assert.ok(reasons(r).includes('GateReleased'));
});

test('explicit signals win over gates: STOP ends a gated run; RUN does not override a held gate', () => {
  const s = st(decide(gated('RUN'), [], T0, { keepFinishedJobs: 5, gates: held }))!;
  const stop = st(decide({ ...gated('STOP'), status: s }, [], T0 + 5000, { keepFinishedJobs: 5, gates: held }))!;
  assert.equal(stop.phase, 'Stopped');
  assert.equal(stop.report?.gatedSeconds, 5);
  const run = decide({ ...gated('RUN'), status: s }, [], T0 + 5000, { keepFinishedJobs: 5, gates: held });
  assert.equal(run.actions.some((a) => a.kind === 'createJob'), false);
});

test('a firing stop gate ends the run as Stopped and the report names it', () => {
  const d = decide(gated('RUN'), [], T0, { keepFinishedJobs: 5, gates: { stop: { gate: 'alerts', message: 'ALERTS → 1 series' } } });
  const s = st(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.match(s.report!.message, /stopped by gate alerts: ALERTS → 1 series/);
});
