// 4. STOP mid-step: runs whose step Job is running get POST /runs/{ns}/{name}/STOP, one at a time;
// time from sending it until the Job is gone (deleted in the foreground, so after its pod) and the
// phase is Stopped. Timed from the send, not the response: the signal server answers only once its
// own cache shows the signal, by which time the controller has usually acted.
import { kwokStep } from '../../test/helpers/operator.ts';
import { createRuns, failed, inPhase, names, post, stepJobs, timeWrite, type Bench } from '../context.ts';
import { latency, type Figure } from '../report.ts';

export async function stopMidStep(b: Bench): Promise<Figure[]> {
  const { client, watch } = b;
  const ns = b.namespaces.main;
  const runs = names('stop', b.sizes.stops);
  await createRuns(client, ns, runs, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
  const jobs = await stepJobs(b, ns, runs, (j) => (j?.status?.active ?? 0) >= 1);
  const stoppedMs: number[] = [];
  const goneMs: number[] = [];
  const bothMs: number[] = [];
  for (const [i, name] of runs.entries()) {
    const job = jobs[i];
    const gone = watch.jobs.when(ns, job, (j) => j === undefined, 60_000, `job ${job} to be gone after STOP`);
    const stopped = watch.runs.when(ns, name, inPhase('Stopped'), 60_000, `${name} to be Stopped`);
    try {
      const { fromSend: [g, s] } = await timeWrite(() => post(`${b.operator.signalUrl}/runs/${ns}/${name}/STOP`), gone, stopped);
      goneMs.push(g);
      stoppedMs.push(s);
      bothMs.push(Math.max(g, s));
    } catch (err) {
      failed(b, err, 'signal never applied');
    }
  }
  return [
    latency('4', 'POST STOP sent → phase Stopped', stoppedMs, b.floor),
    latency('4', 'POST STOP sent → Job gone', goneMs, b.floor),
    latency('4', 'POST STOP sent → Job gone and phase Stopped', bothMs, b.floor),
  ];
}
