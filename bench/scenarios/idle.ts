// 7. Idle cost: finished and paused runs only. Once the operator has settled, count its API writes
// (invariant 5: zero) and its CPU over the window.
import { kwokStep } from '../../test/helpers/operator.ts';
import { createRuns, failed, inPhase, names, sleep, type Bench } from '../context.ts';
import { delta } from '../metrics.ts';
import { read, WRITE_VERBS, type Reading } from '../operator.ts';
import { value, type Figure } from '../report.ts';

const writes = (r: Reading) => Object.entries(r.requestsByVerb)
  .filter(([verb]) => WRITE_VERBS.includes(verb.replace('signal-server ', '')))
  .reduce((sum, [, n]) => sum + n, 0);

/** Waits until the operator made no write for `quietMs` (work left over from what came before). */
export async function settle(b: Bench, quietMs = 5000, timeoutMs = 180_000): Promise<number> {
  const started = performance.now();
  let last = await read(b.operator);
  let quietSince = performance.now();
  while (performance.now() - quietSince < quietMs) {
    if (performance.now() - started > timeoutMs) throw new Error(`the operator kept writing for ${timeoutMs / 1000}s`);
    await sleep(500);
    const now = await read(b.operator);
    if (writes(now) !== writes(last)) quietSince = performance.now();
    last = now;
  }
  return (performance.now() - started) / 1000;
}

export async function idleCost(b: Bench): Promise<Figure[]> {
  const { client, watch } = b;
  const ns = b.namespaces.idle;
  const { finished, paused, seconds } = b.sizes.idle;
  const done = names('done', finished);
  const held = names('paused', paused);
  const completed = watch.runs.whenAll(ns, done, inPhase('Completed'), 300_000, 'idle runs to complete');
  const pausedNow = watch.runs.whenAll(ns, held, inPhase('Paused'), 300_000, 'idle runs to be Paused');
  await createRuns(client, ns, done, { scenarios: [kwokStep('a', 1)] });
  await createRuns(client, ns, held, { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
  try {
    await Promise.all([completed, pausedNow]);
  } catch (err) {
    failed(b, err, 'lost run');
  }
  const settleSeconds = await settle(b);
  const before = await read(b.operator);
  await sleep(seconds * 1000);
  const after = await read(b.operator);
  const elapsed = (after.at - before.at) / 1000;
  const byVerb = delta(after.requestsByVerb, before.requestsByVerb);
  const written = writes(after) - writes(before);
  const requests = Object.values(byVerb).reduce((s, n) => s + n, 0);
  b.details.idle = { settleSeconds, windowSeconds: elapsed, requestsByVerb: byVerb };
  if (written !== 0) b.failures.push(`idle: the operator made ${written} API writes in ${elapsed.toFixed(0)}s (${JSON.stringify(byVerb)}); an idle cluster must cost none`);
  const note = `${elapsed.toFixed(0)}s, ${finished} finished + ${paused} paused runs`;
  return [
    value('7', 'idle: API writes by the operator', 'requests', written, 1, note),
    value('7', 'idle: API requests of any verb (watch renewals included)', 'requests', requests, 1, note),
    value('7', 'idle: controller CPU', '% of a core', ((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100, 1, note),
    value('7', 'idle: signal server CPU', '% of a core', ((after.signalCpuSeconds - before.signalCpuSeconds) / elapsed) * 100, 1, note),
    value('7', 'idle: controller RSS', 'MiB', after.rssBytes / 2 ** 20, 1, note),
  ];
}
