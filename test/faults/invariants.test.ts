// The campaign's invariants on hand-made records: a correct run passes every check, and each
// deliberately broken record is caught by the check it breaks (a check that cannot fail proves nothing).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChaosRun, StepRecord } from '../../src/api/types.ts';
import {
  checkRun, lastWriteWins, no5xx, OPERATOR_BOUND_MS, parseReplicaLog, pauseWindows, singleDriver, whoseTurn,
  type JobRecord, type RunRecord, type SignalRecord, type Violation,
} from '../../faults/invariants.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const job = (it: number, idx: number, createdS: number, extra: Partial<JobRecord> = {}): JobRecord =>
  ({ name: `r-abcde-${it}-${idx}`, uid: `u-${it}-${idx}`, iteration: it, stepIndex: idx, created: T0 + Math.floor(createdS) * 1000, pods: 1, outcome: 'Succeeded', ...extra });
const entry = (it: number, idx: number, startS: number, endS: number | undefined, result: StepRecord['result'] = 'Succeeded'): StepRecord =>
  ({ iteration: it, stepIndex: idx, step: `s${idx}`, job: `r-abcde-${it}-${idx}`, result, startTime: at(startS), ...(endS !== undefined ? { endTime: at(endS) } : {}) });
const sig = (signal: SignalRecord['signal'], sentS: number, answeredS: number, accepted = true): SignalRecord =>
  ({ signal, via: 'patch', sentAt: T0 + sentS * 1000, answeredAt: T0 + answeredS * 1000, status: accepted ? 200 : 503, accepted });

/** 2 iterations of 2 steps of 1 s with a 1 s wait, completed at 8 s. */
function completed(): RunRecord {
  const history = [entry(1, 0, 0.1, 1), entry(1, 1, 2.05, 3), entry(2, 0, 4.02, 5), entry(2, 1, 6.1, 7)];
  const run: ChaosRun = {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
    metadata: { name: 'r', namespace: 'ns', uid: 'abcde-1' },
    spec: { signalState: 'RUN', iterations: 2, daemonMode: false, waitDuration: '1s', publishStatus: true, failurePolicy: 'Continue', historyLimit: 50,
      scenarios: [{ name: 's0' }, { name: 's1' }] },
    status: {
      phase: 'Completed', observedSignal: 'RUN', iteration: 2, step: { index: 1, name: 's1' }, startTime: at(0), completionTime: at(7.2),
      counts: { succeeded: 4, failed: 0, aborted: 0 }, iterationsCompleted: 2, history,
      report: { reason: 'Completed', message: 'all 2 iteration(s) completed', iterationsCompleted: 2, stepsSucceeded: 4, stepsFailed: 0, stepsAborted: 0,
        startTime: at(0), endTime: at(7.2), durationSeconds: 7.2, gatedSeconds: 0 },
    },
  };
  return { key: 'ns/r', run, jobs: [job(1, 0, 0.1), job(1, 1, 2.05), job(2, 0, 4.02), job(2, 1, 6.1)], signals: [] };
}

const names = (vs: Violation[]) => [...new Set(vs.map((v) => v.invariant))].sort();

describe('campaign invariants', () => {
  it('a correct completed run passes every check', () => {
    assert.deepEqual(checkRun(completed()), []);
  });

  it('a step run twice (its Job deleted and created again) is caught', () => {
    const r = completed();
    r.jobs.push(job(1, 1, 2.5, { uid: 'second' }));
    assert.deepEqual(names(checkRun(r)), ['oneJobPerStep']);
  });

  it('a Job with two pods, or a step twice in history, is caught', () => {
    const r = completed();
    r.jobs[0].pods = 2;
    assert.deepEqual(names(checkRun(r)), ['oneJobPerStep']);
    const h = completed();
    h.run.status!.history!.push(entry(1, 0, 7.5, 7.6));
    assert.ok(names(checkRun(h)).includes('oneJobPerStep'));
  });

  it('a skipped step, a step before the wait ended, and a Job without history are caught', () => {
    const skipped = completed();
    skipped.run.status!.history!.splice(1, 1);
    assert.ok(names(checkRun(skipped)).includes('stepsInOrder'));
    const early = completed();
    early.run.status!.history![1].startTime = at(1.5);
    assert.deepEqual(names(checkRun(early)), ['stepsInOrder']);
    const orphan = completed();
    orphan.jobs.push({ ...job(3, 0, 7), name: 'r-abcde-3-0' });
    assert.deepEqual(names(checkRun(orphan)), ['stepsInOrder']);
  });

  it('report counts that disagree with history or Jobs are caught', () => {
    const r = completed();
    r.run.status!.report!.stepsSucceeded = 3;
    assert.deepEqual(names(checkRun(r)), ['reportMatches']);
    const j = completed();
    j.jobs[2].outcome = 'Failed';
    assert.deepEqual(names(checkRun(j)), ['reportMatches']);
    const short = completed();
    short.run.status!.history!.pop();
    short.run.status!.report!.stepsSucceeded = 3;
    short.run.status!.counts!.succeeded = 3;
    short.jobs.pop();
    assert.deepEqual(names(checkRun(short)), ['reportMatches']);
  });

  it('an accepted STOP that did not end the run, or a step after it, is caught', () => {
    const ignored = completed();
    ignored.signals = [sig('STOP', 3.1, 3.2)];
    assert.deepEqual(names(checkRun(ignored)), ['stopEnds']);
    const late = completed();
    late.signals = [sig('STOP', 8, 8.1)];
    assert.deepEqual(checkRun(late), [], 'a STOP after the run completed is no violation');
    const refused = completed();
    refused.signals = [sig('STOP', 3.1, 3.2, false)];
    assert.deepEqual(checkRun(refused), [], 'a refused STOP (503) promises nothing');
  });

  it('a Job created after the run ended is caught', () => {
    const r = completed();
    r.run.status!.phase = 'Stopped';
    r.run.status!.report!.reason = 'Stopped';
    r.jobs.push(job(2, 1, 9, { uid: 'late', name: 'r-abcde-2-1' }));
    r.signals = [sig('STOP', 7, 7.1)];
    assert.ok(checkRun(r).some((v) => v.invariant === 'stopEnds' && v.detail.includes('after the run ended')));
  });

  it('a step started during an accepted PAUSE is caught; before or after it is not', () => {
    const r = completed();
    r.signals = [sig('PAUSE', 1.5, 1.6), sig('RUN', 3.5, 3.6)];
    assert.deepEqual(names(checkRun(r)), ['pauseHolds']);
    r.signals = [sig('PAUSE', 2.1, 2.2), sig('RUN', 3.5, 3.6)];
    assert.deepEqual(checkRun(r), []);
  });

  it('a Job created during a PAUSE beyond the timestamp slack is caught', () => {
    const r = completed();
    r.jobs[1].created = T0 + 5000; // its step was recorded at 2.05 s, the PAUSE answered at 2.2 s
    r.signals = [sig('PAUSE', 2.1, 2.2), sig('RUN', 6.5, 6.6)];
    assert.deepEqual(names(checkRun(r)), ['pauseHolds']);
  });

  it('pause windows end where a racing RUN may have won', () => {
    assert.deepEqual(pauseWindows([sig('PAUSE', 1, 2), sig('RUN', 1.5, 2.5)]), []);
    assert.deepEqual(pauseWindows([sig('RUN', 0, 0.5), sig('PAUSE', 1, 2), sig('RUN', 4, 5)]), [{ from: T0 + 2000, until: T0 + 4000 }]);
  });

  it('a run left unfinished is caught', () => {
    const r = completed();
    r.run.status!.phase = 'Running';
    delete r.run.status!.report;
    assert.deepEqual(names(checkRun(r)), ['settles']);
  });

  it('settles judges the operator only from its turn: a Job the plane has not completed is the plane\'s lag', () => {
    const r = completed();
    r.run.status = { ...r.run.status!, phase: 'Running', activeJob: 'r-abcde-2-1', nextStepTime: undefined };
    delete r.run.status!.report;
    // The step's pod ended, but the Job controller has not marked the Job Complete yet: the plane's move.
    r.jobs[3] = { ...r.jobs[3], outcome: undefined, podEndedAt: T0 + 7000 };
    const turn = whoseTurn(r.run, r.jobs, T0 + 8000);
    assert.equal(turn?.waiting, 'plane');
    assert.deepEqual(names(checkRun({ ...r, waitingOnPlane: turn?.waiting === 'plane' ? turn.why : undefined })), []);
    // Once the Job reports its outcome, it is the operator's move, timed from that moment.
    r.jobs[3] = { ...r.jobs[3], outcome: 'Succeeded', outcomeSeenAt: T0 + 60_000 };
    assert.deepEqual(whoseTurn(r.run, r.jobs, T0 + 8000), { waiting: 'operator', since: T0 + 60_000 });
    assert.deepEqual(names(checkRun(r)), ['settles'], 'left on its turn, the operator is blamed');
    // A run waiting between steps is the operator's from the end of the wait; a lost Job at once.
    r.run.status = { ...r.run.status!, activeJob: undefined, nextStepTime: at(90) };
    assert.deepEqual(whoseTurn(r.run, r.jobs, T0), { waiting: 'operator', since: T0 + 90_000 });
    r.run.status = { ...r.run.status!, activeJob: 'r-abcde-3-0', nextStepTime: undefined };
    assert.deepEqual(whoseTurn(r.run, r.jobs, T0 + 5), { waiting: 'operator', since: T0 + 5 });
    assert.equal(whoseTurn(completed().run, completed().jobs, T0), undefined, 'a final run has no turn');
    assert.ok(OPERATOR_BOUND_MS <= 30_000, 'the operator\'s bound stays tight');
  });

  it('racing writers: the final signal must be a possible last write, and the phase must follow it', () => {
    const r = completed().run;
    r.spec.signalState = 'PAUSE';
    r.status = { ...r.status, phase: 'Paused', observedSignal: 'PAUSE' };
    assert.deepEqual(lastWriteWins('ns/r', r, [sig('RUN', 0, 1), sig('PAUSE', 0.5, 1.5)]), []);
    assert.deepEqual(names(lastWriteWins('ns/r', r, [sig('PAUSE', 0, 1), sig('RUN', 2, 3)])), ['lastWriteWins']);
    r.status.phase = 'Running';
    assert.deepEqual(names(lastWriteWins('ns/r', r, [sig('PAUSE', 0, 1)])), ['lastWriteWins']);
  });

  it('5xx answers are counted', () => {
    assert.deepEqual(no5xx('x', [200, 404, 400]), []);
    assert.deepEqual(no5xx('x', [200, 503, 503, 500]).map((v) => v.detail), ['2 answer(s) with HTTP 503', '1 answer(s) with HTTP 500']);
  });

  it('leader logs: two creators of one Job, or a superseded leader still creating, are caught', () => {
    const line = (msg: string, s: number, job?: string) => JSON.stringify({ level: 30, time: at(s), msg, ...(job ? { job } : {}) });
    const a = parseReplicaLog('a', [line('became leader', 0), line('step job created', 1, 'j1'), 'not json', line('step job created', 2, 'j2')].join('\n'), T0 + 3000);
    const b = parseReplicaLog('b', [line('became leader', 6), line('step job created', 7, 'j3')].join('\n'));
    assert.deepEqual(a.creates.map((c) => c.job), ['j1', 'j2']);
    assert.deepEqual(singleDriver([a, b]), []);
    const twice = parseReplicaLog('b', [line('became leader', 6), line('step job created', 7, 'j2')].join('\n'));
    assert.deepEqual(names(singleDriver([a, twice])), ['singleDriver']);
    const overlap = parseReplicaLog('a', [line('became leader', 0), line('step job created', 6.5, 'j9')].join('\n'), T0 + 10_000);
    assert.deepEqual(names(singleDriver([overlap, b])), ['singleDriver']);
    const follower = parseReplicaLog('c', line('step job created', 1, 'j7'));
    assert.deepEqual(names(singleDriver([follower])), ['singleDriver']);
  });
});
