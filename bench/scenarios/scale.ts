// 5. Scale: many daemon runs in one namespace. Time until all are Running, the controller's RSS and
// CPU while they run, one broadcast POST /STOP until all are Stopped, and the API requests the
// controller made per step started, by verb (from its own chaosrun_api_requests_total).
import { kwokStep } from '../../test/helpers/operator.ts';
import { createRuns, failed, inPhase, names, post, sleep, type Bench } from '../context.ts';
import { delta } from '../metrics.ts';
import { read } from '../operator.ts';
import { distribution, value, type Figure } from '../report.ts';
import { settle } from './idle.ts';

const IN_FLIGHT = 20;

export async function scale(b: Bench): Promise<Figure[]> {
  const { client, watch } = b;
  const ns = b.namespaces.scale;
  const { runs: count, stepSeconds, holdSeconds } = b.sizes.scale;
  const runs = names('run', count);
  const spec = { daemonMode: true, waitDuration: '0s', scenarios: ['one', 'two', 'three'].map((s) => kwokStep(s, stepSeconds)) };
  const timeoutMs = 60_000 + count * 600;
  const start = await read(b.operator);
  const t0 = performance.now();
  const running = watch.runs.whenAll(ns, runs, inPhase('Running'), timeoutMs, `all ${count} runs to be Running`);
  await createRuns(client, ns, runs, spec, IN_FLIGHT);
  const created = performance.now();
  const figures: Figure[] = [value('5', `create ${count} runs (${IN_FLIGHT} in flight)`, 's', (created - t0) / 1000)];
  try {
    figures.push(value('5', `first create → all ${count} Running`, 's', (await running - t0) / 1000));
  } catch (err) {
    failed(b, err, 'lost run');
  }
  // While they run: RSS once a second, CPU over the window.
  const hold = await read(b.operator);
  const rss: number[] = [];
  let last = hold;
  while ((last.at - hold.at) / 1000 < holdSeconds) {
    await sleep(1000);
    last = await read(b.operator);
    rss.push(last.rssBytes / 2 ** 20);
  }
  const holdElapsed = (last.at - hold.at) / 1000;
  const note = `${count} runs, ${holdElapsed.toFixed(0)}s`;
  figures.push(distribution('5', 'controller RSS while running', 'MiB', rss, undefined, note));
  figures.push(value('5', 'controller CPU while running', '% of a core', ((last.cpuSeconds - hold.cpuSeconds) / holdElapsed) * 100, 1, note));
  figures.push(value('5', 'steps started while running', 'steps/s', (last.stepsStarted - hold.stepsStarted) / holdElapsed, 1, note));

  const stopped = watch.runs.whenAll(ns, runs, inPhase('Stopped'), timeoutMs, `all ${count} runs to be Stopped after POST /STOP`);
  const sent = performance.now();
  const answer = await post(`${b.operator.signalUrl}/STOP`);
  figures.push(value('5', 'broadcast POST /STOP answered', 's', (performance.now() - sent) / 1000, 1, answer.trim()));
  try {
    figures.push(value('5', `POST /STOP sent → all ${count} Stopped`, 's', (await stopped - sent) / 1000));
  } catch (err) {
    failed(b, err, 'lost run');
  }
  // Count everything the runs caused, the STOP's Job deletions included.
  await settle(b);
  const end = await read(b.operator);
  const steps = end.stepsStarted - start.stepsStarted;
  const byVerb = delta(end.requestsByVerb, start.requestsByVerb);
  b.details.scale = {
    runs: count, stepSeconds, stepsStarted: steps, requestsByVerb: byVerb,
    controllerRequestsByVerbAndResource: delta(end.controllerRequests, start.controllerRequests),
  };
  for (const [verb, n] of Object.entries(byVerb).sort()) {
    if (n > 0 && !verb.startsWith('signal-server')) figures.push(value('5', `controller API requests per step: ${verb}`, 'requests/step', n / steps, steps));
  }
  return figures;
}
