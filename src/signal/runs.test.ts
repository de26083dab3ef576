// krkn's GET / over many runs, as a pure function of the runs in scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChaosRun, Phase, Signal } from '../api/types.ts';
import { stateText } from './runs.ts';

const run = (name: string, signalState: Signal, phase?: Phase) =>
  ({ metadata: { name, namespace: 'ns' }, spec: { signalState }, status: phase ? { phase } : undefined }) as ChaosRun;

test('GET / answers from the unfinished runs while there are any', () => {
  assert.equal(stateText([run('live', 'PAUSE', 'Paused'), run('old', 'STOP', 'Stopped')]), 'PAUSE');
  assert.equal(stateText([run('live', 'RUN', 'Running'), run('done', 'RUN', 'Completed'), run('old', 'STOP', 'Stopped')]), 'RUN');
  // A run not yet seen by the controller (no phase) is unfinished.
  assert.equal(stateText([run('new', 'RUN'), run('old', 'STOP', 'Stopped')]), 'RUN');
  assert.equal(stateText([run('a', 'PAUSE', 'Paused'), run('b', 'RUN', 'Running'), run('old', 'STOP', 'Stopped')]), 'ns/a PAUSE\nns/b RUN\n');
});

test('GET / answers from all runs once every run has finished, marking each with its phase in a listing', () => {
  assert.equal(stateText([run('a', 'STOP', 'Stopped'), run('b', 'STOP', 'Stopped')]), 'STOP');
  assert.equal(stateText([run('a', 'RUN', 'Completed'), run('b', 'STOP', 'Stopped')]), 'ns/a RUN (Completed)\nns/b STOP (Stopped)\n');
});

test('GET / with no runs says so in one line', () => {
  assert.equal(stateText([]), 'no ChaosRuns in scope\n');
});
