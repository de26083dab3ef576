// Fault 7: lasting faults. ChaosRuns whose steps are `network` bodies (a partition or a loss on some of
// the trial's target pods, for the step's duration), driven by the real controller and held by the real
// node agent, both as processes (src/cli.ts), while at seeded random moments, with a fault in force:
// - the agent is SIGKILLed and started again 0-6 s later (its faults must end by their lease);
// - the controller is SIGKILLed and started again, after 0-3 s or after 12-16 s, so that the dead-man
//   switch (deadManSeconds 10) ends the step's Job meanwhile (its pod deleted: the fault must end);
// - a step's holder pod is deleted (it ends as the real holder does on SIGTERM: exit 0, so its step
//   succeeds early; see faults/lasting-stages.yaml);
// and each run gets 0-3 PAUSE, RUN or STOP at random moments, over HTTP or as a patch.
//
// What stands in for a real node here, said plainly: on a real node the step's holder pod runs
// `chaosrun scenario network`, which picks Running targets, writes them on its own pod
// (ANNOTATION_FAULT_TARGETS) and holds for the duration. On kwok nothing runs, so the trial plays the
// holder: once kwok reports a step's pod Running, the trial writes the targets annotation on it (the
// body's count of the trial's target pods) and, at the step's duration, ends the pod (it Succeeds, exit
// 0). Those pods run on a kwok node of the trial's own (faults/lasting-node.ts), since the plane's kwok
// completes a Job's pod at once. The target pods are kwok pods there too; their sandboxes are real
// network namespaces (made as `ip netns add` makes them), which the agent finds through a stand-in /proc
// (faults/agent-lab.ts), as test/agent/agent-shell.test.ts does. So the agent, nft, the kernel's lease
// timeouts, the controller and the API server are real; the holder's process and the kubelet are not.
//
// Invariants (faults/leases.ts): faultEndsInTime, from every target namespace's nft state polled every
// 100 ms throughout (no table in force later than its lease + a stated slack after its fault was surely
// unwanted); nothingLeftBehind after every trial (once an agent runs again, no chaosrun_ table in any
// target namespace); and every run's checks, as in the other faults. A trial is one batch of 1-2 runs
// and its crashes (--quick: one short run, and no controller down past the dead-man switch). Needs
// root (network namespaces, nft): without it the fault is SKIPPED, with why.
import { writeFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT, faultBoundSeconds, parseFaultSpec, parseFaultTargets, type FaultTargetRef } from '../../src/api/fault-holder.ts';
import { parseDuration } from '../../src/api/duration.ts';
import { isFinal, type ChaosRun, type ChaosRunSpec, type Scenario, type Signal } from '../../src/api/types.ts';
import { MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { paths } from '../../src/kube/paths.ts';
import { createLogger } from '../../src/log.ts';
import { getRun } from '../../test/helpers/operator.ts';
import { repoRoot } from '../../test/helpers/env.ts';
import { AgentProcess, lastingPrecondition, Sandboxes, tablesIn, type TableSeen } from '../agent-lab.ts';
import type { Violation } from '../invariants.ts';
import { endLatencies, faultEndsInTime, LEASE_SLACK_MS, nothingLeftBehind, podObject, runObject, WantedTimeline, type InForce } from '../leases.ts';
import { HOLDER_EXIT_ANNOTATION, startLastingNode } from '../lasting-node.ts';
import type { Random } from '../random.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, poll, sendHttp, sendPatch, settleAndCheck, sleep, startController, startSignalServer, track,
  type Child, type Lab, type Tracked, type TrialContext, trialNamespace,
} from '../harness.ts';

const FAULT = '7. lasting faults: agent, controller, step pod crashes';
const CHECKED = ['faultEndsInTime', 'nothingLeftBehind', 'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'pauseHolds', 'settles'] as const;
const CRASHES = ['agent', 'controller', 'step pod'] as const;
type Crash = (typeof CRASHES)[number];
const TARGETS = 3;
const DEAD_MAN_SECONDS = 10;
const POLL_MS = 100;
/** How long an agent running again may take to revert what it finds unwanted (it passes at least once a second). */
const LEFT_BEHIND_WAIT_MS = 10_000;
const TARGET_LABEL = 'chaosrun.dev/faults-target';
/** How long a holder's fault may outlive its agent (its lease), when its annotation can be read. */
const boundOf = (text: string | undefined): number | undefined => { const spec = parseFaultSpec(text); return spec ? faultBoundSeconds(spec) : undefined; };
const quiet = () => createLogger('faults', 'silent');

/**
 * A run's shape: 1-2 iterations of 1-2 network steps of 3-7 s; one step of 25 s when the controller is to
 * be down past the dead-man switch; one step of 2-4 s when `quick`.
 */
export function lastingSpec(rng: Random, namespace: string, shape: 'long' | 'quick' | 'any'): Partial<ChaosRunSpec> & { scenarios: Scenario[] } {
  const one = shape !== 'any';
  const steps = one ? 1 : rng.int(1, 2);
  return {
    iterations: one ? 1 : rng.int(1, 2),
    waitDuration: rng.pick(['0s', '500ms', '1s']),
    failurePolicy: rng.pick(['Continue', 'Stop'] as const),
    deadManSeconds: DEAD_MAN_SECONDS,
    scenarios: Array.from({ length: steps }, (_, i): Scenario => ({
      name: `cut${i}`,
      duration: shape === 'long' ? '25s' : shape === 'quick' ? `${rng.int(2, 4)}s` : `${rng.int(3, 7)}s`,
      network: {
        namespace, labelSelector: `${TARGET_LABEL}=yes`, count: rng.int(1, TARGETS),
        direction: rng.pick(['ingress', 'egress', 'both'] as const),
        ...(rng.chance(0.7) ? { partition: {} } : { loss: { percent: rng.pick([10, 50, 100]) } }),
        leaseSeconds: rng.int(2, 4),
      },
    })),
  };
}

const argOf = (pod: V1Pod, flag: string) => pod.spec?.containers?.[0]?.args?.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
const rvOf = (o: { metadata?: { resourceVersion?: string } }) => o.metadata?.resourceVersion;

/**
 * Plays the holder of every step pod in the namespace (see the header), and feeds every holder pod the
 * watch shows into the wanted timeline.
 */
class HolderPlayer {
  private readonly informer: Informer<V1Pod>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly claimed = new Set<string>();
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly targets: FaultTargetRef[];
  private readonly timeline: WantedTimeline;
  /** Holder uid -> when its targets were written, and its run. */
  readonly written = new Map<string, { at: number; run: string }>();

  constructor(client: KubeClient, namespace: string, targets: FaultTargetRef[], timeline: WantedTimeline) {
    this.client = client;
    this.namespace = namespace;
    this.targets = targets;
    this.timeline = timeline;
    this.informer = new Informer<V1Pod>(client, { name: 'holders', path: (ns) => paths.pods(ns), namespaces: [namespace], labelSelector: LABEL_FAULT, log: quiet(), watchdogMs: 10_000 });
    for (const e of ['add', 'update'] as const) this.informer.on(e, (p) => this.saw(p));
    this.informer.on('delete', (p) => this.gone(p));
  }

  start(): Promise<void> { return this.informer.start(); }

  stop(): void {
    this.informer.stop();
    for (const t of this.timers.values()) clearTimeout(t);
  }

  /** Holder pods of these runs that hold a fault now (Running, not deleting, targets written). */
  holding(runs: ReadonlySet<string>): V1Pod[] {
    return this.informer.list(this.namespace).filter((p) => runs.has(p.metadata?.labels?.['chaosrun.dev/run'] ?? '') && p.status?.phase === 'Running'
      && !p.metadata?.deletionTimestamp && Boolean(p.metadata?.annotations?.[ANNOTATION_FAULT_TARGETS]));
  }

  private saw(p: V1Pod): void {
    const uid = p.metadata!.uid!;
    const annotations = p.metadata?.annotations ?? {};
    this.timeline.holder(Date.now(), uid, {
      run: p.metadata?.labels?.['chaosrun.dev/run'] ?? '', phase: p.status?.phase, deleting: Boolean(p.metadata?.deletionTimestamp),
      targets: parseFaultTargets(annotations[ANNOTATION_FAULT_TARGETS]).map((t) => t.uid), leaseSeconds: boundOf(annotations[ANNOTATION_FAULT]),
    }, rvOf(p));
    if (p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && !annotations[ANNOTATION_FAULT_TARGETS] && !this.claimed.has(uid)) {
      this.claimed.add(uid);
      this.play(p).catch(() => {});
    }
  }

  private gone(p: V1Pod): void {
    const uid = p.metadata!.uid!;
    clearTimeout(this.timers.get(uid));
    this.timeline.holder(Date.now(), uid, undefined, undefined);
  }

  /** What `chaosrun scenario network` does once Running: pick targets, record them on itself, hold for the duration, exit 0. */
  private async play(p: V1Pod): Promise<void> {
    const uid = p.metadata!.uid!;
    const name = p.metadata!.name!;
    const count = Math.min(this.targets.length, Number(argOf(p, '--count') ?? 1));
    const from = parseInt(uid.replaceAll('-', '').slice(0, 8), 16) % this.targets.length;
    const chosen = Array.from({ length: count }, (_, i) => this.targets[(from + i) % this.targets.length]);
    const sentAt = Date.now();
    let rv: string | undefined;
    try {
      rv = rvOf(await this.client.request<V1Pod>('PATCH', paths.pods(this.namespace, name), {
        body: { metadata: { annotations: { [ANNOTATION_FAULT_TARGETS]: JSON.stringify(chosen) } } }, contentType: MERGE_PATCH,
      }));
    } catch {
      rv = await this.client.request<V1Pod>('GET', paths.pods(this.namespace, name)).then(rvOf, () => undefined);
    }
    this.timeline.wrote(podObject(uid), sentAt, rv, `the targets written at ${new Date(sentAt).toISOString()}`);
    this.written.set(uid, { at: Date.now(), run: p.metadata?.labels?.['chaosrun.dev/run'] ?? '' });
    const holdMs = parseDuration(argOf(p, '--duration') ?? '1s');
    this.timers.set(uid, setTimeout(() => {
      const message = `held on ${chosen.map((t) => `${t.namespace}/${t.name}`).join(', ')} (the fault campaign played the holder)`;
      this.client.request('PATCH', paths.pods(this.namespace, name), { body: { metadata: { annotations: { [HOLDER_EXIT_ANNOTATION]: message } } }, contentType: MERGE_PATCH }).catch(() => {});
    }, holdMs));
  }
}

/** Every target namespace's chaosrun_ tables, polled every POLL_MS: the sightings in force, and each poll's full list. */
class Poller {
  readonly inForce: InForce[] = [];
  polls = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly sandboxes: Sandboxes;

  constructor(sandboxes: Sandboxes) { this.sandboxes = sandboxes; }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        await Promise.all(this.sandboxes.list.map(async (s) => {
          for (const t of await tablesIn(s.netns).catch(() => [] as TableSeen[])) {
            if (t.leaseElements > 0) this.inForce.push({ at, netns: s.netns, target: s.uid, holder: t.id });
          }
        }));
        this.polls++;
        await sleep(at + POLL_MS - Date.now());
      }
    })();
  }

  async stop(): Promise<void> { this.stopped = true; await this.loop; }
}

/** Any chaosrun_ table (in force or not) in the target namespaces. */
async function leftIn(sandboxes: Sandboxes): Promise<TableSeen[]> {
  return (await Promise.all(sandboxes.list.map((s) => tablesIn(s.netns)))).flat();
}

/** One signal, recorded as the harness records them; a RUN opens a window in the timeline (it may start faults again). */
async function sendSignal(lab: Lab, url: string, ns: string, t: Tracked, signal: Signal, http: boolean, timeline: WantedTimeline): Promise<void> {
  const rec = http ? await sendHttp(url, ns, t.name, signal) : await sendPatch(lab.client, ns, t.name, signal);
  t.signals.push(rec);
  if (signal !== 'RUN') return;
  const rv = await lab.client.request<ChaosRun>('GET', paths.chaosRuns(ns, t.name)).then(rvOf, () => undefined);
  timeline.wrote(runObject(t.name), rec.sentAt, rv, `RUN sent at ${new Date(rec.sentAt).toISOString()}`);
}

/** 0-3 signals at random moments within spanMs, as the harness's playSignals, through sendSignal. */
async function playLastingSignals(rng: Random, lab: Lab, url: string, ns: string, t: Tracked, spanMs: number, until: () => boolean, timeline: WantedTimeline): Promise<void> {
  const moments = Array.from({ length: rng.int(0, 3) }, () => rng.between(0, spanMs)).sort((a, b) => a - b);
  const plan = moments.map((at) => ({ at, signal: rng.pick(['PAUSE', 'PAUSE', 'RUN', 'RUN', 'STOP'] as const), http: rng.chance(0.5) }));
  const start = Date.now();
  for (const p of plan) {
    await sleep(start + p.at - Date.now());
    if (until()) return;
    await sendSignal(lab, url, ns, t, p.signal, p.http, timeline);
  }
}

export async function lastingFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const why = lastingPrecondition();
  if (why) return { fault: FAULT, unit: 'crash trials', trials: 0, checked: [...CHECKED], violations: [], durationMs: 0, notes: [], skipped: why };
  const { lab } = ctx;
  const trials = ctx.quick ? 3 : 24;
  const { ns, recorder } = await trialNamespace(lab, 'lasting');
  const timeline = new WantedTimeline();
  const violations: Violation[] = [];
  const crashes = { agent: 0, 'controller short': 0, 'controller past the dead-man switch': 0, 'step pod': 0, 'step pod (none held)': 0 };
  let deadMan = 0;
  let trialCount = 0;
  // The scenario's ServiceAccount: holder pods name it (nothing runs in them here, so it needs no rights).
  await lab.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'chaosrun-scenario' } } });
  const node = await startLastingNode(lab.client, lab.kubeconfig, lab.plane?.binDir);
  let sandboxes: Sandboxes | undefined;
  let agent: AgentProcess | undefined;
  let controller: Child | undefined;
  let server: { url: string; child: Child } | undefined;
  let player: HolderPlayer | undefined;
  let poller: Poller | undefined;
  const runInformer = new Informer<ChaosRun>(lab.client, { name: 'runs', path: (n) => paths.chaosRuns(n), namespaces: [ns], log: quiet(), watchdogMs: 10_000 });
  for (const e of ['add', 'update'] as const) {
    runInformer.on(e, (r) => timeline.run(Date.now(), r.metadata.name, { signalState: r.spec?.signalState, phase: r.status?.phase }, rvOf(r)));
  }
  runInformer.on('delete', (r) => timeline.run(Date.now(), r.metadata.name, undefined, undefined));
  try {
    // The target pods, Running on the trial's node; their uids name the sandboxes.
    const targets: FaultTargetRef[] = [];
    for (let i = 0; i < TARGETS; i++) {
      const pod = await lab.client.request<V1Pod>('POST', paths.pods(ns), { body: {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `target-${i}`, labels: { [TARGET_LABEL]: 'yes' } },
        spec: { ...node.placement, containers: [{ name: 'app', image: 'busybox' }] },
      } });
      targets.push({ namespace: ns, name: `target-${i}`, uid: pod.metadata!.uid!, node: node.name });
    }
    const running = await poll(async () => {
      const pods = await lab.client.request<{ items: V1Pod[] }>('GET', paths.pods(ns), { query: { labelSelector: TARGET_LABEL } });
      return pods.items.filter((p) => p.status?.phase === 'Running').length === TARGETS || undefined;
    }, 60_000, 200);
    if (!running) throw new Error(`the target pods never ran on ${node.name}:\n${node.output().slice(-1500)}`);
    sandboxes = Sandboxes.create('crf', targets.map((t) => t.uid));
    const boxes = sandboxes;
    player = new HolderPlayer(lab.client, ns, targets, timeline);
    await Promise.all([player.start(), runInformer.start()]);
    poller = new Poller(boxes);
    poller.start();
    agent = new AgentProcess({ cli: `${repoRoot}/src/cli.ts`, kubeconfig: lab.kubeconfig, node: node.name, proc: boxes.proc });
    await agent.start();
    server = await startSignalServer(lab.kubeconfig, ns);
    controller = await startController(lab.kubeconfig, ns, node.controllerArgs);

    for (let i = 0; i < trials; i++) {
      const rng = ctx.rng.fork();
      const crash: Crash = CRASHES[i % CRASHES.length];
      const plan: Crash[] = [crash, ...(rng.chance(0.3) ? [rng.pick(CRASHES)] : [])];
      // Down past the dead-man switch needs a step longer than it: decided before the runs are made.
      const longDown = !ctx.quick && plan.includes('controller') && rng.chance(0.5);
      await agent.start();
      if (controller.exitCode !== null || controller.signalCode !== null) controller = await startController(lab.kubeconfig, ns, node.controllerArgs);
      const runs: Tracked[] = [];
      for (let r = 0, n = ctx.quick ? 1 : rng.int(1, 2); r < n; r++) runs.push(await track(lab, ns, `t${i}-r${r}`, lastingSpec(rng, ns, longDown ? 'long' : ctx.quick ? 'quick' : 'any')));
      const names = new Set(runs.map((t) => t.name));
      const finished = () => runs.every((t) => isFinal(recorder.run(t.name)?.status?.phase));
      const signalling = Promise.all(runs.map((t) => playLastingSignals(rng.fork(), lab, server!.url, ns, t, ctx.quick ? 4000 : 12_000, finished, timeline)));
      let longUsed = false;
      for (const c of plan) {
        // A random moment while a fault of this trial is held.
        await poll(() => player!.holding(names).length > 0 || finished() || undefined, 20_000, 50);
        await sleep(rng.between(0, ctx.quick ? 500 : 2000));
        if (c === 'agent') {
          await agent.stop('SIGKILL');
          crashes.agent++;
          await sleep(rng.between(0, ctx.quick ? 3000 : 6000));
          await agent.start();
        } else if (c === 'controller') {
          await kill(controller);
          const long: boolean = longDown && !longUsed;
          longUsed ||= long;
          crashes[long ? 'controller past the dead-man switch' : 'controller short']++;
          await sleep(long ? rng.between(12_000, 16_000) : rng.between(0, 3000));
          controller = await startController(lab.kubeconfig, ns, node.controllerArgs);
        } else {
          const held = await poll(() => (player!.holding(names).length ? player!.holding(names) : finished() ? [] : undefined), 5000, 50) ?? [];
          if (!held.length) { crashes['step pod (none held)']++; continue; }
          const pod = rng.pick(held);
          await lab.client.request('DELETE', paths.pods(ns, pod.metadata!.name!)).catch(() => {});
          crashes['step pod']++;
        }
      }
      await signalling;
      // The end of the faults: a paused run gets RUN (through sendSignal, so it opens its window), then they settle.
      for (const t of runs) {
        const run = await getRun(lab.client, ns, t.name);
        if (!isFinal(run.status?.phase) && run.spec.signalState === 'PAUSE') await sendSignal(lab, server.url, ns, t, 'RUN', false, timeline);
      }
      violations.push(...await settleAndCheck(lab, recorder, ns, runs, 120_000));
      for (const t of runs) deadMan += ((await getRun(lab.client, ns, t.name)).status?.history ?? []).filter((h) => h.reason === 'DeadManSwitch').length;
      // nothingLeftBehind: every run has ended; with an agent running again, nothing of ours may stay.
      await agent.start();
      const waited = Date.now();
      const clean = await poll(async () => ((await leftIn(boxes)).length === 0) || undefined, LEFT_BEHIND_WAIT_MS, 200);
      if (!clean) violations.push(...nothingLeftBehind(`trial ${i + 1}`, await leftIn(boxes), Date.now() - waited));
      trialCount++;
      ctx.say(`lasting: trial ${i + 1}/${trials} (${plan.join(' + ')}) done, ${violations.length} violation(s) so far`);
    }
    await poller.stop();
    violations.push(...faultEndsInTime(poller.inForce, timeline.data));
    // SIGTERM lets go of everything: nothing may be left after it either.
    await agent.stop('SIGTERM');
    const afterTerm = await leftIn(boxes);
    if (afterTerm.length) violations.push(...nothingLeftBehind('after the agent\'s SIGTERM', afterTerm, 0));
  } finally {
    await poller?.stop();
    player?.stop();
    runInformer.stop();
    recorder.stop();
    await agent?.stop('SIGKILL');
    if (controller) await kill(controller);
    if (server) await kill(server.child);
    sandboxes?.close();
    await node.stop();
  }
  // For diagnosis: CHAOSRUN_FAULTS_DUMP=FILE writes what the checks read (sightings and timelines).
  if (process.env.CHAOSRUN_FAULTS_DUMP) {
    writeFileSync(process.env.CHAOSRUN_FAULTS_DUMP, JSON.stringify({
      inForce: poller?.inForce ?? [], faults: Object.fromEntries(timeline.data.faults), windows: Object.fromEntries(timeline.data.windows),
    }, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)));
  }
  const episodes = endLatencies(poller?.inForce ?? [], timeline.data);
  const ends = episodes.map((e) => e.afterMs).sort((a, b) => a - b);
  const overrun = Math.max(...episodes.map((e) => e.afterMs - e.leaseMs));
  const faults = new Set((poller?.inForce ?? []).map((s) => `${s.holder}/${s.target}`)).size;
  return {
    fault: FAULT, unit: 'crash trials', trials: trialCount, violations, durationMs: Date.now() - started, checked: [...CHECKED],
    notes: [
      `crashes: ${Object.entries(crashes).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')}; ${deadMan} step(s) ended by the dead-man switch`,
      `${faults} faults seen in force over ${poller?.polls ?? 0} polls of ${TARGETS} target namespaces (every ${POLL_MS} ms)`,
      ends.length
        ? `after a fault was surely unwanted, its table was last seen in force ${ends[Math.floor(ends.length / 2)]} ms (median) / ${ends.at(-1)} ms (max) later, over ${ends.length} such episodes; `
          + `the most past its own lease: ${overrun} ms (bound: lease 2-4 s + ${LEASE_SLACK_MS} ms); every other ended within one poll`
        : 'every fault that stopped being wanted was gone by the next poll',
    ],
  };
}
