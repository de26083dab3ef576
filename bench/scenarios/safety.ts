// 9. Safety: the kill switch and the dead-man switch, measured.
// - Kill switch: N runs each with a running step get one POST /STOP (the broadcast `kubectl chaosrun
//   stop --all -A` shares); time until no step pod of any run is running (polled from the API server,
//   every pod labelled chaosrun.dev/run in every namespace) and until every run is Stopped.
// - Dead-man renewal cost: Job PATCHes per minute per running step (the controller's own counter),
//   against 120 / deadManSeconds.
// - Dead-man detection: SIGKILL the controller during a long step; time until Kubernetes fails the
//   Job (DeadlineExceeded). The controller is started again and must record the step as ended by the
//   switch. Runs last: it kills the controller.
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { LABEL_RUN } from '../../src/api/constants.ts';
import { paths } from '../../src/kube/paths.ts';
import { renewalsPerMinute } from '../../src/safety/dead-man.ts';
import { kwokStep } from '../../test/helpers/operator.ts';
import { total } from '../metrics.ts';
import { createRuns, inPhase, names, post, sleep, stepJobs, type Bench } from '../context.ts';
import { value, type Figure } from '../report.ts';

/** Step pods of any run that still run (Pending or Running, terminating or not). */
async function runningStepPods(b: Bench): Promise<number> {
  const pods = await b.client.request<{ items: V1Pod[] }>('GET', paths.pods(), { query: { labelSelector: LABEL_RUN } });
  return pods.items.filter((p) => ['Pending', 'Running'].includes(p.status?.phase ?? 'Pending')).length;
}

async function killSwitch(b: Bench, n: number): Promise<Figure[]> {
  const ns = b.namespaces.safety;
  const runs = names(`kill${n}`, n);
  await createRuns(b.client, ns, runs, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
  await stepJobs(b, ns, runs, (j) => (j?.status?.active ?? 0) >= 1);
  const running = await runningStepPods(b);
  const stopped = b.watch.runs.whenAll(ns, runs, inPhase('Stopped'), 120_000, `${n} runs Stopped after POST /STOP`);
  const sent = performance.now();
  const answer = await post(`${b.operator.signalUrl}/STOP`);
  const answered = performance.now();
  let noPods = 0;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (await runningStepPods(b) === 0) { noPods = performance.now(); break; }
    await sleep(50);
  }
  if (!noPods) b.failures.push(`kill switch (${n} runs): step pods still running 120 s after POST /STOP`);
  const allStopped = await stopped;
  // Who did it: the signal server records a SignalReceived Event on every run it stopped.
  const events = await b.client.request<{ items: Array<{ reason: string; message: string; involvedObject: { name: string } }> }>('GET', paths.events(ns));
  const recorded = new Set(events.items.filter((e) => e.reason === 'SignalReceived' && /^signal STOP from /.test(e.message)).map((e) => e.involvedObject.name));
  const unrecorded = runs.filter((r) => !recorded.has(r));
  if (unrecorded.length) b.failures.push(`kill switch (${n} runs): no SignalReceived Event naming who sent STOP on ${unrecorded.length} run(s)`);
  b.details[`killSwitch${n}`] = { runningStepPodsBefore: running, answer: answer.trim(), signalReceivedEvents: recorded.size };
  return [
    value('9', `kill switch, ${n} runs: POST /STOP → answered`, 's', (answered - sent) / 1000, 1, answer.trim()),
    value('9', `kill switch, ${n} runs: POST /STOP → no step pod running`, 's', ((noPods || performance.now()) - sent) / 1000, 1, `${running} step pods running before`),
    value('9', `kill switch, ${n} runs: POST /STOP → every run Stopped`, 's', (allStopped - sent) / 1000),
  ];
}

async function renewalCost(b: Bench, runsCount: number, deadManSeconds: number, seconds: number): Promise<Figure[]> {
  const ns = b.namespaces.safety;
  const runs = names(`renew${deadManSeconds}`, runsCount);
  await createRuns(b.client, ns, runs, { daemonMode: true, deadManSeconds, scenarios: [kwokStep('hold', 3600)] });
  await stepJobs(b, ns, runs, (j) => (j?.status?.active ?? 0) >= 1);
  const renewals = async () => total((await b.operator.scrape()).controller, 'chaosrun_deadman_renewals_total');
  const before = await renewals();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const count = (await renewals()) - before;
  const minutes = (performance.now() - t0) / 60_000;
  for (const r of runs) await post(`${b.operator.signalUrl}/runs/${ns}/${r}/STOP`);
  return [value('9', `dead-man renewal: Job writes per minute per running step (deadManSeconds ${deadManSeconds})`, '/min', count / runsCount / minutes, count,
    `${runsCount} running steps for ${seconds} s; expected 120 / deadManSeconds = ${renewalsPerMinute(deadManSeconds)}; at the default 120 s: ${renewalsPerMinute(120)}`)];
}

async function detection(b: Bench, deadManSeconds: number): Promise<Figure[]> {
  const { client } = b;
  const ns = b.namespaces.safety;
  await createRuns(client, ns, ['deadman'], { deadManSeconds, scenarios: [kwokStep('hold', 3600), kwokStep('after', 1)] });
  const [job] = await stepJobs(b, ns, ['deadman'], (j) => (j?.status?.active ?? 0) >= 1);
  // Let it renew once: the deadline is then at most deadManSeconds after the kill.
  await b.watch.jobs.when(ns, job, (j) => (j?.spec?.activeDeadlineSeconds ?? 0) > deadManSeconds, deadManSeconds * 2000, 'a renewal');
  await b.operator.killController();
  const killed = performance.now();
  const failedAt = await b.watch.jobs.when(ns, job, (j: V1Job | undefined) =>
    Boolean(j?.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True' && c.reason === 'DeadlineExceeded')), (deadManSeconds + 60) * 1000, 'the Job failed by DeadlineExceeded');
  const detected = (failedAt - killed) / 1000;
  await b.operator.restartController();
  await b.watch.runs.when(ns, 'deadman', inPhase('Completed', 'Failed'), 60_000, 'the restarted controller to finish the run');
  const first = b.watch.runs.get(ns, 'deadman')?.status?.history?.[0];
  if (first?.reason !== 'DeadManSwitch') b.failures.push(`dead-man: the restarted controller recorded ${JSON.stringify(first)}, not reason DeadManSwitch`);
  return [value('9', `dead-man detection: controller SIGKILLed → Job failed (DeadlineExceeded), deadManSeconds ${deadManSeconds}`, 's', detected, 1,
    `expected: between ${deadManSeconds / 2} and ${deadManSeconds + 1} s (renewed at half time) plus the Job controller's latency`)];
}

export async function safety(b: Bench, quick: boolean): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const n of [10, 100]) figures.push(...await killSwitch(b, n));
  figures.push(...await renewalCost(b, 10, 10, quick ? 30 : 120));
  figures.push(...await detection(b, 10));
  return figures;
}
