// `npm run bench [-- --quick]`: the operator's figures against the floor the API server allows.
// Without KUBECONFIG it runs on a dedicated local plane in .cluster-bench/ (stopped afterwards unless
// it was already up); it starts the controller and the signal server as `npm run local` does, runs
// its measurements (--only N,M for some), prints a table and writes bench/results/ (latest.json only for
// the whole bench: see latestName). It exits non-zero when a run was lost, a step duplicated or a
// signal never applied, never because a figure is slow.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { KILL_SWITCH_NAME } from '../src/api/kill-switch.ts';
import { applyCrds } from '../src/kube/crds.ts';
import { paths } from '../src/kube/paths.ts';
import { clusterDown, clusterUp } from '../src/local/controlplane.ts';
import type { Bench, Sizes } from './context.ts';
import { machineInfo, machineLine } from './machine.ts';
import { startOperator } from './operator.ts';
import { latency, table, writeResults, type Figure } from './report.ts';
import { consoleCost } from './scenarios/console.ts';
import { floor } from './scenarios/floor.ts';
import { httpLoad } from './scenarios/http.ts';
import { idleCost } from './scenarios/idle.ts';
import { lastingFaults } from './scenarios/lasting.ts';
import { resumeLag } from './scenarios/resume.ts';
import { safety } from './scenarios/safety.ts';
import { scale } from './scenarios/scale.ts';
import { signalLatency } from './scenarios/signal.ts';
import { stopMidStep } from './scenarios/stop.ts';
import { summarize } from './stats.ts';
import { watchBench } from './watch.ts';

const repoRoot = resolve(import.meta.dirname, '..');
/** Bad input is one line and exit 1, never a stack trace. */
function refuse(message: string): never {
  console.error(`bench: ${message.split('\n')[0]}`);
  process.exit(1);
}
let args: { quick: boolean; only?: string; scale?: string; 'kill-switch-runs'?: string } = { quick: false };
try {
  ({ values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, scale: { type: 'string' }, 'kill-switch-runs': { type: 'string' } }, strict: true }));
} catch (err) { refuse((err as Error).message); }
if (process.env.KUBECONFIG) {
  try { loadKubeConfig(); } catch (err) { refuse((err as Error).message); }
}
/** `--only 9,4`: run these sections only (the floor, 1, always runs: the others are measured against it). */
const only = args.only?.split(',').map((x) => x.trim());
// --scale 1000 runs the scale section at those sizes only (default 1000,5000; 100 with --quick).
const scaleSizes = args.scale?.split(',').map((x) => Number(x.trim()));
if (scaleSizes?.some((n) => !Number.isInteger(n) || n < 1)) refuse(`--scale takes run counts, e.g. 1000,5000 (got ${JSON.stringify(args.scale)})`);
const defaults: Sizes = args.quick
  ? { floorPatches: 40, signals: 40, resumes: 5, stops: 5, httpSeconds: 3, idle: { finished: 30, paused: 5, seconds: 10 }, scale: { runs: [100], stepSeconds: 5, holdSeconds: 10 }, console: { viewers: 10, runs: 10, seconds: 10 },
    lasting: { samples: 10, kills: 3, killSwitchRuns: 20, killSwitchReps: 1 } }
  : { floorPatches: 200, signals: 200, resumes: 20, stops: 20, httpSeconds: 10, idle: { finished: 100, paused: 10, seconds: 60 }, scale: { runs: [1000, 5000], stepSeconds: 30, holdSeconds: 60 }, console: { viewers: 10, runs: 10, seconds: 30 },
    lasting: { samples: 50, kills: 30, killSwitchRuns: 100, killSwitchReps: 3 } };
// --kill-switch-runs 1000: section 10's kill switch over that many runs with a lasting fault each (default 100; 20 with --quick).
const killSwitchRuns = args['kill-switch-runs'] === undefined ? undefined : Number(args['kill-switch-runs']);
if (killSwitchRuns !== undefined && (!Number.isInteger(killSwitchRuns) || killSwitchRuns < 1)) refuse(`--kill-switch-runs takes a run count, e.g. 1000 (got ${JSON.stringify(args['kill-switch-runs'])})`);
const scaled: Sizes = scaleSizes ? { ...defaults, scale: { ...defaults.scale, runs: scaleSizes } } : defaults;
const sizes: Sizes = killSwitchRuns ? { ...scaled, lasting: { ...scaled.lasting, killSwitchRuns } } : scaled;
// Finished Jobs kept per run: 1 bounds the Job count at scale (the default, 5, is a history nicety).
const CONTROLLER_ARGS = ['--keep-jobs', '1'];

const began = performance.now();
const startedAt = new Date().toISOString();
const say = (msg: string) => console.error(`[bench ${((performance.now() - began) / 1000).toFixed(0).padStart(4)}s] ${msg}`);

let kubeconfig = process.env.KUBECONFIG;
let planeDir: string | undefined;
if (!kubeconfig) {
  const up = await clusterUp(join(repoRoot, '.cluster-bench'), say);
  kubeconfig = up.state.kubeconfig;
  if (!up.alreadyRunning) planeDir = up.state.dir;
  say(`${up.alreadyRunning ? 'using the running' : 'started the'} bench control plane at ${up.state.server}`);
}
const client = new KubeClient(loadKubeConfig(kubeconfig));
await applyCrds(client, join(repoRoot, 'crds'));
const machine = await machineInfo(client);
say(machineLine(machine));

const suffix = randomBytes(3).toString('hex');
const namespaces = {
  main: `chaosrun-bench-${suffix}`, idle: `chaosrun-bench-idle-${suffix}`, safety: `chaosrun-bench-safety-${suffix}`, lasting: `chaosrun-bench-lasting-${suffix}`,
  system: `chaosrun-bench-system-${suffix}`,
  scale: sizes.scale.runs.map((n) => `chaosrun-bench-scale-${n}-${suffix}`), floor: sizes.scale.runs.map((n) => `chaosrun-bench-floor-${n}-${suffix}`),
};
const allNamespaces = Object.values(namespaces).flat();
for (const name of allNamespaces) {
  await client.request('POST', paths.namespaces(), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}
const watch = await watchBench(client, allNamespaces.filter((n) => !namespaces.floor.includes(n)));
// The operator's own namespace, as the chart installs it: the kill-switch record, created empty there
// (src/api/kill-switch.ts; writers only patch it), and POD_NAMESPACE naming it for the signal server (and
// the node agent of 10), as the downward API does in their pods. Without it a broadcast STOP writes no record.
await client.request('POST', paths.configMaps(namespaces.system), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KILL_SWITCH_NAME } } });
process.env.POD_NAMESPACE = namespaces.system;

say(`1 floor: ${sizes.floorPatches} merge patches, no operator running`);
const floorSamples = await floor(client, watch, namespaces.main, sizes.floorPatches);
const floorSummary = summarize(floorSamples.fromSend);

const logFile = join(mkdtempSync(join(os.tmpdir(), 'chaosrun-bench-')), 'operator.log');
say(`starting the controller (${CONTROLLER_ARGS.join(' ')}) and the signal server; their logs: ${logFile}`);
const operator = await startOperator(kubeconfig, CONTROLLER_ARGS, logFile);
const b: Bench = { client, kubeconfig, watch, operator, namespaces, sizes, floor: floorSummary, failures: [], details: {} };
const figures: Figure[] = [
  latency('1', 'floor: merge patch sent → own watch sees it (the unit of × floor)', floorSamples.fromSend),
  latency('1', 'floor: merge patch answered → own watch sees it', floorSamples.fromResponse),
];

async function section(title: string, run: () => Promise<Figure[]>): Promise<void> {
  if (only && !only.includes(title.split(' ')[0])) return;
  say(title);
  try {
    figures.push(...await run());
  } catch (err) {
    b.failures.push(`${title}: ${(err as Error).stack ?? String(err)}`);
  }
}

try {
  let postMs: number[] = [];
  await section(`2 signal → effect: ${sizes.signals} signals through each door`, async () => {
    const r = await signalLatency(b);
    postMs = r.postMs;
    return r.figures;
  });
  await section(`3 resume lag: ${sizes.resumes} runs`, () => resumeLag(b));
  await section(`4 STOP mid-step: ${sizes.stops} runs`, () => stopMidStep(b));
  await section(`6 HTTP: ${sizes.httpSeconds}s per route`, () => httpLoad(b, postMs));
  await section(`7 idle: ${sizes.idle.finished} finished + ${sizes.idle.paused} paused runs, ${sizes.idle.seconds}s`, () => idleCost(b));
  await section(`8 console: ${sizes.console.viewers} viewers, ${sizes.console.runs} changing runs, ${sizes.console.seconds}s per window`, () => consoleCost(b));
  for (const [i, count] of sizes.scale.runs.entries()) {
    await section(`5 scale: ${count} runs`, () => scale(b, count, namespaces.scale[i], namespaces.floor[i]));
  }
  await section(`10 lasting faults: the node agent and nft in real network namespaces, ${sizes.lasting.samples} samples each, ${sizes.lasting.kills} agent SIGKILLs, kill switch over ${sizes.lasting.killSwitchRuns} runs ×${sizes.lasting.killSwitchReps}`,
    () => lastingFaults(b));
  // Last: it SIGKILLs (and restarts) the controller, and its kill switch stops every unfinished run.
  await section('9 safety: kill switch at 10 and 100 runs, dead-man renewal cost and detection', () => safety(b, args.quick));
  const duplicates = watch.duplicateSteps();
  if (duplicates.length) b.failures.push(`duplicated steps (more than one Job for one run, iteration and step): ${duplicates.join('; ')}`);
} finally {
  if (!planeDir) {
    // A shared plane: remove our namespaces while the controller still runs to release the runs' finalizers.
    say('deleting the bench namespaces');
    await Promise.all(allNamespaces.map((n) => client.request('DELETE', paths.namespaces(n)).catch(() => {})));
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline && (await Promise.all(allNamespaces.map((n) => client.request('GET', paths.namespaces(n)).then(() => 1, () => 0)))).some(Boolean)) {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  watch.stop();
  await operator.stop();
  client.close();
  if (planeDir) await clusterDown(planeDir);
}

machine.loadAverage.end = os.loadavg()[0];
const order = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
figures.sort((x, y) => order.indexOf(x.section) - order.indexOf(y.section));
const file = writeResults(join(repoRoot, 'bench/results'), {
  mode: args.quick ? 'quick' : 'full', startedAt, durationSeconds: Math.round((performance.now() - began) / 1000),
  machine, cluster: planeDir || !process.env.KUBECONFIG ? 'local control plane (.cluster-bench)' : `KUBECONFIG=${process.env.KUBECONFIG}`,
  controllerArgs: CONTROLLER_ARGS, ...(only ? { only } : {}), figures, details: b.details, failures: b.failures,
});
console.log(`\n${table(figures)}\n\nMachine: ${machineLine(machine)}\nResults: ${file}`);
if (b.failures.length) {
  console.log(`\nFAILED (${b.failures.length}):\n${b.failures.map((f) => `- ${f}`).join('\n')}`);
  process.exit(1);
}
process.exit(0);
