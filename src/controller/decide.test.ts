// Unit tests of the pure core: every rule of a run, and an exhaustive phase × signal × Job-state sweep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, REFUSED_AGAIN_WAIT_MS, type Action, type Decision, type ObservedJob } from './decide.ts';
import { jobName } from './job-name.ts';
import type { ChaosRun, ChaosRunSpec, ChaosRunStatus, Phase, Signal } from '../api/types.ts';
import { mkRun, RUN_UID } from '../../test/helpers/run-fixture.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const UID = RUN_UID;


const name = (it: number, idx: number) => jobName('r', UID, it, idx);
const job = (it: number, idx: number, state: ObservedJob['state'], extra: Partial<ObservedJob> = {}): ObservedJob =>
  ({ name: name(it, idx), iteration: it, stepIndex: idx, state, deleting: false, ...(state !== 'Active' ? { finishTime: new Date(T0 + 1000).toISOString() } : {}), ...extra });

const kinds = (d: Decision) => d.actions.map((a) => a.kind);
const statusOf = (d: Decision): ChaosRunStatus | undefined => (d.actions.find((a) => a.kind === 'writeStatus') as { status: ChaosRunStatus } | undefined)?.status;
const creates = (d: Decision) => d.actions.filter((a): a is Extract<Action, { kind: 'createJob' }> => a.kind === 'createJob');
const deletes = (d: Decision) => d.actions.filter((a): a is Extract<Action, { kind: 'deleteJob' }> => a.kind === 'deleteJob');
const events = (d: Decision) => d.actions.filter((a): a is Extract<Action, { kind: 'event' }> => a.kind === 'event').map((e) => e.reason);

/** Applies a decision's status to the run, as the API server would store it. */
function after(run: ChaosRun, d: Decision): ChaosRun {
  const s = statusOf(d);
  return s ? { ...run, status: JSON.parse(JSON.stringify(s)) as ChaosRunStatus } : run;
}

test('a new run with RUN records the first step, then creates its Job', () => {
  const d = decide(mkRun(), [], T0);
  assert.deepEqual(kinds(d)[0], 'writeStatus', 'the status (intent) is written before anything else');
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Running');
  assert.equal(s.activeJob, name(1, 0));
  assert.equal(s.observedSignal, 'RUN');
  assert.equal(s.progress, '1/1');
  assert.deepEqual(s.step, { index: 0, name: 'a' });
  assert.equal(s.history?.[0].result, 'Running');
  assert.deepEqual(creates(d).map((c) => c.name), [name(1, 0)]);
  assert.deepEqual(events(d), ['Started'], 'the step itself is told by status and, when its iteration ends, IterationCompleted');
  assert.equal(s.conditions?.find((c) => c.type === 'Running')?.status, 'True');
});

test('a run without the finalizer gets it first, before the status records a step', () => {
  const d = decide(mkRun({}, undefined, { finalizers: [] }), [], T0);
  assert.deepEqual(kinds(d).slice(0, 3), ['addFinalizer', 'writeStatus', 'createJob']);
});

test('a run created with PAUSE waits without a Job; RUN then starts step 1', () => {
  const paused = decide(mkRun({ signalState: 'PAUSE' }), [], T0);
  assert.equal(statusOf(paused)?.phase, 'Paused');
  assert.equal(creates(paused).length, 0);
  assert.deepEqual(events(paused), ['Started', 'Paused']);
  const resumed = decide({ ...after(mkRun({ signalState: 'PAUSE' }), paused), spec: mkRun().spec }, [], T0 + 5000);
  assert.equal(statusOf(resumed)?.phase, 'Running');
  assert.deepEqual(creates(resumed).map((c) => c.name), [name(1, 0)]);
  assert.ok(events(resumed).includes('Resumed'));
});

test('a run created with STOP ends at once with an empty report', () => {
  const d = decide(mkRun({ signalState: 'STOP' }), [], T0);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.report?.reason, 'Stopped');
  assert.equal(s.report?.stepsSucceeded, 0);
  assert.equal(creates(d).length, 0);
  assert.ok(kinds(d).includes('report'));
});

test('a running step with nothing new costs nothing (idempotent)', () => {
  const r = after(mkRun(), decide(mkRun(), [], T0));
  const d = decide(r, [job(1, 0, 'Active')], T0 + 100);
  assert.deepEqual(d.actions, []);
});

test('PAUSE mid-step lets the step run, starts nothing new, and resumes at the right step', () => {
  let r = after(mkRun(), decide(mkRun(), [], T0));
  r = { ...r, spec: { ...r.spec, signalState: 'PAUSE' }, metadata: { ...r.metadata, generation: 2 } };
  const paused = decide(r, [job(1, 0, 'Active')], T0 + 100);
  assert.equal(statusOf(paused)?.phase, 'Paused');
  assert.equal(statusOf(paused)?.activeJob, name(1, 0), 'the running step keeps running');
  assert.equal(deletes(paused).length, 0);
  r = after(r, paused);
  const finished = decide(r, [job(1, 0, 'Succeeded')], T0 + 2000);
  const s = statusOf(finished)!;
  assert.equal(s.phase, 'Paused');
  assert.equal(s.history?.[0].result, 'Succeeded');
  assert.deepEqual(s.step, { index: 1, name: 'b' });
  assert.equal(creates(finished).length, 0, 'no new step while paused');
  r = after(r, finished);
  const resumed = decide({ ...r, spec: { ...r.spec, signalState: 'RUN' } }, [job(1, 0, 'Succeeded')], T0 + 3000);
  assert.deepEqual(creates(resumed).map((c) => c.name), [name(1, 1)]);
});

test('STOP mid-step deletes the Job (foreground) first, records it aborted and writes the report, in one end Event', () => {
  const r = after(mkRun(), decide(mkRun(), [], T0));
  const d = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, [job(1, 0, 'Active')], T0 + 1000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.activeJob, undefined);
  assert.equal(s.history?.[0].result, 'Aborted');
  assert.equal(s.report?.stepsAborted, 1);
  assert.equal(s.report?.durationSeconds, 1);
  assert.deepEqual(deletes(d).map((x) => [x.name, x.propagation]), [[name(1, 0), 'Foreground']]);
  assert.equal(creates(d).length, 0);
  assert.deepEqual(kinds(d).slice(0, 2), ['deleteJob', 'writeStatus'], 'STOP is final: chaos ends before the bookkeeping');
  assert.deepEqual(events(d), ['Stopped']);
  const stopped = d.actions.find((a) => a.kind === 'event' && a.reason === 'Stopped') as { message: string };
  assert.match(stopped.message, /stopped by signal STOP.*\(step a \(iteration 1, job .*\) aborted: stopped by signal STOP\)$/);
});

test('a STOP whose status write did not land: the deleting Job is recorded as aborted by STOP, not deleted again', () => {
  const r = after(mkRun(), decide(mkRun(), [], T0));
  const d = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, [job(1, 0, 'Active', { deleting: true })], T0 + 1000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.history?.[0].result, 'Aborted');
  assert.equal(s.history?.[0].message, 'stopped by signal STOP');
  assert.equal(deletes(d).length, 0);
});

test('Events: about one per iteration; IterationCompleted lists the steps, a failed step warns at once', () => {
  let r = mkRun({ iterations: 2, failurePolicy: 'Continue' });
  const seen: string[] = [];
  const step = (jobs: ObservedJob[], at: number) => {
    const d = decide(r, jobs, at);
    seen.push(...events(d));
    r = after(r, d);
    return d;
  };
  step([], T0);
  step([job(1, 0, 'Succeeded')], T0 + 1000);
  const it1 = step([job(1, 0, 'Succeeded'), job(1, 1, 'Failed', { message: 'boom' })], T0 + 2000);
  const done = it1.actions.find((a) => a.kind === 'event' && a.reason === 'IterationCompleted') as { message: string };
  assert.equal(done.message, 'iteration 1 completed: a Succeeded, b Failed');
  step([job(2, 0, 'Succeeded')], T0 + 3000);
  step([job(2, 0, 'Succeeded'), job(2, 1, 'Succeeded')], T0 + 4000);
  assert.deepEqual(seen, ['Started', 'StepFailed', 'IterationCompleted', 'Completed'], '4 steps, 4 Events');
});

test('STOP during the wait between steps ends the run without a new Job', () => {
  let r = mkRun({ waitDuration: '30s' });
  r = after(r, decide(r, [], T0));
  const done = decide(r, [job(1, 0, 'Succeeded')], T0 + 2000);
  assert.equal(creates(done).length, 0, 'the wait comes first');
  // The Job finished within the whole second T0+1s (the API truncates): the wait counts from its end.
  assert.equal(statusOf(done)?.nextStepTime, new Date(T0 + 2000 + 30_000).toISOString());
  assert.equal(done.requeueAfterMs, 30_000);
  r = after(r, done);
  const stop = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, [job(1, 0, 'Succeeded')], T0 + 5000);
  assert.equal(statusOf(stop)?.phase, 'Stopped');
  assert.equal(creates(stop).length, 0);
  assert.equal(deletes(stop).length, 0);
  assert.equal(statusOf(stop)?.report?.stepsSucceeded, 1);
});

test('after the wait the next step starts', () => {
  let r = mkRun({ waitDuration: '30s' });
  r = after(r, decide(r, [], T0));
  r = after(r, decide(r, [job(1, 0, 'Succeeded')], T0 + 2000));
  assert.equal(creates(decide(r, [job(1, 0, 'Succeeded')], T0 + 31_999)).length, 0);
  assert.deepEqual(creates(decide(r, [job(1, 0, 'Succeeded')], T0 + 32_000)).map((c) => c.name), [name(1, 1)]);
});

test('the wait is never shorter than asked: it counts from when the operator saw the step end, not from the truncated condition time', () => {
  for (const realEndMs of [0, 1, 499, 999]) {
    let r = mkRun({ waitDuration: '10s' });
    r = after(r, decide(r, [], T0));
    // The step ended at T0+5s+realEndMs; the API says T0+5s (metav1.Time has whole seconds).
    const finished = [job(1, 0, 'Succeeded', { finishTime: new Date(T0 + 5000).toISOString() })];
    const seenAt = T0 + 5000 + realEndMs + 20;
    const d = decide(r, finished, seenAt);
    const next = Date.parse(statusOf(d)!.nextStepTime!);
    assert.ok(next - (T0 + 5000 + realEndMs) >= 10_000, `the wait after a step that ended ${realEndMs} ms into its second is ${next - (T0 + 5000 + realEndMs)} ms`);
    assert.equal(next, seenAt + 10_000);
    assert.equal(statusOf(d)!.history![0].endTime, new Date(T0 + 5000).toISOString(), 'history keeps the time the API reports');
    r = after(r, d);
    assert.equal(creates(decide(r, finished, next - 1)).length, 0, 'no step starts before nextStepTime');
    assert.equal(creates(decide(r, finished, next)).length, 1);
  }
  // Seen late (the operator was down): the whole wait still follows, from the operator's return.
  let r = mkRun({ waitDuration: '10s' });
  r = after(r, decide(r, [], T0));
  const late = decide(r, [job(1, 0, 'Succeeded', { finishTime: new Date(T0 + 5000).toISOString() })], T0 + 65_000);
  assert.equal(statusOf(late)?.nextStepTime, new Date(T0 + 75_000).toISOString());
});

test('2 iterations x 2 steps run in order and complete with a report', () => {
  let r = mkRun({ iterations: 2 });
  let jobs: ObservedJob[] = [];
  const created: string[] = [];
  for (let t = 0; t < 20; t++) {
    const d = decide(r, jobs, T0 + t * 1000);
    for (const c of creates(d)) { created.push(c.name); jobs = [...jobs, job(c.iteration, c.stepIndex, 'Active')]; }
    r = after(r, d);
    jobs = jobs.map((j) => (j.state === 'Active' ? { ...j, state: 'Succeeded', finishTime: new Date(T0 + t * 1000 + 500).toISOString() } : j));
    if (r.status?.phase === 'Completed') break;
  }
  assert.deepEqual(created, [name(1, 0), name(1, 1), name(2, 0), name(2, 1)]);
  assert.equal(r.status?.phase, 'Completed');
  assert.equal(r.status?.report?.iterationsCompleted, 2);
  assert.equal(r.status?.report?.stepsSucceeded, 4);
  assert.equal(r.status?.conditions?.find((c) => c.type === 'Complete')?.status, 'True');
});

test('daemon mode keeps going past iterations until STOP', () => {
  let r = mkRun({ iterations: 1, daemonMode: true, scenarios: [{ name: 'a', job: { image: 'x' } }] });
  let jobs: ObservedJob[] = [];
  for (let t = 0; t < 12; t++) {
    const d = decide(r, jobs, T0 + t * 1000);
    for (const c of creates(d)) jobs = [...jobs, job(c.iteration, c.stepIndex, 'Active')];
    r = after(r, d);
    jobs = jobs.map((j) => (j.state === 'Active' ? { ...j, state: 'Succeeded' } : j));
  }
  assert.equal(r.status?.phase, 'Running');
  assert.ok((r.status?.iteration ?? 0) >= 5);
  assert.match(r.status?.progress ?? '', /^\d+\/∞$/);
  const stop = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, jobs, T0 + 20_000);
  assert.equal(statusOf(stop)?.phase, 'Stopped');
});

test('failurePolicy Stop ends the run as Failed at the first failed step, with the reason', () => {
  let r = mkRun({ failurePolicy: 'Stop' });
  r = after(r, decide(r, [], T0));
  const d = decide(r, [job(1, 0, 'Failed', { message: 'no pod matched app=web' })], T0 + 1000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Failed');
  assert.equal(s.report?.stepsFailed, 1);
  assert.match(s.report?.message ?? '', /no pod matched app=web/);
  assert.equal(s.history?.[0].message, 'no pod matched app=web');
  assert.equal(creates(d).length, 0);
  assert.equal(s.conditions?.find((c) => c.type === 'Failed')?.status, 'True');
});

test('failurePolicy Continue records the failure and goes on', () => {
  let r = mkRun();
  r = after(r, decide(r, [], T0));
  const d = decide(r, [job(1, 0, 'Failed', { message: 'boom' })], T0 + 1000);
  assert.equal(statusOf(d)?.phase, 'Running');
  assert.equal(statusOf(d)?.counts?.failed, 1);
  assert.deepEqual(creates(d).map((c) => c.name), [name(1, 1)]);
  assert.ok(events(d).includes('StepFailed'));
});

test('STOP seen together with the last step\'s success ends the run Stopped, with the step recorded', () => {
  let r = mkRun({ scenarios: [{ name: 'a', job: { image: 'x' } }] });
  r = after(r, decide(r, [], T0));
  const d = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, [job(1, 0, 'Succeeded')], T0 + 2000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.history?.[0].result, 'Succeeded');
  assert.equal(s.report?.stepsSucceeded, 1);
  assert.equal(s.report?.iterationsCompleted, 1);
  assert.equal(deletes(d).length, 0);
});

test('a step past its timeout is failed and its Job deleted', () => {
  let r = mkRun({ scenarios: [{ name: 'a', timeout: '10s', job: { image: 'x' } }, { name: 'b', job: { image: 'x' } }] });
  r = after(r, decide(r, [], T0));
  const early = decide(r, [job(1, 0, 'Active')], T0 + 5000);
  assert.deepEqual(early.actions, []);
  assert.equal(early.requeueAfterMs, 5000);
  const late = decide(r, [job(1, 0, 'Active')], T0 + 10_000);
  assert.deepEqual(deletes(late).map((x) => x.name), [name(1, 0)]);
  assert.equal(statusOf(late)?.history?.[0].result, 'Failed');
  assert.match(statusOf(late)?.history?.[0].message ?? '', /timed out after 10s/);
  assert.deepEqual(creates(late).map((c) => c.name), [name(1, 1)]);
});

test('a timed pause hands the signal back to RUN when it runs out', () => {
  const until = new Date(T0 + 60_000).toISOString();
  const r = mkRun({ signalState: 'PAUSE', pauseUntil: until });
  const before = decide(r, [], T0);
  assert.equal(before.requeueAfterMs, 60_000);
  assert.equal(statusOf(before)?.phase, 'Paused');
  const at = decide(after(r, before), [], T0 + 60_000);
  assert.deepEqual(kinds(at).filter((k) => k !== 'event'), ['endTimedPause']);
  assert.deepEqual(events(at), ['PauseExpired']);
});

test('a finished run ignores later signals once, with an Event and a condition message', () => {
  const stopped = after(mkRun({ signalState: 'STOP' }), decide(mkRun({ signalState: 'STOP' }), [], T0));
  const r = { ...stopped, spec: { ...stopped.spec, signalState: 'RUN' as Signal }, metadata: { ...stopped.metadata, generation: 2 } };
  const d = decide(r, [], T0 + 1000);
  assert.deepEqual(events(d), ['SignalIgnored']);
  assert.equal(statusOf(d)?.phase, 'Stopped');
  assert.match(statusOf(d)?.conditions?.find((c) => c.type === 'Running')?.message ?? '', /signal RUN ignored/);
  assert.deepEqual(decide(after(r, d), [], T0 + 2000).actions, [], 'answered once');
});

test('a finished run deletes a leftover running Job (a crash between the status write and the delete)', () => {
  const stopped = after(mkRun({ signalState: 'STOP' }), decide(mkRun({ signalState: 'STOP' }), [], T0));
  const d = decide(stopped, [job(1, 0, 'Active')], T0 + 1000);
  assert.deepEqual(deletes(d).map((x) => x.name), [name(1, 0)]);
  assert.equal(creates(d).length, 0);
});

test('deleting a run deletes its running Job first, then releases the finalizer', () => {
  const r = mkRun({}, undefined, { deletionTimestamp: new Date(T0).toISOString() });
  assert.deepEqual(kinds(decide(r, [job(1, 0, 'Active')], T0)), ['deleteJob']);
  assert.deepEqual(kinds(decide(r, [job(1, 0, 'Active', { deleting: true })], T0)), []);
  assert.deepEqual(kinds(decide(r, [job(1, 0, 'Succeeded')], T0)), ['removeFinalizer']);
});

test('a crash between recording a step and creating its Job re-creates it (same name), unless paused since', () => {
  const r = after(mkRun(), decide(mkRun(), [], T0));
  assert.deepEqual(creates(decide(r, [], T0 + 10)).map((c) => c.name), [name(1, 0)]);
  const paused = decide({ ...r, spec: { ...r.spec, signalState: 'PAUSE' } }, [], T0 + 10);
  assert.equal(creates(paused).length, 0);
  assert.match(statusOf(paused)!.conditions!.find((c) => c.type === 'Paused')!.message, /step a \(iteration 1\) was about to start; it starts on RUN/);
});

test('a Job for the cursor that status does not know yet is adopted, not duplicated', () => {
  const r = mkRun({}, { phase: 'Running', iteration: 1, step: { index: 0, name: 'a' } });
  const d = decide(r, [job(1, 0, 'Active')], T0);
  assert.equal(creates(d).length, 0);
  assert.equal(statusOf(d)?.activeJob, name(1, 0));
});

test('a step Job deleted by someone else is recorded aborted and the run goes on', () => {
  const r = after(mkRun(), decide(mkRun(), [], T0));
  const d = decide(r, [job(1, 0, 'Active', { deleting: true })], T0 + 1000);
  assert.equal(statusOf(d)?.history?.[0].result, 'Aborted');
  assert.deepEqual(creates(d).map((c) => c.name), [name(1, 1)]);
});

test('finished Jobs behind the cursor beyond keepFinishedJobs are pruned', () => {
  const r = mkRun({ daemonMode: true, scenarios: [{ name: 'a', job: { image: 'x' } }] }, { phase: 'Running', iteration: 10, step: { index: 0, name: 'a' }, activeJob: name(10, 0), history: [{ iteration: 10, stepIndex: 0, step: 'a', job: name(10, 0), result: 'Running', startTime: new Date(T0).toISOString() }] });
  const old = Array.from({ length: 9 }, (_, i) => job(i + 1, 0, 'Succeeded'));
  const d = decide(r, [...old, job(10, 0, 'Active')], T0, { keepFinishedJobs: 3 });
  assert.deepEqual(deletes(d).map((x) => x.name).sort(), [1, 2, 3, 4, 5, 6].map((i) => name(i, 0)).sort());
  assert.ok(deletes(d).every((x) => x.propagation === 'Background'));
});

test('history keeps only the newest historyLimit entries', () => {
  let r = mkRun({ daemonMode: true, historyLimit: 3, scenarios: [{ name: 'a', job: { image: 'x' } }] });
  let jobs: ObservedJob[] = [];
  for (let t = 0; t < 12; t++) {
    const d = decide(r, jobs, T0 + t);
    for (const c of creates(d)) jobs = [...jobs, job(c.iteration, c.stepIndex, 'Active')];
    r = after(r, d);
    jobs = jobs.map((j) => (j.state === 'Active' ? { ...j, state: 'Succeeded' } : j));
  }
  assert.equal(r.status?.history?.length, 3);
  const its = r.status!.history!.map((h) => h.iteration);
  assert.deepEqual(its, [...its].sort((a, b) => a - b));
  assert.equal(its[2], r.status?.iteration);
});

// The exhaustive sweep: every non-final phase × signal × state of the current step's Job.
const SIGNALS: Signal[] = ['RUN', 'PAUSE', 'STOP'];
const PHASES: Array<Phase | undefined> = [undefined, 'Pending', 'Running', 'Paused'];
const JOB_STATES: Array<ObservedJob['state'] | 'none' | 'deleting'> = ['none', 'Active', 'Succeeded', 'Failed', 'deleting'];

for (const phase of PHASES) for (const signal of SIGNALS) for (const js of JOB_STATES) for (const recorded of [false, true]) {
  test(`sweep: phase ${phase ?? 'none'}, signal ${signal}, job ${js}, step ${recorded ? 'recorded' : 'not recorded'}`, () => {
    const status: ChaosRunStatus | undefined = phase === undefined ? undefined : {
      phase, iteration: 1, step: { index: 0, name: 'a' }, observedSignal: 'RUN', counts: { succeeded: 0, failed: 0, aborted: 0 },
      ...(recorded ? { activeJob: name(1, 0), history: [{ iteration: 1, stepIndex: 0, step: 'a', job: name(1, 0), result: 'Running' as const, startTime: new Date(T0).toISOString() }] } : {}),
    };
    const r = mkRun({ signalState: signal }, status);
    const jobs = js === 'none' ? [] : [job(1, 0, js === 'deleting' ? 'Active' : js, { deleting: js === 'deleting' })];
    const d = decide(r, jobs, T0 + 1000);
    const s = statusOf(d) ?? r.status;
    // A signal other than RUN never starts a step.
    if (signal !== 'RUN') assert.equal(creates(d).length, 0, 'no Job without RUN');
    // At most one Job is created, and never for a step whose Job exists.
    assert.ok(creates(d).length <= 1);
    for (const c of creates(d)) assert.ok(!jobs.some((j) => j.name === c.name && !j.deleting), 'no duplicate Job');
    // STOP always ends the run; its running Job is deleted.
    if (signal === 'STOP') {
      assert.ok(['Stopped', 'Completed', 'Failed'].includes(s!.phase!), `STOP ends the run (got ${s?.phase})`);
      if (js === 'Active') assert.equal(deletes(d).length, 1);
    }
    if (signal === 'PAUSE' && s?.phase !== 'Completed') assert.equal(s?.phase, 'Paused');
    assert.equal(s?.observedSignal, signal);
    // Idempotent: deciding again on the result changes nothing more.
    const again = decide(after(r, d), jobs.filter((j) => !deletes(d).some((x) => x.name === j.name)).concat(
      creates(d).map((c) => job(c.iteration, c.stepIndex, 'Active'))), T0 + 1000);
    assert.equal(statusOf(again), undefined, `second decision writes no status (first wrote ${JSON.stringify(statusOf(d))})`);
    assert.equal(creates(again).length, 0);
  });
}

// The dead-man switch (src/safety/dead-man.ts): renewals as actions, and a Job Kubernetes ended.
/** A run whose first step was started at T0, as the API server stores it. */
const runningStep = (spec: Partial<ChaosRunSpec> = {}) => { const r = mkRun(spec); return after(r, decide(r, [], T0)); };
const renewals = (d: Decision) => d.actions.filter((a): a is Extract<Action, { kind: 'renewDeadline' }> => a.kind === 'renewDeadline');
const started = { startTime: new Date(T0).toISOString() };

test('dead-man: a running step\'s deadline is renewed at half time, with no status write, and requeued for the next renewal', () => {
  const r = runningStep({ deadManSeconds: 20 });
  const early = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 5000);
  assert.deepEqual(kinds(early), [], 'nothing to do before half time');
  assert.equal(early.requeueAfterMs, 5000, 'wakes at the half point');
  const due = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 10_000);
  assert.deepEqual(kinds(due), ['renewDeadline'], 'one Job write, no status write');
  assert.deepEqual(renewals(due)[0], { kind: 'renewDeadline', name: name(1, 0), activeDeadlineSeconds: 30 });
  assert.equal(due.requeueAfterMs, 10_000);
});

test('dead-man: the default applies to a spec without the field; 0 turns renewals off', () => {
  const d = decide(runningStep(), [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120 })], T0 + 61_000);
  assert.equal(renewals(d)[0]?.activeDeadlineSeconds, 181);
  const off = decide(runningStep({ deadManSeconds: 0 }), [job(1, 0, 'Active', started)], T0 + 61_000);
  assert.deepEqual(kinds(off), []);
  assert.equal(off.requeueAfterMs, undefined);
});

test('dead-man: renewals go on while paused, but not for a step being stopped or a Job being deleted', () => {
  const pausedRun = runningStep({ deadManSeconds: 20 });
  const paused = decide({ ...pausedRun, spec: { ...pausedRun.spec, signalState: 'PAUSE' } }, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 15_000);
  assert.equal(renewals(paused).length, 1, 'a paused run still supervises its running step');
  const stopped = decide({ ...pausedRun, spec: { ...pausedRun.spec, signalState: 'STOP' } }, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 15_000);
  assert.equal(renewals(stopped).length, 0);
  assert.equal(deletes(stopped).length, 1);
  const gateStop = decide(runningStep({ deadManSeconds: 20 }), [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 15_000,
    { keepFinishedJobs: 5, gates: { stop: { gate: 'g', message: 'fired' } } });
  assert.equal(renewals(gateStop).length, 0);
});

test('dead-man: the renewal never passes the step timeout, and the operator\'s timeout still fires first', () => {
  const r = runningStep({ deadManSeconds: 20, scenarios: [{ name: 'a', timeout: '25s', job: { image: 'x' } }, { name: 'b', job: { image: 'x' } }] });
  const d = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 20 })], T0 + 12_000);
  assert.equal(renewals(d)[0]?.activeDeadlineSeconds, 25);
  assert.equal(d.requeueAfterMs, 13_000, 'the requeue is the timeout itself');
  const late = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 25 })], T0 + 25_000);
  assert.equal(statusOf(late)?.history?.[0].message, 'timed out after 25s');
  assert.equal(renewals(late).length, 0);
});

test('dead-man: a Job Kubernetes failed at an unrenewed deadline is recorded as ended by the switch; failurePolicy Continue goes on', () => {
  const failed = job(1, 0, 'Failed', { ...started, activeDeadlineSeconds: 30, failureReason: 'DeadlineExceeded', message: 'DeadlineExceeded: Job was active longer than specified deadline' });
  const d = decide(runningStep({ deadManSeconds: 20 }), [failed], T0 + 60_000);
  const s = statusOf(d)!;
  assert.equal(s.history?.[0].result, 'Failed');
  assert.equal(s.history?.[0].reason, 'DeadManSwitch');
  assert.match(s.history![0].message!, /dead-man switch.*deadManSeconds 20.*DeadlineExceeded, activeDeadlineSeconds 30/);
  assert.deepEqual(s.counts, { succeeded: 0, failed: 1, aborted: 0, deadManSwitch: 1 });
  assert.ok(events(d).includes('DeadManSwitch'));
  assert.ok(!events(d).includes('StepFailed'));
  // Continue: the next step starts, and the ended step is never started again.
  assert.deepEqual(creates(d).map((c) => c.name), [name(1, 1)]);
  const again = decide(after(runningStep({ deadManSeconds: 20 }), d), [failed, job(1, 1, 'Active', started)], T0 + 60_000);
  assert.equal(creates(again).length, 0);
  assert.equal(statusOf(again), undefined);
});

test('dead-man: with failurePolicy Stop the run ends Failed, and the report counts the step', () => {
  const failed = job(1, 0, 'Failed', { ...started, activeDeadlineSeconds: 30, failureReason: 'DeadlineExceeded' });
  const d = decide(runningStep({ deadManSeconds: 20, failurePolicy: 'Stop' }), [failed], T0 + 60_000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Failed');
  assert.equal(s.report?.stepsFailed, 1);
  assert.equal(s.report?.stepsEndedByDeadManSwitch, 1);
  assert.match(s.report!.message, /dead-man switch.*failurePolicy Stop/);
  assert.equal(creates(d).length, 0);
});

test('dead-man: a Job Kubernetes failed at the timeout cap is recorded as timed out, not as the switch', () => {
  const r = runningStep({ deadManSeconds: 20, scenarios: [{ name: 'a', timeout: '25s', job: { image: 'x' } }, { name: 'b', job: { image: 'x' } }] });
  const d = decide(r, [job(1, 0, 'Failed', { ...started, activeDeadlineSeconds: 25, failureReason: 'DeadlineExceeded' })], T0 + 26_000);
  const h = statusOf(d)!.history![0];
  assert.equal(h.result, 'Failed');
  assert.equal(h.reason, undefined);
  assert.match(h.message!, /^timed out after 25s/);
});

// Chaos windows: schedule gates are evaluated by decide itself (src/safety/window.ts).
const hours = (start: string, end: string, extra: Partial<ChaosRunSpec> = {}): ChaosRun =>
  mkRun({ gates: { pauseWhen: [{ name: 'office', schedule: { timeZone: 'UTC', allowed: [{ start, end }] } }] }, ...extra });

test('schedule: outside the allowed window the run holds, names the window, and wakes exactly when it opens', () => {
  const d = decide(hours('01:00', '02:00'), [], T0); // T0 is 00:00 UTC
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Paused');
  assert.equal(creates(d).length, 0);
  const gated = s.conditions?.find((c) => c.type === 'Gated');
  assert.equal(gated?.status, 'True');
  assert.equal(gated?.reason, 'office');
  assert.match(gated!.message, /outside the allowed windows \(daily 01:00-02:00 UTC\); the next opens at 2026-01-01T01:00:00.000Z/);
  assert.ok(events(d).includes('GateHeld'));
  assert.equal(d.requeueAfterMs, 3_600_000, 'requeued at the boundary, no polling');
  // Deciding again inside the hold writes nothing.
  assert.equal(statusOf(decide(after(hours('01:00', '02:00'), d), [], T0 + 60_000)), undefined);
  // At the boundary the run resumes by itself.
  const open = decide(after(hours('01:00', '02:00'), d), [], T0 + 3_600_000);
  assert.equal(statusOf(open)?.phase, 'Running');
  assert.deepEqual(creates(open).map((c) => c.name), [name(1, 0)]);
  assert.ok(events(open).includes('GateReleased'));
  assert.equal(open.requeueAfterMs, 3_600_000, 'and wakes again when the window closes');
});

test('schedule: when the window closes mid-step the step finishes and nothing new starts', () => {
  const r0 = hours('00:00', '00:10');
  const r1 = after(r0, decide(r0, [], T0));
  const d = decide(r1, [job(1, 0, 'Succeeded', { finishTime: new Date(T0 + 11 * 60_000).toISOString() })], T0 + 11 * 60_000);
  assert.equal(statusOf(d)?.history?.[0].result, 'Succeeded');
  assert.equal(creates(d).length, 0);
  assert.equal(statusOf(d)?.phase, 'Paused');
});

test('schedule: a blackout as a stopWhen gate ends the run; an unknown time zone holds (the safe side)', () => {
  const r = mkRun({ gates: { stopWhen: [{ name: 'release', schedule: { timeZone: 'UTC', blackout: [{ date: '2026-01-01', start: '00:00', end: '06:00' }] } }] } });
  const d = decide(r, [], T0 + 1000);
  assert.equal(statusOf(d)?.phase, 'Stopped');
  assert.match(statusOf(d)!.report!.message, /stopped by gate release: inside blackout window 2026-01-01 00:00-06:00 UTC/);
  const bad = decide(mkRun({ gates: { pauseWhen: [{ name: 'w', schedule: { timeZone: 'Nowhere/City', allowed: [{ start: '00:00', end: '24:00' }] } }] } }), [], T0);
  assert.equal(statusOf(bad)?.phase, 'Paused');
  assert.match(statusOf(bad)!.conditions!.find((c) => c.type === 'Gated')!.message, /unknown time zone "Nowhere\/City"/);
});

test('schedule: a far boundary is reached in requeues of at most a day', () => {
  const r = mkRun({ gates: { pauseWhen: [{ name: 'later', schedule: { timeZone: 'UTC', allowed: [{ date: '2026-06-01', start: '00:00', end: '01:00' }] } }] } });
  assert.equal(decide(r, [], T0).requeueAfterMs, 86_400_000);
});

// Dry runs: every rule holds, but each step is recorded with its plan instead of a Job.
test('dry run: a step is recorded at once with the shell\'s plan, no Job; waits and iterations still apply', () => {
  const r0 = mkRun({ dryRun: true, waitDuration: '10s' });
  const d = decide(r0, [], T0, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 0, ok: true, plan: 'would create Job ns/x: image x' } });
  assert.equal(creates(d).length, 0);
  const s = statusOf(d)!;
  assert.deepEqual(s.history?.map((h) => [h.step, h.result, h.reason, h.message]), [['a', 'Succeeded', 'DryRun', 'dry run: would create Job ns/x: image x']]);
  assert.equal(s.activeJob, undefined);
  assert.equal(s.phase, 'Running');
  assert.equal(s.conditions?.find((c) => c.type === 'Running')?.reason, 'DryRun');
  assert.ok(events(d).includes('DryRun'));
  assert.equal(d.requeueAfterMs, 10_000, 'the wait between steps still applies');
  // During the wait: nothing; after it, step b with its own plan, and the run completes as a dry run.
  const r1 = after(r0, d);
  assert.equal(statusOf(decide(r1, [], T0 + 5000, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 1, ok: true, plan: 'p' } }))?.history?.length ?? 1, 1);
  const d2 = decide(r1, [], T0 + 10_000, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 1, ok: true, plan: 'p' } });
  const s2 = statusOf(d2)!;
  assert.equal(s2.phase, 'Completed');
  assert.equal(s2.report?.dryRun, true);
  assert.match(s2.report!.message, /^dry run: all 1 iteration\(s\) completed/);
  assert.equal(creates(d2).length, 0);
});

test('dry run: a step that would fail follows failurePolicy; PAUSE and gates hold a dry run too', () => {
  const d = decide(mkRun({ dryRun: true, failurePolicy: 'Stop' }), [], T0, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 0, ok: false, plan: 'podKill would fail: no pod matched (namespace shop, labels app=web)' } });
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Failed');
  assert.equal(s.history?.[0].result, 'Failed');
  assert.equal(s.history?.[0].reason, 'DryRun');
  assert.match(s.report!.message, /^dry run: step a .* failed: dry run: podKill would fail: no pod matched/);
  const paused = decide(mkRun({ dryRun: true, signalState: 'PAUSE' }), [], T0, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 0, ok: true, plan: 'p' } });
  assert.equal(statusOf(paused)?.phase, 'Paused');
  assert.equal(statusOf(paused)?.history, undefined);
  const gated = decide(mkRun({ dryRun: true }), [], T0, { keepFinishedJobs: 5, gates: { held: { gate: 'g', message: 'm' } }, dryRunPlan: { stepIndex: 0, ok: true, plan: 'p' } });
  assert.equal(statusOf(gated)?.history, undefined);
  // A plan for another step (a stale one) is never recorded for this one.
  const stale = decide(mkRun({ dryRun: true }), [], T0, { keepFinishedJobs: 5, dryRunPlan: { stepIndex: 1, ok: true, plan: 'p' } });
  assert.match(statusOf(stale)!.history![0].message!, /no plan was computed/);
});

test('a refused step is recorded as Refused; the next starts at once, but after two refused in a row it waits (no hot loop of failures)', () => {
  const refusedJob = (it: number, idx: number): ObservedJob =>
    ({ name: name(it, idx), iteration: it, stepIndex: idx, state: 'Failed', deleting: false, refused: true, message: 'the API server refused the step\'s Job: image: Required value' });
  let run = mkRun({ daemonMode: true, failurePolicy: 'Continue' });
  run = after(run, decide(run, [], T0)); // intent of step a, iteration 1

  // The first refusal: recorded, and the next step's intent follows at once.
  let d = decide(run, [refusedJob(1, 0)], T0 + 10);
  let status = statusOf(d)!;
  assert.deepEqual(status.history!.map((h) => [h.step, h.result, h.reason]), [['a', 'Failed', 'Refused'], ['b', 'Running', undefined]]);
  assert.equal(status.nextStepTime, undefined);
  assert.deepEqual(creates(d).map((c) => c.name), [name(1, 1)]);
  assert.deepEqual(events(d), ['StepRefused']);
  run = after(run, d);

  // The second in a row: recorded, then the run waits REFUSED_AGAIN_WAIT_MS before the next step.
  d = decide(run, [refusedJob(1, 1)], T0 + 20);
  status = statusOf(d)!;
  assert.equal(status.history!.at(-1)!.reason, 'Refused');
  assert.equal(status.nextStepTime, new Date(T0 + 20 + REFUSED_AGAIN_WAIT_MS).toISOString());
  assert.deepEqual(creates(d), [], 'no next step yet');
  assert.equal(d.requeueAfterMs, REFUSED_AGAIN_WAIT_MS);
  run = after(run, d);

  // At the wait's end the next step starts; a step that really ran and failed resets nothing special.
  d = decide(run, [], T0 + 20 + REFUSED_AGAIN_WAIT_MS);
  assert.deepEqual(creates(d).map((c) => c.name), [name(2, 0)]);
});

// status.faults: the running step's lasting faults, shown while the agents hold them.
const holderFault = { kind: 'partition', leaseSeconds: 4, targets: [{ namespace: 'shop', pod: 'web-1', node: 'real-node-0' }] };

test('faults: a running step whose holder names its targets shows them in force, once; the same again writes nothing', () => {
  const r = runningStep();
  const d = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 1000);
  const s = statusOf(d)!;
  assert.deepEqual(s.faults, { step: r.spec.scenarios[0].name, kind: 'partition', targets: holderFault.targets, since: new Date(T0 + 1000).toISOString(), leaseSeconds: 4 });
  assert.equal(s.faultSummary, 'partition on 1 pod');
  const shown = after(r, d);
  const again = decide(shown, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 5000);
  assert.equal(statusOf(again), undefined, 'nothing changed: no status write, and the since stays');
});

test('faults: PAUSE, STOP, a holder without targets and the step\'s end take them out of status', () => {
  const r = runningStep();
  const shown = after(r, decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 1000));
  assert.ok(shown.status?.faults);
  const paused = decide({ ...shown, spec: { ...shown.spec, signalState: 'PAUSE' } }, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 2000);
  assert.equal(statusOf(paused)?.faults, undefined);
  assert.equal(statusOf(paused)?.faultSummary, undefined);
  const stopped = decide({ ...shown, spec: { ...shown.spec, signalState: 'STOP' } }, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 2000);
  assert.equal(statusOf(stopped)?.faults, undefined);
  const noTargets = decide(shown, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120 })], T0 + 2000);
  assert.equal(statusOf(noTargets)?.faults, undefined);
  const ended = decide(shown, [job(1, 0, 'Succeeded', { ...started, finishTime: new Date(T0 + 3000).toISOString(), fault: holderFault })], T0 + 3000);
  assert.equal(statusOf(ended)?.faults, undefined);
  const moved = decide(shown, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: { ...holderFault, targets: [{ namespace: 'shop', pod: 'web-2', node: 'real-node-0' }] } })], T0 + 4000);
  assert.equal(statusOf(moved)?.faults?.since, new Date(T0 + 4000).toISOString(), 'other targets: a new since');
});

test('faults: a node agent that refuses the fault fails the step at once with its one line, and its Job goes', () => {
  const r = runningStep();
  const refused = { ...holderFault, confirmed: false, refused: [{ node: 'real-node-0', namespace: 'shop', pod: 'web-1', reason: 'this kernel lacks the numgen expression' }] };
  const d = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: refused })], T0 + 1000);
  assert.deepEqual(deletes(d).map((a) => a.name), [name(1, 0)], 'the holder\'s Job is deleted: the other nodes let go');
  const step = statusOf(d)!.history!.find((h) => h.iteration === 1 && h.stepIndex === 0)!;
  assert.equal(step.result, 'Failed');
  assert.equal(step.message, 'node real-node-0 cannot inject partition on shop/web-1: this kernel lacks the numgen expression');
  assert.equal(statusOf(d)!.faults, undefined, 'nothing shown in force');
  // Under STOP the refusal changes nothing: the STOP ends the step as always.
  const stopping = decide({ ...r, spec: { ...r.spec, signalState: 'STOP' } }, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: refused })], T0 + 1000);
  assert.ok(!statusOf(stopping)?.history?.some((h) => /cannot inject/.test(h.message ?? '')));
});

test('faults: with the agents\' reports read, status says on how many targets the fault is in force; the summary says so while it is fewer', () => {
  const r = runningStep();
  const two = { ...holderFault, targets: [...holderFault.targets, { namespace: 'shop', pod: 'web-2', node: 'real-node-1' }] };
  const partly = statusOf(decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: { ...two, confirmed: false, inForce: 1 } })], T0 + 1000))!;
  assert.equal(partly.faults?.inForce, 1);
  assert.equal(partly.faultSummary, 'partition on 2 pods, 1 in force');
  const all = statusOf(decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: { ...two, confirmed: true, inForce: 2 } })], T0 + 1000))!;
  assert.equal(all.faults?.inForce, 2);
  assert.equal(all.faultSummary, 'partition on 2 pods');
  const unread = statusOf(decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: two })], T0 + 1000))!;
  assert.equal(unread.faults?.inForce, undefined, 'no reports read: not claimed either way');
});

test('faults: with the agents\' reports read, the step is looked at again within a second until every target is in force, then every 5 s', () => {
  const r = runningStep();
  const waiting = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: { ...holderFault, confirmed: false } })], T0 + 1000);
  assert.ok(waiting.requeueAfterMs !== undefined && waiting.requeueAfterMs <= 1000, `requeue ${waiting.requeueAfterMs}`);
  const held = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: { ...holderFault, confirmed: true } })], T0 + 1000);
  assert.ok(held.requeueAfterMs !== undefined && held.requeueAfterMs <= 5000 && held.requeueAfterMs > 1000, `requeue ${held.requeueAfterMs}`);
  const unread = decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault: holderFault })], T0 + 1000);
  assert.ok(unread.requeueAfterMs === undefined || unread.requeueAfterMs > 5000, 'no reports read: no polling for them');
});

test('a STOP seen together with a step failure that ends the run (failurePolicy Stop) still ends it Stopped, the step recorded Failed', () => {
  const r = runningStep({ failurePolicy: 'Stop' });
  const stopped = { ...r, spec: { ...r.spec, signalState: 'STOP' as const } };
  const d = decide(stopped, [job(1, 0, 'Failed', { ...started, finishTime: new Date(T0 + 5000).toISOString(), message: 'boom' })], T0 + 6000);
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.report?.reason, 'Stopped');
  assert.equal(s.history?.at(-1)?.result, 'Failed');
});

// history[].faults: each fault that was in force and was reverted, with both ends, for the timeline.
const active = (fault = holderFault, extra: Partial<ObservedJob> = {}) => job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, fault, ...extra });
const at = (ms: number) => new Date(T0 + ms).toISOString();

test('fault records: PAUSE reverts (recorded with both ends), RUN applies again (a new since), STOP reverts; each once', () => {
  let r = runningStep();
  r = after(r, decide(r, [active()], T0 + 1000));
  assert.equal(r.status?.history?.[0].faults, undefined, 'in force: status.faults only');
  const paused = decide({ ...r, spec: { ...r.spec, signalState: 'PAUSE' } }, [active()], T0 + 4000);
  r = after({ ...r, spec: { ...r.spec, signalState: 'PAUSE' } }, paused);
  assert.deepEqual(r.status?.history?.[0].faults, [{ kind: 'partition', pods: 1, since: at(1000), until: at(4000), reason: 'Paused' }]);
  assert.equal(r.status?.faults, undefined);
  assert.equal(statusOf(decide(r, [active()], T0 + 5000)), undefined, 'paused, nothing new: no write, no second record');
  r = { ...r, spec: { ...r.spec, signalState: 'RUN' } };
  r = after(r, decide(r, [active()], T0 + 6000));
  assert.equal(r.status?.faults?.since, at(6000), 'applied again: a new since');
  assert.equal(r.status?.history?.[0].faults?.length, 1);
  r = { ...r, spec: { ...r.spec, signalState: 'STOP' } };
  const stopped = decide(r, [active()], T0 + 9000);
  const s = statusOf(stopped)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.faults, undefined);
  assert.deepEqual(s.history?.[0].faults?.map((f) => [f.since, f.until, f.reason]), [[at(1000), at(4000), 'Paused'], [at(6000), at(9000), 'Stopped']]);
});

test('fault records: the step\'s end is recorded at the step\'s endTime; other targets and a holder gone are told apart', () => {
  const r = after(runningStep(), decide(runningStep(), [active()], T0 + 1000));
  const ended = statusOf(decide(r, [job(1, 0, 'Succeeded', { ...started, finishTime: at(30_000), fault: holderFault })], T0 + 30_400))!;
  assert.deepEqual(ended.history?.[0].faults, [{ kind: 'partition', pods: 1, since: at(1000), until: at(30_000), reason: 'StepEnded' }]);
  assert.equal(ended.history?.[0].result, 'Succeeded');
  // A Job's finish time is truncated to the second: never before the fault's own start.
  const early = statusOf(decide(r, [job(1, 0, 'Failed', { ...started, finishTime: at(0), fault: holderFault })], T0 + 1500))!;
  assert.equal(early.history?.[0].faults?.[0].until, at(1500));
  const timedOut = statusOf(decide(after(runningStep({ scenarios: [{ name: 'a', timeout: '10s', job: { image: 'x' } }] }),
    decide(runningStep({ scenarios: [{ name: 'a', timeout: '10s', job: { image: 'x' } }] }), [active()], T0 + 1000)), [active()], T0 + 10_000))!;
  assert.equal(timedOut.history?.[0].faults?.[0].reason, 'StepEnded');
  const moved = statusOf(decide(r, [active({ ...holderFault, targets: [{ namespace: 'shop', pod: 'web-2', node: 'n' }, { namespace: 'shop', pod: 'web-3', node: 'n' }] })], T0 + 2000))!;
  assert.deepEqual(moved.history?.[0].faults?.map((f) => [f.reason, f.pods]), [['Retargeted', 1]]);
  assert.equal(moved.faults?.targets.length, 2);
  const gone = statusOf(decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120 })], T0 + 2000))!;
  assert.equal(gone.history?.[0].faults?.[0].reason, 'HolderGone');
});

test('faults: the targets as the API server gives them back (keys in another order) are the same targets: no new since, no write', () => {
  const r = after(runningStep(), decide(runningStep(), [active()], T0 + 1000));
  const stored = structuredClone(r);
  stored.status!.faults!.targets = stored.status!.faults!.targets.map(({ namespace, node, pod }) => ({ namespace, node, pod }));
  assert.equal(statusOf(decide(stored, [active()], T0 + 2000)), undefined);
});

test('fault records: a holder that could not be read keeps what status shows, neither reverted nor begun again', () => {
  const r = after(runningStep(), decide(runningStep(), [active()], T0 + 1000));
  assert.equal(statusOf(decide(r, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, faultUnread: true })], T0 + 2000)), undefined);
  const fresh = runningStep();
  assert.equal(statusOf(decide(fresh, [job(1, 0, 'Active', { ...started, activeDeadlineSeconds: 120, faultUnread: true })], T0 + 2000))?.faults, undefined);
});

test('fault records: a stopWhen gate ends the run and its faults (none left in force on a finished run)', () => {
  const r = after(runningStep(), decide(runningStep(), [active()], T0 + 1000));
  const d = decide(r, [active()], T0 + 3000, { keepFinishedJobs: 5, gates: { stop: { gate: 'slo', message: 'burning' } } });
  const s = statusOf(d)!;
  assert.equal(s.phase, 'Stopped');
  assert.equal(s.faults, undefined);
  assert.equal(s.faultSummary, undefined);
  assert.deepEqual(s.history?.[0].faults?.map((f) => f.reason), ['Stopped']);
  // A gate firing in the very pass that first sees the fault: not in force, never recorded.
  const first = statusOf(decide(runningStep(), [active()], T0 + 1000, { keepFinishedJobs: 5, gates: { stop: { gate: 'slo', message: 'burning' } } }))!;
  assert.equal(first.faults, undefined);
  assert.equal(first.history?.[0].faults, undefined);
});

test('fault records: a step keeps the newest FAULT_RECORDS_LIMIT', () => {
  let r = runningStep();
  for (let i = 0; i < 25; i++) {
    r = after({ ...r, spec: { ...r.spec, signalState: 'RUN' } }, decide({ ...r, spec: { ...r.spec, signalState: 'RUN' } }, [active()], T0 + 1000 + i * 2000));
    r = after({ ...r, spec: { ...r.spec, signalState: 'PAUSE' } }, decide({ ...r, spec: { ...r.spec, signalState: 'PAUSE' } }, [active()], T0 + 2000 + i * 2000));
  }
  const faults = r.status!.history![0].faults!;
  assert.equal(faults.length, 20);
  assert.equal(faults.at(-1)?.since, at(1000 + 24 * 2000));
  assert.equal(faults[0].since, at(1000 + 5 * 2000));
});
