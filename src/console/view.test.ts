// The run view's fault spans: what the timeline's applied and reverted marks are drawn from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChaosRunStatus } from '../api/types.ts';
import { mkRun } from '../../test/helpers/run-fixture.ts';
import { faultSpans, runView } from './view.ts';

const at = (s: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + s * 1000).toISOString();
const target = { namespace: 'shop', pod: 'web-1', node: 'n0' };
const status: ChaosRunStatus = {
  phase: 'Running', iteration: 2, step: { index: 1, name: 'b' }, activeJob: 'j-2-1',
  history: [
    { iteration: 1, stepIndex: 1, step: 'b', job: 'j-1-1', result: 'Succeeded', startTime: at(0), endTime: at(30), faults: [
      { kind: 'partition', pods: 1, since: at(1), until: at(5), reason: 'Paused' },
      { kind: 'partition', pods: 1, since: at(8), until: at(30), reason: 'StepEnded' },
    ] },
    { iteration: 2, stepIndex: 0, step: 'a', job: 'j-2-0', result: 'Succeeded', startTime: at(31), endTime: at(32) },
    { iteration: 2, stepIndex: 1, step: 'b', job: 'j-2-1', result: 'Running', startTime: at(33) },
  ],
  faults: { step: 'b', kind: 'partition', targets: [target, { ...target, pod: 'web-2' }], since: at(34), leaseSeconds: 4 },
};

test('fault spans: every recorded one with both ends and its step, then the one in force with no end, oldest first', () => {
  assert.deepEqual(faultSpans(status, false), [
    { iteration: 1, stepIndex: 1, step: 'b', kind: 'partition', pods: 1, since: at(1), until: at(5), reason: 'Paused' },
    { iteration: 1, stepIndex: 1, step: 'b', kind: 'partition', pods: 1, since: at(8), until: at(30), reason: 'StepEnded' },
    { iteration: 2, stepIndex: 1, step: 'b', kind: 'partition', pods: 2, since: at(34) },
  ]);
});

test('fault spans: a finished run has none in force; a run without faults has none at all', () => {
  assert.equal(faultSpans(status, true).length, 2);
  assert.ok(faultSpans(status, true).every((f) => f.until));
  assert.deepEqual(faultSpans({}, false), []);
});

test('the run view sends each fault record once: in faultSpans, not again in history', () => {
  const view = runView({ ...mkRun(), status });
  assert.equal(view.faultSpans.length, 3);
  assert.ok(view.history.every((e) => !('faults' in e)));
  assert.equal(view.history.length, 3);
  assert.equal(status.history![0].faults!.length, 2, 'the run itself is left as it was');
});
