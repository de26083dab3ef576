// What every trial needs: the cluster (a dedicated local plane, or KUBECONFIG), namespaces, the
// operator's processes, signals sent with their times, a recorder of every Job and pod the API
// server reported, and the end of a trial: let its runs settle, then check the invariants.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { LABEL_ITERATION, LABEL_RUN, LABEL_STEP_INDEX } from '../src/api/constants.ts';
import { isFinal, type ChaosRun, type ChaosRunSpec, type Signal } from '../src/api/types.ts';
import { clusterDown, clusterUp, type ClusterState } from '../src/local/controlplane.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../src/kube/client.ts';
import { Informer } from '../src/kube/informer.ts';
import { paths } from '../src/kube/paths.ts';
import { createLogger } from '../src/log.ts';
import { repoRoot } from '../test/helpers/env.ts';
import { createRun, getRun, kwokStep, signal as patchRun, spawnController } from '../test/helpers/operator.ts';
import { checkRun, OPERATOR_BOUND_MS, whoseTurn, type JobRecord, type SignalRecord, type Turn, type Violation } from './invariants.ts';
import type { Random } from './random.ts';

/** What a fault's trials get from the campaign. */
export interface TrialContext {
  lab: Lab;
  rng: Random;
  quick: boolean;
  say(message: string): void;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const quiet = () => createLogger('faults', 'silent');

/** Polls until `check` returns a value, or gives up after `timeoutMs` (undefined: the caller decides what that means). */
export async function poll<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(check).catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}

export interface Lab {
  kubeconfig: string;
  client: KubeClient;
  /** The dedicated plane the campaign started, whose API server it may restart; absent with KUBECONFIG. */
  plane?: ClusterState;
  /** The plane's own lag, gathered by the settle waits of one fault (the campaign reports and resets it). */
  planeLag: { jobMs: number[]; unjudged: string[] };
  namespace(prefix: string): Promise<string>;
  close(): Promise<void>;
}

/** A dedicated local plane in `clusterDir` (stopped by close()), or the cluster of `kubeconfig`. */
export async function openLab(target: { clusterDir: string } | { kubeconfig: string }, say: (m: string) => void): Promise<Lab> {
  const plane = 'clusterDir' in target ? (await clusterUp(target.clusterDir, say)).state : undefined;
  const kubeconfig = plane ? plane.kubeconfig : (target as { kubeconfig: string }).kubeconfig;
  const client = new KubeClient(loadKubeConfig(kubeconfig));
  const created: string[] = [];
  return {
    kubeconfig, client, ...(plane ? { plane } : {}),
    planeLag: { jobMs: [], unjudged: [] },
    async namespace(prefix) {
      const name = `faults-${prefix}-${Date.now().toString(36)}`;
      await client.request('POST', paths.namespaces(), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
      created.push(name);
      return name;
    },
    async close() {
      if (plane) await clusterDown(plane.dir);
      else for (const ns of created) await client.request('DELETE', paths.namespaces(ns)).catch(() => {});
      client.close();
    },
  };
}

export type Child = ChildProcess & { output: () => string };

/** `chaosrun controller` on one namespace, keeping every Job (the checks need them all); resolves once it runs. */
export async function startController(kubeconfig: string, namespace: string, args: string[] = []): Promise<Child> {
  const child = spawnController({ kubeconfig, namespace }, ['--keep-jobs', '100000', ...args]);
  const up = await poll(() => child.output().includes('"controller started"') || child.exitCode !== null, 30_000, 50);
  if (!up || child.exitCode !== null) throw new Error(`the controller did not start:\n${child.output().slice(-2000)}`);
  return child;
}

export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** `chaosrun signal-server` (no auth, loopback, a free port) on one namespace; resolves with its URL once ready. */
export async function startSignalServer(kubeconfig: string, namespace: string): Promise<{ url: string; child: Child }> {
  const proc = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'signal-server',
    '--kubeconfig', kubeconfig, '--namespaces', namespace, '--auth', 'none', '--bind', '127.0.0.1', '--port', '0', '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const child = Object.assign(proc, { output: () => out });
  // --port 0: the kernel picks the port, and the 'signal server listening' log line names it.
  const url = await poll(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1] ?? (child.exitCode !== null ? '' : undefined), 30_000, 50);
  if (!url) throw new Error(`the signal server did not start:\n${out.slice(-2000)}`);
  const ready = await poll(async () => (await fetch(`${url}/readyz`)).ok || undefined, 30_000);
  if (!ready) throw new Error(`the signal server never became ready:\n${out.slice(-2000)}`);
  return { url, child };
}

/** A signal as `kubectl patch --type merge` sends it. */
export async function sendPatch(client: KubeClient, namespace: string, name: string, signal: Signal): Promise<SignalRecord> {
  const sentAt = Date.now();
  try {
    await patchRun(client, namespace, name, signal);
    return { signal, via: 'patch', sentAt, answeredAt: Date.now(), status: 200, accepted: true };
  } catch (err) {
    return { signal, via: 'patch', sentAt, answeredAt: Date.now(), status: err instanceof KubeError ? err.status : 0, accepted: false };
  }
}

/** A signal through the signal server's per-run route. */
export async function sendHttp(url: string, namespace: string, name: string, signal: Signal): Promise<SignalRecord> {
  const sentAt = Date.now();
  try {
    const res = await fetch(`${url}/runs/${namespace}/${name}/${signal}`, { method: 'POST', signal: AbortSignal.timeout(35_000) });
    await res.arrayBuffer();
    return { signal, via: 'http', sentAt, answeredAt: Date.now(), status: res.status, accepted: res.status === 200 };
  } catch {
    return { signal, via: 'http', sentAt, answeredAt: Date.now(), status: 0, accepted: false };
  }
}

/** A run of random shape within the campaign's bounds: 1-3 iterations of 1-3 steps of 0-2 s, waits 0-2 s. */
export function randomSpec(rng: Random): Partial<ChaosRunSpec> & { scenarios: ChaosRunSpec['scenarios'] } {
  const steps = rng.int(1, 3);
  return {
    iterations: rng.int(1, 3),
    waitDuration: rng.pick(['0s', '500ms', '1s', '2s']),
    failurePolicy: rng.pick(['Continue', 'Stop'] as const),
    scenarios: Array.from({ length: steps }, (_, i) => kwokStep(`s${i}`, rng.int(0, 2), rng.chance(0.15) ? 'fail' : 'succeed')),
  };
}

/** A run the campaign created and the signals it sent it. */
export interface Tracked { name: string; signals: SignalRecord[] }

export async function track(lab: Lab, namespace: string, name: string, spec: Parameters<typeof createRun>[3]): Promise<Tracked> {
  await createRun(lab.client, namespace, name, spec);
  return { name, signals: [] };
}

/** Every Job and pod of a namespace the API server reported, by uid, from a watch plus a final list. */
/** A fresh namespace for one fault, with its Recorder already watching. */
export async function trialNamespace(lab: Lab, prefix: string): Promise<{ ns: string; recorder: Recorder }> {
  const ns = await lab.namespace(prefix);
  const recorder = new Recorder(lab.client, ns);
  await recorder.start();
  return { ns, recorder };
}

export class Recorder {
  private readonly jobs = new Map<string, JobRecord & { run: string }>();
  private readonly pods = new Map<string, string>();
  /** Job uid -> when its pod was first seen ended. */
  private readonly podEnded = new Map<string, number>();
  /** Run name -> when its status was last seen to change (the operator moving). */
  private readonly statusChanged = new Map<string, number>();
  private readonly lastStatus = new Map<string, string>();
  private readonly jobInformer: Informer<V1Job>;
  private readonly podInformer: Informer<V1Pod>;
  private readonly runInformer: Informer<ChaosRun>;
  private readonly jobListeners = new Set<(j: JobRecord) => void>();
  private readonly runListeners = new Set<(r: ChaosRun) => void>();
  private readonly client: KubeClient;
  private readonly namespace: string;

  constructor(client: KubeClient, namespace: string) {
    this.client = client;
    this.namespace = namespace;
    const base = { namespaces: [namespace], log: quiet(), labelSelector: LABEL_RUN, watchdogMs: 10_000 };
    this.jobInformer = new Informer<V1Job>(client, { ...base, name: 'jobs', path: (ns) => paths.jobs(ns) });
    this.podInformer = new Informer<V1Pod>(client, { ...base, name: 'pods', path: (ns) => paths.pods(ns) });
    this.runInformer = new Informer<ChaosRun>(client, { namespaces: [namespace], log: quiet(), watchdogMs: 10_000, name: 'runs', path: (ns) => paths.chaosRuns(ns) });
    for (const e of ['add', 'update'] as const) {
      this.jobInformer.on(e, (j) => this.saw(j));
      this.podInformer.on(e, (p) => this.sawPod(p));
      this.runInformer.on(e, (r) => {
        const status = JSON.stringify(r.status ?? {});
        if (this.lastStatus.get(r.metadata.name) !== status) { this.lastStatus.set(r.metadata.name, status); this.statusChanged.set(r.metadata.name, Date.now()); }
        for (const l of this.runListeners) l(r);
      });
    }
  }

  async start(): Promise<void> { await Promise.all([this.jobInformer.start(), this.podInformer.start(), this.runInformer.start()]); }

  stop(): void { this.jobInformer.stop(); this.podInformer.stop(); this.runInformer.stop(); }

  /** Resolves at the next new Job (or after timeoutMs with undefined). */
  nextJob(timeoutMs: number): Promise<JobRecord | undefined> { return this.next(this.jobListeners, () => true, timeoutMs); }

  /** Resolves at the next run update that `match` accepts. */
  nextRun(match: (r: ChaosRun) => boolean, timeoutMs: number): Promise<ChaosRun | undefined> { return this.next(this.runListeners, match, timeoutMs); }

  run(name: string): ChaosRun | undefined { return this.runInformer.get(name, this.namespace); }

  hasJob(name: string): boolean { return [...this.jobs.values()].some((j) => j.name === name); }

  /** The Jobs of one run as the watches have shown them so far (no extra list). */
  seenJobsOf(run: string): JobRecord[] {
    return [...this.jobs.values()].filter((j) => j.run === run).map(({ run: _run, ...j }) => ({ ...j, ...(this.podEnded.has(j.uid) ? { podEndedAt: this.podEnded.get(j.uid) } : {}) }));
  }

  /** When the run's status last changed, as the watch saw it. */
  statusChangedAt(run: string): number | undefined { return this.statusChanged.get(run); }

  /** The Jobs of one run, after a final list to catch what a watch gap may have hidden. */
  async jobsOf(run: string): Promise<JobRecord[]> {
    const [jobs, pods] = await Promise.all([
      this.client.request<{ items: V1Job[] }>('GET', paths.jobs(this.namespace), { query: { labelSelector: LABEL_RUN } }),
      this.client.request<{ items: V1Pod[] }>('GET', paths.pods(this.namespace), { query: { labelSelector: LABEL_RUN } }),
    ]);
    for (const j of jobs.items) this.saw(j);
    for (const p of pods.items) this.sawPod(p);
    const podCount = new Map<string, number>();
    for (const owner of this.pods.values()) podCount.set(owner, (podCount.get(owner) ?? 0) + 1);
    return this.seenJobsOf(run).map((j) => ({ ...j, pods: podCount.get(j.uid) ?? 0 }));
  }

  private next<T>(listeners: Set<(v: T) => void>, match: (v: T) => boolean, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const done = (v: T | undefined) => { listeners.delete(listener); clearTimeout(timer); resolve(v); };
      const listener = (v: T) => { if (match(v)) done(v); };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      listeners.add(listener);
    });
  }

  private saw(j: V1Job): void {
    const uid = j.metadata?.uid;
    const labels = j.metadata?.labels ?? {};
    if (!uid || !j.metadata?.name) return;
    const cond = (type: string) => j.status?.conditions?.some((c) => c.type === type && c.status === 'True');
    const outcome = cond('Complete') ? 'Succeeded' as const : cond('Failed') ? 'Failed' as const : undefined;
    const known = this.jobs.get(uid);
    const record = {
      name: j.metadata.name, uid, run: labels[LABEL_RUN] ?? '',
      iteration: Number(labels[LABEL_ITERATION]), stepIndex: Number(labels[LABEL_STEP_INDEX]),
      created: Date.parse(String(j.metadata.creationTimestamp)), pods: 0,
      ...(outcome ?? known?.outcome ? { outcome: outcome ?? known!.outcome, outcomeSeenAt: known?.outcomeSeenAt ?? Date.now() } : {}),
    };
    this.jobs.set(uid, record);
    if (!known) for (const l of this.jobListeners) l(record);
  }

  private sawPod(p: V1Pod): void {
    const owner = p.metadata?.ownerReferences?.find((o) => o.kind === 'Job')?.uid;
    if (p.metadata?.uid && owner) this.pods.set(p.metadata.uid, owner);
    const ended = p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
    if (owner && ended && !this.podEnded.has(owner)) this.podEnded.set(owner, Date.now());
  }
}

/** How long the settle wait may wait on the plane alone (its Job controller after API-server restarts). */
const PLANE_GRACE_MS = 180_000;

/**
 * The end of a trial: the faults are over, so a paused run gets RUN (recorded like any signal), and the
 * runs settle. The operator is judged from when it is its turn (whoseTurn): the wait ends when every
 * run is final, when the operator has left a turn unplayed for OPERATOR_BOUND_MS (a settles violation),
 * or after `timeoutMs` plus PLANE_GRACE_MS with runs still waiting on the plane (not judged; reported
 * with the plane's lag). Then each run is checked.
 */
export async function settleAndCheck(lab: Lab, recorder: Recorder, namespace: string, runs: Tracked[], timeoutMs: number): Promise<Violation[]> {
  for (const t of runs) {
    const run = await getRun(lab.client, namespace, t.name);
    if (!isFinal(run.status?.phase) && run.spec.signalState === 'PAUSE') t.signals.push(await sendPatch(lab.client, namespace, t.name, 'RUN'));
  }
  const start = Date.now();
  let turns: Array<Turn | undefined> = [];
  for (;;) {
    const all = await Promise.all(runs.map((t) => getRun(lab.client, namespace, t.name)));
    turns = all.map((r, i) => whoseTurn(r, recorder.seenJobsOf(runs[i].name), Math.max(start, recorder.statusChangedAt(runs[i].name) ?? 0)));
    if (turns.every((t) => !t)) break;
    if (turns.some((t) => t?.waiting === 'operator' && Date.now() - t.since > OPERATOR_BOUND_MS)) break;
    if (Date.now() - start > timeoutMs + PLANE_GRACE_MS) break;
    await sleep(250);
  }
  const violations: Violation[] = [];
  for (const [i, t] of runs.entries()) {
    const run = await getRun(lab.client, namespace, t.name);
    const jobs = await recorder.jobsOf(t.name);
    for (const j of jobs) if (j.outcomeSeenAt && j.podEndedAt) lab.planeLag.jobMs.push(Math.max(0, j.outcomeSeenAt - j.podEndedAt));
    // Re-judged on the final read: a run that ended meanwhile is final, one still on the plane is not the operator's.
    const turn = whoseTurn(run, jobs, 0) ? turns[i] : undefined;
    const waitingOnPlane = turn?.waiting === 'plane' ? turn.why : undefined;
    if (waitingOnPlane) lab.planeLag.unjudged.push(`${namespace}/${t.name}: ${waitingOnPlane}`);
    violations.push(...checkRun({ key: `${namespace}/${t.name}`, run, jobs, signals: t.signals, ...(waitingOnPlane ? { waitingOnPlane } : {}) }));
  }
  return violations;
}

/** The plane's lag as a figure for a fault's notes: the Job controller's delay from a pod's end to its Job's outcome. */
export function planeLagNote(lag: Lab['planeLag']): string | undefined {
  if (!lag.jobMs.length && !lag.unjudged.length) return undefined;
  const sorted = [...lag.jobMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `plane lag (pod end to Job outcome): ${sorted.length ? `median ${at(0.5)} ms, max ${sorted.at(-1)} ms over ${sorted.length} Jobs` : 'no Job seen end'}` +
    `${lag.unjudged.length ? `; settles not judged for ${lag.unjudged.length} run(s) still waiting on the plane (${lag.unjudged.slice(0, 3).join('; ')})` : ''}`;
}

/** Sends a random signal script to a run: 0-3 signals at random moments, over HTTP or as a patch. */
export async function playSignals(rng: Random, lab: Lab, url: string, namespace: string, t: Tracked, spanMs: number, until: () => boolean): Promise<void> {
  const count = rng.int(0, 3);
  const moments = Array.from({ length: count }, () => rng.between(0, spanMs)).sort((a, b) => a - b);
  const plan = moments.map((at) => ({ at, signal: rng.pick(['PAUSE', 'PAUSE', 'RUN', 'RUN', 'STOP'] as const), http: rng.chance(0.5) }));
  const start = Date.now();
  for (const p of plan) {
    await sleep(start + p.at - Date.now());
    if (until()) return;
    t.signals.push(p.http ? await sendHttp(url, namespace, t.name, p.signal) : await sendPatch(lab.client, namespace, t.name, p.signal));
  }
}
