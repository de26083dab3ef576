// Unit tests of the reconcile shell on plain objects (a Map for each cache, a recording client): the
// order writes go out in, what stops a pass, the outcome each ending is classified as, and a Job the
// API server refuses becoming its step's failure. Whether this works with Kubernetes itself is for the
// integration tests under test/controller/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Job } from '@kubernetes/client-node';
import type { ChaosRun } from '../api/types.ts';
import { KubeError, type ApiClient, type CallOptions, type Method } from '../kube/client.ts';
import type { Store } from '../kube/informer.ts';
import { createLogger } from '../log.ts';
import { jobName } from './job-name.ts';
import { cachedJob, lastLineOf, observeJob, Reconciler, type ReconcilerOptions } from './reconciler.ts';
import { renderJob } from './render-job.ts';
import { mkRun, RUN_UID } from '../../test/helpers/run-fixture.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const UID = RUN_UID;


function store<T extends { metadata?: { name?: string; namespace?: string } }>(items: T[]): Store<T> {
  return {
    get: (name, namespace) => items.find((i) => i.metadata?.name === name && i.metadata?.namespace === namespace),
    list: (namespace) => items.filter((i) => namespace === undefined || i.metadata?.namespace === namespace),
  };
}

interface Call { method: Method; path: string; body?: unknown }

/** Records every request; `answer` may throw a KubeError for a call, else writes echo their body with a new resourceVersion. */
function recordingClient(answer: (c: Call, n: number) => unknown = () => undefined): ApiClient & { calls: Call[]; writes: () => string[] } {
  const calls: Call[] = [];
  let rv = 10;
  return {
    calls,
    writes: () => calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path.replace('/apis/chaosrun.dev/v1alpha1/namespaces/ns/', '').replace('/apis/batch/v1/namespaces/ns/', '').replace('/api/v1/namespaces/ns/', '')}`),
    async request<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
      const call = { method, path, body: options.body };
      calls.push(call);
      const answered = answer(call, calls.length);
      if (answered !== undefined) return answered as T;
      const body = structuredClone(options.body ?? {}) as { metadata?: Record<string, unknown> };
      if (method === 'PATCH' && path.includes('chaosruns')) {
        return { ...mkRun(), metadata: { ...mkRun().metadata, ...body.metadata, resourceVersion: String(++rv) } } as T;
      }
      if (body.metadata) body.metadata.resourceVersion = String(++rv);
      return body as T;
    },
  };
}

const silent = createLogger('test', 'silent');

function reconciler(run: ChaosRun | undefined, client: ApiClient, extra: Partial<ReconcilerOptions> = {}): Reconciler {
  return new Reconciler({
    client, runs: store(run ? [run] : []), jobs: store<V1Job>([]),
    render: { operatorImage: 'op', scenarioServiceAccount: 'sa' }, keepFinishedJobs: 5, log: silent,
    canAct: () => true, now: () => NOW, random: () => 0.5, resyncMs: 300_000, ...extra,
  });
}

const conflict = new KubeError(409, 'Conflict', 'the object has been modified');
const invalid = new KubeError(422, 'Invalid', 'Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value');

describe('Reconciler', () => {
  it('writes in order: finalizer, status (the step\'s intent), the step\'s Job, then Events', async () => {
    const client = recordingClient();
    const outcome = await reconciler(mkRun({}, undefined, { finalizers: [] }), client).reconcile('ns/r');
    assert.deepEqual(client.writes(), [
      'PATCH chaosruns/r', 'PUT chaosruns/r/status', 'POST jobs', 'POST events',
    ]);
    const status = (client.calls[1].body as ChaosRun).status!;
    assert.equal(status.activeJob, jobName('r', UID, 1, 0));
    assert.equal((client.calls[1].body as ChaosRun).metadata.resourceVersion, '11', 'the status write carries the finalizer patch\'s resourceVersion');
    assert.deepEqual(outcome, { kind: 'ok', requeueAfterMs: 300_000 }, 'an unfinished run keeps the slow fallback');
  });

  it('stops at a conflict: no Job, no Event, and the outcome is a conflict (not a hot retry)', async () => {
    const client = recordingClient((c) => { if (c.method === 'PUT') throw conflict; });
    const outcome = await reconciler(mkRun(), client).reconcile('ns/r');
    assert.deepEqual(client.writes(), ['PUT chaosruns/r/status']);
    assert.deepEqual(outcome, { kind: 'conflict' });
  });

  it('checks canAct before every write', async () => {
    let allowed = 2;
    const client = recordingClient();
    const outcome = await reconciler(mkRun({}, undefined, { finalizers: [] }), client, { canAct: () => allowed-- > 0 }).reconcile('ns/r');
    assert.deepEqual(client.writes(), ['PATCH chaosruns/r', 'PUT chaosruns/r/status'], 'leadership lost before the Job create');
    assert.equal(outcome.kind, 'ok');
  });

  it('classifies a retryable failure as an error and a refused status write as terminal', async () => {
    const unavailable = await reconciler(mkRun(), recordingClient((c) => { if (c.method === 'PUT') throw new KubeError(503, 'ServiceUnavailable', 'down'); })).reconcile('ns/r');
    assert.equal(unavailable.kind, 'error');
    const refused = await reconciler(mkRun(), recordingClient((c) => { if (c.method === 'PUT') throw invalid; })).reconcile('ns/r');
    assert.equal(refused.kind, 'terminal');
    assert.equal((refused as { requeueAfterMs?: number }).requeueAfterMs, 300_000, 'no retry but the slow fallback');
    const bug = await reconciler(mkRun(), recordingClient((c) => { if (c.method === 'PUT') throw new TypeError('x is undefined'); })).reconcile('ns/r');
    assert.equal(bug.kind, 'error');
  });

  it('returns requeueAfter when the run asks to wake up, nothing more for a finished run, ok for a missing one', async () => {
    const name = jobName('r', UID, 1, 0);
    const waiting = mkRun({}, {
      phase: 'Running', iteration: 1, step: { index: 1, name: 'b' }, nextStepTime: new Date(NOW + 4000).toISOString(),
      history: [{ iteration: 1, stepIndex: 0, step: 'a', job: name, result: 'Succeeded', startTime: new Date(NOW - 9000).toISOString() }],
    });
    const client = recordingClient();
    const outcome = await reconciler(waiting, client).reconcile('ns/r');
    assert.deepEqual(outcome, { kind: 'requeueAfter', requeueAfterMs: 4000 });
    const finished = await reconciler(mkRun({}, { phase: 'Completed', observedGeneration: 1 }), recordingClient()).reconcile('ns/r');
    assert.deepEqual(finished, { kind: 'ok' });
    assert.deepEqual(await reconciler(undefined, recordingClient()).reconcile('ns/r'), { kind: 'ok' });
  });

  it('jitters the slow fallback by ±10 %', async () => {
    const low = await reconciler(mkRun(), recordingClient(), { random: () => 0 }).reconcile('ns/r');
    const high = await reconciler(mkRun(), recordingClient(), { random: () => 1 }).reconcile('ns/r');
    assert.deepEqual([low, high].map((o) => (o as { requeueAfterMs: number }).requeueAfterMs), [270_000, 330_000]);
  });

  it('a step Job the API server refuses is the step\'s failure, with the server\'s message; the run follows its failurePolicy', async () => {
    const client = recordingClient((c) => { if (c.method === 'POST' && c.path.endsWith('/jobs')) throw invalid; });
    const outcome = await reconciler(mkRun({ failurePolicy: 'Stop' }), client).reconcile('ns/r');
    assert.equal(outcome.kind, 'terminal');
    const puts = client.calls.filter((c) => c.method === 'PUT').map((c) => (c.body as ChaosRun).status!);
    assert.equal(puts.length, 2, 'intent, then the failure');
    assert.equal(puts[0].activeJob, jobName('r', UID, 1, 0));
    const step = puts[1].history!.find((h) => h.stepIndex === 0)!;
    assert.equal(step.result, 'Failed');
    assert.equal(step.reason, 'Refused', 'the shell marks the Job it could not create as refused');
    assert.match(step.message!, /the API server refused the step's Job: .*image: Required value/);
    assert.equal(puts[1].phase, 'Failed');
    assert.equal(client.writes().filter((w) => w === 'POST jobs').length, 1, 'the refused Job is not sent again');
  });

  it('with failurePolicy Continue the next step starts after a refused one', async () => {
    let n = 0;
    const client = recordingClient((c) => { if (c.method === 'POST' && c.path.endsWith('/jobs') && n++ === 0) throw invalid; });
    await reconciler(mkRun(), client).reconcile('ns/r');
    const last = (client.calls.filter((c) => c.method === 'PUT').at(-1)!.body as ChaosRun).status!;
    assert.equal(last.phase, 'Running');
    assert.equal(last.activeJob, jobName('r', UID, 1, 1));
    assert.equal(last.counts?.failed, 1);
    assert.equal(client.writes().filter((w) => w === 'POST jobs').length, 2);
  });
});

describe('STOP while a step runs', () => {
  it('the Job deletion goes first and the status write goes out without waiting for its answer; a failed delete fails the pass', async () => {
    const name = jobName('r', UID, 1, 0);
    const stopping = mkRun({ signalState: 'STOP' }, {
      phase: 'Running', iteration: 1, step: { index: 0, name: 'a' }, activeJob: name, observedSignal: 'RUN', observedGeneration: 1,
      history: [{ iteration: 1, stepIndex: 0, step: 'a', job: name, result: 'Running', startTime: new Date(NOW - 5000).toISOString() }],
    });
    stopping.metadata.generation = 2;
    const running = cachedJob(renderJob(stopping, name, 1, 0, { operatorImage: 'op', scenarioServiceAccount: 'sa' })) as V1Job;
    running.metadata!.namespace = 'ns';
    const sent: string[] = [];
    const gate: { answerDelete?: () => void } = {};
    let failDelete = false;
    const client: ApiClient = {
      async request<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
        sent.push(`${method} ${path.split('/').slice(-2).join('/')}`);
        if (method === 'DELETE') {
          await new Promise<void>((r) => { gate.answerDelete = r; });
          if (failDelete) throw new KubeError(503, 'ServiceUnavailable', 'etcd leader changed');
        }
        return (method === 'PUT' ? options.body : {}) as T;
      },
    };
    const r = reconciler(stopping, client, { jobs: store([running]) });
    const pass = r.reconcile('ns/r');
    for (let i = 0; i < 100 && !sent.some((c) => c.startsWith('PUT')); i++) await new Promise((res) => setImmediate(res));
    assert.equal(sent[0], `DELETE jobs/${name}`, 'the deletion that ends chaos is sent first');
    assert.ok(sent.indexOf('PUT r/status') > 0, 'the status write went out while the delete is unanswered');
    gate.answerDelete!();
    const outcome = await pass;
    assert.equal(outcome.kind, 'ok');

    sent.length = 0;
    failDelete = true;
    delete gate.answerDelete;
    const again = r.reconcile('ns/r');
    const delivered = () => gate.answerDelete;
    while (!delivered()) await new Promise((res) => setImmediate(res));
    delivered()!();
    assert.equal((await again).kind, 'error', 'retried with backoff');
  });
});

describe('Jobs created but not yet in the cache', () => {
  // The status write that records a step wakes the run again, usually before the Job's watch event.
  it('the pass that follows its own status write does not POST the step\'s Job again; past the wait, or once seen and gone, it does', async () => {
    let now = NOW;
    const runs: ChaosRun[] = [mkRun({ scenarios: [{ name: 'a', job: { image: 'x' } }] })];
    const jobs: V1Job[] = [];
    const client = recordingClient((c) => {
      // The status write answers with what was written, as the API server does.
      if (c.method === 'PUT') return { ...(c.body as ChaosRun), metadata: { ...(c.body as ChaosRun).metadata, resourceVersion: '99' } };
      return undefined;
    });
    const r = reconciler(undefined, client, { runs: store(runs), jobs: store(jobs), now: () => now });
    const posts = () => client.writes().filter((w) => w === 'POST jobs').length;
    await r.reconcile('ns/r');
    assert.equal(posts(), 1, 'the step\'s Job is created');
    const written = client.calls.find((c) => c.method === 'PUT')!.body as ChaosRun;
    runs[0] = written; // the runs cache has the status write; the Jobs cache has not seen the Job yet

    now += 2_000;
    await r.reconcile('ns/r');
    assert.equal(posts(), 1, 'not POSTed again while the cache catches up');

    now += 15_000;
    await r.reconcile('ns/r');
    assert.equal(posts(), 2, 'a create the cache never shows is tried again: the step is not lost');

    // Seen, then gone (someone deleted it): the expectation is over, so the Job is made again at once.
    const job = client.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/jobs')).at(-1)!.body as V1Job;
    jobs.push(job);
    now += 1_000;
    await r.reconcile('ns/r');
    assert.equal(posts(), 2, 'the cache shows it');
    jobs.pop();
    await r.reconcile('ns/r');
    assert.equal(posts(), 3, 'gone from the cache after it was seen: created again');
  });
});

describe('the run this process just wrote, while the runs cache shows an older one', () => {
  it('the next pass decides on the written run (no second status PUT for a 409); a newer cached run wins; past the wait, the cache', async () => {
    let now = NOW;
    const runs: ChaosRun[] = [mkRun({ scenarios: [{ name: 'a', job: { image: 'x' } }] })];
    let rv = 98;
    const client = recordingClient((c) => {
      // The status write answers with what was written, as the API server does, at a newer resourceVersion.
      if (c.method === 'PUT') return { ...(c.body as ChaosRun), metadata: { ...(c.body as ChaosRun).metadata, resourceVersion: String(++rv) } };
      return undefined;
    });
    const r = reconciler(undefined, client, { runs: store(runs), now: () => now });
    const puts = () => client.writes().filter((w) => w === 'PUT chaosruns/r/status').length;
    await r.reconcile('ns/r');
    assert.equal(puts(), 1, 'the step\'s intent is written');
    const written = client.calls.find((c) => c.method === 'PUT')!.body as ChaosRun;

    now += 100;
    await r.reconcile('ns/r'); // woken by the Job's event; the runs cache still has resourceVersion 1
    assert.equal(puts(), 1, 'decided on its own write: nothing to write again');

    // Someone's PAUSE, newer than the write: the cache is what counts again.
    runs[0] = { ...written, metadata: { ...written.metadata, resourceVersion: '200' }, spec: { ...written.spec, signalState: 'PAUSE' } };
    await r.reconcile('ns/r');
    assert.equal(puts(), 2, 'the newer cached run (PAUSE) is decided on');
    assert.equal((client.calls.filter((c) => c.method === 'PUT').at(-1)!.body as ChaosRun).metadata.resourceVersion, '200');

    // A cache that never shows the write (a stalled watch): after the wait the cached copy is used, and
    // the API server's conflict (here: a PUT on an old resourceVersion) is the safety net.
    runs[0] = mkRun({ scenarios: [{ name: 'a', job: { image: 'x' } }] });
    now += 100;
    await r.reconcile('ns/r');
    const before = puts();
    now += 15_001;
    await r.reconcile('ns/r');
    assert.equal(puts(), before + 1, 'the stale cache is decided on again once the wait is over');
    assert.equal((client.calls.filter((c) => c.method === 'PUT').at(-1)!.body as ChaosRun).metadata.resourceVersion, '1');
  });
});

describe('the Job cache transform', () => {
  it('keeps everything observeJob and jobsOf read, and drops the pod template', () => {
    const job = renderJob(mkRun(), jobName('r', UID, 2, 1), 2, 1, { operatorImage: 'op', scenarioServiceAccount: 'sa' });
    job.metadata!.uid = 'job-uid';
    job.metadata!.resourceVersion = '77';
    job.metadata!.deletionTimestamp = '2026-01-01T00:01:00Z' as unknown as Date;
    job.status = {
      startTime: '2026-01-01T00:00:00Z' as unknown as Date,
      conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'boom', lastTransitionTime: '2026-01-01T00:00:30Z' as unknown as Date, lastProbeTime: 'x' as unknown as Date }],
    };
    const view = cachedJob(structuredClone(job)) as V1Job;
    assert.deepEqual(observeJob(view), observeJob(job));
    assert.equal(view.metadata?.ownerReferences?.[0].uid, UID, 'jobsOf matches the owner by uid');
    assert.deepEqual(view.metadata?.labels, job.metadata?.labels);
    assert.deepEqual(view.spec, { activeDeadlineSeconds: job.spec!.activeDeadlineSeconds, template: {} }, 'the dead-man switch reads the deadline; the pod template goes');
    assert.ok(JSON.stringify(view).length < JSON.stringify(job).length * 0.7, `${JSON.stringify(view).length} of ${JSON.stringify(job).length} bytes kept`);
  });
});

it('a failed step\'s message is the last line that says something, without terminal colours (krkn\'s log, its banner last)', () => {
  const krkn = '2026-12-03 18:40:16,756 [\x1b[31mERROR\x1b[0m] Post scenarios are still failing at the end of all iterations\x1b[0m\n   _         _\n  |_|\\_\\_|  |_|\\_\\_| |_|\n\n';
  assert.equal(lastLineOf(krkn), '2026-12-03 18:40:16,756 [ERROR] Post scenarios are still failing at the end of all iterations');
  assert.equal(lastLineOf('no pod matched (namespace shop, labels app=web)\n'), 'no pod matched (namespace shop, labels app=web)');
  assert.equal(lastLineOf('  |_|\n'), undefined);
});
