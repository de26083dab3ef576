// 3. Resume lag: runs paused between two steps (PAUSE lands while the first step runs, so it finishes
// and nothing new starts), then RUN: time until the next step's Job exists.
import type { ChaosRun } from '../../src/api/types.ts';
import { jobName } from '../../src/controller/job-name.ts';
import { kwokStep, signal } from '../../test/helpers/operator.ts';
import { createRuns, failed, inPhase, names, stepJobs, timeWrite, type Bench } from '../context.ts';
import { latency, type Figure } from '../report.ts';

const betweenSteps = (r: ChaosRun | undefined) => r?.status?.phase === 'Paused' && !r.status.activeJob && r.status.step?.index === 1;

export async function resumeLag(b: Bench): Promise<Figure[]> {
  const { client, watch } = b;
  const ns = b.namespaces.main;
  const runs = names('resume', b.sizes.resumes);
  const spec = { daemonMode: true, scenarios: [kwokStep('first', 2), kwokStep('next', 3600)] };
  await createRuns(client, ns, runs, spec);
  await stepJobs(b, ns, runs, (j) => j !== undefined);
  const paused = watch.runs.whenAll(ns, runs, betweenSteps, 120_000, 'resume runs to be paused between steps');
  await Promise.all(runs.map((name) => signal(client, ns, name, 'PAUSE')));
  const samples: number[] = [];
  try {
    await paused;
    for (const name of runs) {
      const run = watch.runs.get(ns, name)!;
      const next = jobName(name, run.metadata.uid, run.status!.iteration!, 1);
      const created = watch.jobs.when(ns, next, (j) => j !== undefined, 60_000, `job ${next} after RUN`);
      samples.push(...(await timeWrite(() => signal(client, ns, name, 'RUN'), created)).fromResponse);
    }
  } catch (err) {
    failed(b, err, 'signal never applied');
  }
  const stopped = watch.runs.whenAll(ns, runs, inPhase('Stopped'), 120_000, 'resume runs to be Stopped');
  await Promise.all(runs.map((name) => signal(client, ns, name, 'STOP')));
  await stopped.catch((err: unknown) => failed(b, err, 'lost run'));
  return [latency('3', 'resume lag: RUN answered → next step\'s Job exists', samples, b.floor)];
}
