// 5. Scale, at each size in `sizes.scale.runs` (1,000 and 5,000 in the full bench), so growth shows:
// - the kill switch's floor: a bare client deletes as many plain Jobs (their pods running on the kwok
//   node) as there are runs, `DELETE_IN_FLIGHT` at a time (the controller's concurrency), foreground
//   as the controller deletes step Jobs, until none exists;
// - that many daemon runs: until all are Running; the controller's RSS (and per run) and CPU while
//   they run; one broadcast POST /STOP until no unfinished step Job exists (chaos over; × the floor)
//   and until all are Stopped;
// - the controller's API writes per step started: while running (the steady state: what each further
//   step costs) and over the whole section (creation, steps, STOP), by verb, Events included;
// - the API server's own count of writes (every client: the operator, kube-controller-manager's
//   garbage collector and Job controller, kwok) per deleted Job in the floor and per stopped run after
//   the STOP, and its write rate in both: on a small machine that rate is what bounds the kill switch.
// Each size has its own namespace, deleted (and the operator settled) before the next size starts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { kwokStep } from '../../test/helpers/operator.ts';
import { Informer } from '../../src/kube/informer.ts';
import { isAlreadyExists, isNotFound, KubeError } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { createLogger } from '../../src/log.ts';
import { createRuns, failed, inPhase, names, post, sleep, type Bench } from '../context.ts';
import { byLabel, delta, parseMetrics } from '../metrics.ts';
import { read, WRITE_VERBS, type Reading } from '../operator.ts';
import { distribution, value, type Figure } from '../report.ts';
import { summarize } from '../stats.ts';
import { settle } from './idle.ts';
import { WaitTimeout } from '../watch.ts';

const IN_FLIGHT = 20;
/** The controller's default --concurrency: the floor deletes with the same parallelism. */
export const DELETE_IN_FLIGHT = 16;

const repoRoot = join(import.meta.dirname, '../..');
const writesOf = (byVerb: Record<string, number>) => Object.entries(byVerb)
  .filter(([verb]) => WRITE_VERBS.includes(verb)).reduce((n, [, v]) => n + v, 0);

/** The chart's memory limit for the controller, in MiB (what the measurement is held to). */
export function chartMemoryLimitMiB(): number {
  const values = yaml.load(readFileSync(join(repoRoot, 'charts/chaosrun-operator/values.yaml'), 'utf8')) as { controller?: { resources?: { limits?: { memory?: string } } } };
  const limit = values.controller?.resources?.limits?.memory ?? '';
  const m = /^(\d+)(Mi|Gi)$/.exec(limit);
  if (!m) throw new Error(`cannot read controller.resources.limits.memory from the chart's values.yaml (${JSON.stringify(limit)})`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/** A bare client's write, as kubectl would retry it: transient failures (unreachable, 429, 5xx) again, up to 5 times. */
async function persist<T>(write: () => Promise<T>): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (isAlreadyExists(err) || isNotFound(err)) return undefined; // an earlier attempt landed
      const transient = err instanceof KubeError && (err.status === 0 || err.status === 429 || err.status >= 500);
      if (!transient || attempt >= 5) throw err;
      await sleep(200 * attempt);
    }
  }
}

/** Runs `fn` over `items`, `inFlight` at a time. */
async function pool<T>(items: readonly T[], inFlight: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** Until `test` holds for the informer's whole namespace; resolves with the time of the event that made it so. */
function whenNamespace<T>(informer: Informer<T & { metadata?: { namespace?: string; name?: string } }>, ns: string, test: (items: T[]) => boolean, timeoutMs: number, what: string): Promise<number> {
  if (test(informer.list(ns))) return Promise.resolve(performance.now());
  return new Promise((resolve, reject) => {
    const check = () => { if (test(informer.list(ns))) { clearTimeout(timer); resolve(performance.now()); } };
    const timer = setTimeout(() => reject(new WaitTimeout(what, timeoutMs, [`${informer.list(ns).length} left`])), timeoutMs);
    for (const e of ['add', 'update', 'delete'] as const) informer.on(e, check);
  });
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/** The API server's writes so far, by "VERB resource[/subresource]", from its own apiserver_request_total. */
async function apiServerWrites(b: Bench): Promise<Record<string, number>> {
  const text = await b.client.request<string>('GET', '/metrics', { text: true });
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(byLabel(parseMetrics(text), 'apiserver_request_total', 'verb', 'resource', 'subresource'))) {
    const [verb, resource, subresource] = key.split(' ');
    if (!WRITES.has(verb)) continue;
    const name = `${verb} ${resource}${subresource ? `/${subresource}` : ''}`;
    out[name] = (out[name] ?? 0) + n;
  }
  return out;
}
const sum = (m: Record<string, number>) => Object.values(m).reduce((n, v) => n + v, 0);

interface FloorResult { ms: number; apiWrites: Record<string, number> }

/** The floor of the kill switch: a bare client deletes `count` Jobs whose pods run, DELETE_IN_FLIGHT at a time. */
async function killFloor(b: Bench, ns: string, count: number): Promise<FloorResult> {
  const { client } = b;
  const log = createLogger('bench', 'warn');
  const jobs = new Informer<V1Job>(client, { name: 'floor-jobs', path: (n) => paths.jobs(n), namespaces: [ns], log });
  await jobs.start();
  try {
    const jobNames = names('floor', count);
    const running = whenNamespace<V1Job>(jobs, ns, (items) => items.length === count && items.every((j) => (j.status?.active ?? 0) >= 1), 60_000 + count * 200, `${count} floor Jobs with a running pod`);
    const template = kwokStep('floor', 3600).job!;
    await pool(jobNames, IN_FLIGHT, (name) => persist(() => client.request('POST', paths.jobs(ns), {
      body: {
        apiVersion: 'batch/v1', kind: 'Job', metadata: { name },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { annotations: template.podMetadata!.annotations },
            spec: { restartPolicy: 'Never', containers: [{ name: 'scenario', image: template.image, command: template.command }] },
          },
        },
      },
    })));
    await running;
    const gone = whenNamespace<V1Job>(jobs, ns, (items) => items.length === 0, 60_000 + count * 200, `${count} floor Jobs to be gone`);
    const writesBefore = await apiServerWrites(b);
    const sent = performance.now();
    await pool(jobNames, DELETE_IN_FLIGHT, (name) => persist(() => client.request('DELETE', paths.jobs(ns, name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' },
    })));
    const ms = (await gone) - sent;
    return { ms, apiWrites: delta(await apiServerWrites(b), writesBefore) };
  } finally {
    jobs.stop();
  }
}

async function deleteNamespace(b: Bench, ns: string, timeoutMs: number): Promise<void> {
  await b.client.request('DELETE', paths.namespaces(ns)).catch(() => {});
  const deadline = Date.now() + timeoutMs;
  while (await b.client.request('GET', paths.namespaces(ns)).then(() => true, () => false)) {
    if (Date.now() > deadline) throw new Error(`namespace ${ns} still there after ${timeoutMs / 1000}s`);
    await sleep(1000);
  }
}

export async function scale(b: Bench, count: number, ns: string, floorNs: string): Promise<Figure[]> {
  const { client, watch } = b;
  const { stepSeconds, holdSeconds } = b.sizes.scale;
  const section = '5';
  const tag = `${count} runs`;
  const figures: Figure[] = [];
  const timeoutMs = 60_000 + count * 600;

  const floor = await killFloor(b, floorNs, count);
  const floorMs = floor.ms;
  await deleteNamespace(b, floorNs, 300_000);
  figures.push(value(section, `kill-switch floor: bare client deletes ${count} running Jobs (${DELETE_IN_FLIGHT} in flight, foreground) → none exists`, 's', floorMs / 1000));
  const floorWrites = sum(floor.apiWrites);
  figures.push(value(section, 'kill-switch floor: API server writes per deleted Job (all clients: the deletion and its cascade)', 'writes/Job', floorWrites / count, count, tag));
  figures.push(value(section, 'kill-switch floor: API server write rate (all clients)', 'writes/s', floorWrites / (floorMs / 1000), 1, tag));

  await settle(b);
  const before = await read(b.operator);
  const runs = names('run', count);
  const spec = { daemonMode: true, waitDuration: '0s', scenarios: ['one', 'two', 'three'].map((s) => kwokStep(s, stepSeconds)) };
  const t0 = performance.now();
  const running = watch.runs.whenAll(ns, runs, inPhase('Running'), timeoutMs, `all ${count} runs to be Running`);
  await createRuns(client, ns, runs, spec, IN_FLIGHT);
  figures.push(value(section, `create ${count} runs (${IN_FLIGHT} in flight)`, 's', (performance.now() - t0) / 1000));
  try {
    figures.push(value(section, `first create → all ${count} Running`, 's', (await running - t0) / 1000));
  } catch (err) {
    failed(b, err, 'lost run');
  }

  // While they run: RSS once a second, CPU and writes over the window.
  const hold = await read(b.operator);
  const rss: number[] = [];
  let last: Reading = hold;
  while ((last.at - hold.at) / 1000 < holdSeconds) {
    await sleep(1000);
    last = await read(b.operator);
    rss.push(last.rssBytes / 2 ** 20);
  }
  const holdElapsed = (last.at - hold.at) / 1000;
  const note = `${tag}, ${holdElapsed.toFixed(0)}s`;
  const limitMiB = chartMemoryLimitMiB();
  const rssSummary = summarize(rss);
  figures.push(distribution(section, 'controller RSS while running', 'MiB', rss, undefined, `${note}; chart limit ${limitMiB} MiB`));
  figures.push(value(section, 'controller RSS per run while running (p50 minus before the runs)', 'KiB/run', ((rssSummary.p50 - before.rssBytes / 2 ** 20) * 1024) / count, rss.length, tag));
  if (rssSummary.max > limitMiB) b.failures.push(`controller RSS ${rssSummary.max.toFixed(0)} MiB at ${tag} is over the chart's memory limit (${limitMiB} MiB): it would be OOM-killed`);
  figures.push(value(section, 'controller CPU while running', '% of a core', ((last.cpuSeconds - hold.cpuSeconds) / holdElapsed) * 100, 1, note));
  const holdSteps = last.stepsStarted - hold.stepsStarted;
  figures.push(value(section, 'steps started while running', 'steps/s', holdSteps / holdElapsed, 1, note));
  const holdWrites = writesOf(delta(last.requestsByVerb, hold.requestsByVerb));
  if (holdSteps > 0) figures.push(value(section, 'controller API writes per step while running (steady state, Events included)', 'writes/step', holdWrites / holdSteps, holdSteps, note));

  // The kill switch: chaos is over when no unfinished step Job of any run exists. The Jobs kept as
  // history (--keep-jobs) have finished: they are no chaos. A Job the STOP deletes is chaos until it is
  // gone (foreground: its pods first), as in the floor.
  const unfinished = (j: V1Job) => !j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  const stepJobs = () => watch.jobs.list(ns).filter(unfinished).length;
  const chaosOver = watch.jobs.whenNone(ns, unfinished, timeoutMs, `no unfinished step Job left in ${ns} after POST /STOP`);
  const stopped = watch.runs.whenAll(ns, runs, inPhase('Stopped'), timeoutMs, `all ${count} runs to be Stopped after POST /STOP`);
  const jobsAtStop = stepJobs();
  const writesAtStop = await apiServerWrites(b);
  const sent = performance.now();
  const answer = await post(`${b.operator.signalUrl}/STOP`);
  figures.push(value(section, 'broadcast POST /STOP answered', 's', (performance.now() - sent) / 1000, 1, `${tag}; ${answer.trim()}`));
  try {
    const over = (await chaosOver - sent) / 1000;
    figures.push({
      ...value(section, `POST /STOP sent → no unfinished step Job exists (chaos over; ${jobsAtStop} running at the STOP)`, 's', over, 1, tag),
      vsFloor: { p50: Math.round((over / (floorMs / 1000)) * 10) / 10, p99: Math.round((over / (floorMs / 1000)) * 10) / 10 },
    });
  } catch (err) {
    failed(b, err, 'chaos not over');
  }
  try {
    figures.push(value(section, `POST /STOP sent → all ${count} Stopped`, 's', (await stopped - sent) / 1000, 1, tag));
  } catch (err) {
    failed(b, err, 'lost run');
  }
  // What the API server wrote from the STOP until both ended (whichever came later), every client's.
  const stopEnded = Math.max(...(await Promise.allSettled([chaosOver, stopped])).map((r) => (r.status === 'fulfilled' ? r.value : performance.now())));
  const stopWrites = delta(await apiServerWrites(b), writesAtStop);
  figures.push(value(section, 'after POST /STOP: API server writes per stopped run (all clients, until chaos over and all Stopped)', 'writes/run', sum(stopWrites) / count, count, tag));
  figures.push(value(section, 'after POST /STOP: API server write rate (all clients)', 'writes/s', sum(stopWrites) / ((stopEnded - sent) / 1000), 1, tag));
  // Count everything the runs caused, the STOP's Job deletions included.
  await settle(b);
  const end = await read(b.operator);
  const steps = end.stepsStarted - before.stepsStarted;
  const byVerb = delta(end.requestsByVerb, before.requestsByVerb);
  const controllerRequests = delta(end.controllerRequests, before.controllerRequests);
  b.details[`scale-${count}`] = {
    runs: count, stepSeconds, stepsStarted: steps, floorMs, rssMiB: rss, requestsByVerb: byVerb,
    controllerRequestsByVerbAndResource: controllerRequests,
    apiServerWritesInFloor: floor.apiWrites, apiServerWritesAfterStop: stopWrites,
  };
  figures.push(value(section, 'controller API writes per step, whole section (create, steps, STOP; Events included)', 'writes/step', writesOf(byVerb) / steps, steps, tag));
  for (const [verb, n] of Object.entries(byVerb).sort()) {
    if (n > 0 && WRITE_VERBS.includes(verb)) figures.push(value(section, `controller API ${verb} requests per step, whole section`, 'requests/step', n / steps, steps, tag));
  }
  const events = Object.entries(controllerRequests).filter(([k]) => k === 'create events').reduce((n, [, v]) => n + v, 0);
  figures.push(value(section, 'controller Events per step, whole section', 'events/step', events / steps, steps, tag));
  await deleteNamespace(b, ns, 600_000);
  await settle(b);
  return figures;
}
