// waitDuration is never short: measured against the real control plane with millisecond precision.
// The API keeps a Job's completion time in whole seconds, so the test times both ends itself, from one
// watch on the run's Jobs: when it sees a step's Job complete and when it sees the next step's Job
// appear. Both arrive on the same watch stream, in order, so their delivery lags cancel out but for a
// few milliseconds of jitter (TOLERANCE_MS).
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningController } from '../../src/controller/manager.ts';
import { Informer } from '../../src/kube/informer.ts';
import { paths } from '../../src/kube/paths.ts';
import { testEnv } from '../helpers/env.ts';
import { createRun, inProcessController, kwokStep, quietLog, waitForPhase } from '../helpers/operator.ts';

interface JobLike { metadata: { name: string; namespace: string; labels: Record<string, string> }; status?: { conditions?: Array<{ type: string; status: string }> } }

const WAIT_MS = 2000;
const TOLERANCE_MS = 20;

const env = await testEnv('wait');
const { client, namespace: ns } = env;
let controller: RunningController;
before(async () => { controller = await inProcessController(env); });
after(async () => { await controller.stop(); });

it(`waitDuration: ${WAIT_MS / 1000}s: a step starts no sooner than ${WAIT_MS} ms after the previous one ended`, async () => {
  const completedAt = new Map<number, number>();
  const addedAt = new Map<number, number>();
  const jobs = new Informer<JobLike>(client, { path: (n) => paths.jobs(n), namespaces: [ns], labelSelector: 'chaosrun.dev/run=waiter', log: quietLog(), name: 'jobs' });
  const step = (j: JobLike) => Number(j.metadata.labels['chaosrun.dev/step-index']);
  jobs.on('add', (j) => { if (!addedAt.has(step(j))) addedAt.set(step(j), Date.now()); });
  jobs.on('update', (j) => {
    if (!completedAt.has(step(j)) && j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) completedAt.set(step(j), Date.now());
  });
  await jobs.start();
  try {
    await createRun(client, ns, 'waiter', { waitDuration: `${WAIT_MS / 1000}s`, scenarios: [kwokStep('a', 1), kwokStep('b', 1), kwokStep('c', 1), kwokStep('d', 1)] });
    await waitForPhase(client, ns, 'waiter', ['Completed'], 120_000);
  } finally {
    jobs.stop();
  }
  const gaps = [1, 2, 3].map((i) => addedAt.get(i)! - completedAt.get(i - 1)!);
  console.log(`waits between steps (ms, asked ${WAIT_MS}): ${gaps.join(', ')}`);
  for (const gap of gaps) {
    assert.ok(gap >= WAIT_MS - TOLERANCE_MS, `a wait of ${gap} ms is shorter than the ${WAIT_MS} ms asked`);
    // The operator's reaction and the Job create, on a busy machine.
    assert.ok(gap < WAIT_MS + 4000, `a wait of ${gap} ms is far longer than the ${WAIT_MS} ms asked`);
  }
});
