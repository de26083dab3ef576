// Wires the controller: informers on ChaosRuns and the Jobs they own feed a keyed work queue, the
// reconciler drains it, and (optionally) a Lease decides which replica may act. Informers run on
// every replica so a new leader starts with a warm cache. Work starts only once both caches have
// synced (a first sync slower than cacheSyncTimeoutMs is logged; /readyz stays 503 until then), and
// on stop the reconciles in flight finish (within shutdownGraceMs) before the Lease is released and
// the client closed, so a successor never acts beside a pass still writing.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig, V1Job } from '@kubernetes/client-node';
import { LABEL_RUN } from '../api/constants.ts';
import { isFinal, PHASES, type ChaosRun } from '../api/types.ts';
import { KubeClient } from '../kube/client.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { Informer, objectKey } from '../kube/informer.ts';
import { LeaderElector } from '../kube/leader.ts';
import { paths } from '../kube/paths.ts';
import { createLogger, type Logger } from '../log.ts';
import { isLeader, reconcileDuration, reconciles, runsByPhase, runsGated } from '../metrics/controller.ts';
import { WorkQueue, type Outcome } from './queue.ts';
import { AgentReports, type AgentReportsOptions } from './agent-reports.ts';
import { cachedJob, Reconciler } from './reconciler.ts';
import type { RenderContext } from '../scenarios/kind.ts';
import { ScenarioAccounts, type BindingRef } from '../scenarios/account.ts';
import type { GateView } from './decide.ts';
import { GateEvaluator } from '../gates/evaluator.ts';
import { HelperSweep } from './krkn-sweep.ts';
import { Cordoner } from '../cordon/cordoner.ts';

/** The render settings of a controller started without any (tests, the bench): the environment's, else main.ts's defaults. */
const defaultRenderContext: RenderContext = {
  operatorImage: process.env.OPERATOR_IMAGE ?? 'ghcr.io/chaosrun/chaosrun-operator:0.1.0',
  scenarioServiceAccount: process.env.SCENARIO_SERVICE_ACCOUNT ?? 'chaosrun-scenario',
};

export interface LeaderElectionSettings {
  leaseName: string;
  leaseNamespace: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  identity?: string;
}

export interface ControllerOptions {
  kubeconfig?: string | KubeConfig;
  namespaces?: string[];
  concurrency?: number;
  leaderElection?: false | LeaderElectionSettings;
  watchdogMs?: number;
  keepFinishedJobs?: number;
  render?: RenderContext;
  log?: Logger;
  /** Called when leadership is lost; the CLI exits so the pod restarts clean. */
  onLostLeadership?: () => void;
  gates?: (run: ChaosRun) => GateView | undefined;
  /** Bindings the scenario ServiceAccount is added to in each namespace a built-in step runs in (see scenarios/account.ts). */
  scenarioBindings?: BindingRef[];
  /** The first cache sync taking longer than this is logged as an error (default 60 s); the controller keeps waiting. */
  cacheSyncTimeoutMs?: number;
  /** How long stop() lets reconciles in flight finish before releasing the Lease anyway (default 15 s). */
  shutdownGraceMs?: number;
  /** The slow fallback requeue of unfinished runs (default 5 min, see reconciler.ts). */
  resyncMs?: number;
  /** Where the node agents' reports are read (see agent-reports.ts): their pods, or fixed endpoints. */
  agents?: Pick<AgentReportsOptions, 'namespace' | 'labelSelector' | 'endpoints'>;
  /**
   * The node faults' cordoner (src/cordon/cordoner.ts): on by default; false leaves nodeCordon and
   * nodeDrain steps uncordoned (their holders pick nodes that nothing cordons).
   */
  nodeFaults?: boolean;
  /** The node this controller runs on (the downward API): never cordoned unless a step allows it. */
  operatorNode?: string;
}

/** The label of each outcome on chaosrun_reconcile_total. */
const OUTCOME_LABEL: Record<Outcome['kind'], string> = {
  ok: 'ok', requeueAfter: 'requeue_after', conflict: 'conflict', error: 'error', terminal: 'terminal',
};

export interface RunningController {
  client: KubeClient;
  identity: string;
  isLeader(): boolean;
  ready(): boolean;
  /** Re-evaluates one run now (used by gates when what they watch changes). */
  enqueue(key: string): void;
  /** Refreshes gauges derived from the caches (called before a metrics scrape). */
  refreshGauges(): void;
  stop(): Promise<void>;
}

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const log = options.log ?? createLogger('controller');
  const client = new KubeClient(loadClusterAccess(options.kubeconfig));
  const informerBase = { namespaces: options.namespaces, watchdogMs: options.watchdogMs, log };
  const runs = new Informer<ChaosRun>(client, { ...informerBase, name: 'chaosruns', path: (ns) => paths.chaosRuns(ns) });
  const jobs = new Informer<V1Job>(client, { ...informerBase, name: 'jobs', path: (ns) => paths.jobs(ns), labelSelector: LABEL_RUN, transform: cachedJob });
  const identity = (options.leaderElection && options.leaderElection.identity) || `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let elector: LeaderElector | undefined;
  const canAct = () => (elector ? elector.isLeader() : true);

  // Gate verdicts wake their run; a finished run needs no more evaluation.
  const evaluator = new GateEvaluator(client, log, (key) => queue.add(key, 'gate'));
  const gates = options.gates ?? ((run: ChaosRun) => {
    if (!isFinal(run.status?.phase)) return evaluator.view(run);
    evaluator.forget(objectKey(run));
    return undefined;
  });
  const reconciler = new Reconciler({
    client, runs, jobs, log, canAct, gates,
    render: options.render ?? defaultRenderContext,
    scenarioAccounts: options.scenarioBindings?.length
      ? new ScenarioAccounts(client, (options.render ?? defaultRenderContext).scenarioServiceAccount, options.scenarioBindings)
      : undefined,
    keepFinishedJobs: options.keepFinishedJobs ?? 5,
    ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
    ...(options.agents && (options.agents.endpoints || options.agents.labelSelector) ? { agentReports: new AgentReports({ client, log, ...options.agents }) } : {}),
  });
  const queue = new WorkQueue((key, trigger) => {
    const end = reconcileDuration.startTimer();
    return reconciler.reconcile(key, trigger).finally(end);
  }, {
    concurrency: options.concurrency ?? 16,
    onOutcome: (_key, outcome) => reconciles.inc({ result: OUTCOME_LABEL[outcome.kind] }),
  });

  runs.on('add', (r) => queue.add(objectKey(r)));
  runs.on('update', (r) => {
    // The signal clock starts when the watch delivers a new signal: that is "seeing" it.
    // A new signal takes the queue's priority lane.
    if (r.spec?.signalState && r.spec.signalState !== r.status?.observedSignal) {
      reconciler.signals.saw(objectKey(r), r.spec.signalState);
      queue.add(objectKey(r), 'signal', true);
      return;
    }
    queue.add(objectKey(r));
  });
  runs.on('delete', (r) => { reconciler.signals.forget(objectKey(r)); evaluator.forget(objectKey(r)); queue.add(objectKey(r)); });
  // The cordoner runs on every replica (each uncordons what is no longer wanted; only the leader
  // cordons and evicts), from its own watches and this runs cache; a run's change is one of its events.
  const cordoner = options.nodeFaults === false ? undefined : new Cordoner({
    client, runs, namespaces: options.namespaces, canAct, log: log.child({ component: 'cordoner' }), watchdogMs: options.watchdogMs,
    ...(options.operatorNode ? { operatorNode: options.operatorNode } : {}),
  });
  if (cordoner) for (const ev of ['add', 'update', 'delete'] as const) runs.on(ev, () => cordoner.kick());
  const onJob = (j: V1Job) => {
    const run = j.metadata?.labels?.[LABEL_RUN];
    if (run && j.metadata?.namespace) queue.add(`${j.metadata.namespace}/${run}`);
  };
  jobs.on('add', onJob);
  jobs.on('update', onJob);
  jobs.on('delete', onJob);

  // krkn helper namespaces whose run is gone (a run's own are removed by its passes).
  const helperSweep = new HelperSweep({ client, runs, namespaces: options.namespaces, canAct, log: log.child({ component: 'krkn-sweep' }) });

  let stopped = false;
  const beginWork = () => {
    isLeader.set(1);
    queue.start();
    helperSweep.start();
    cordoner?.kick(); // a new leader cordons (and drains) what is wanted at once
    for (const r of runs.list()) queue.add(objectKey(r), 'start');
  };
  const campaign = () => {
    if (stopped) return;
    if (!elector) { beginWork(); return; }
    isLeader.set(0);
    elector.start();
  };

  if (options.leaderElection) {
    const le = options.leaderElection;
    elector = new LeaderElector({
      client, identity, log,
      namespace: le.leaseNamespace, name: le.leaseName,
      leaseDurationMs: le.leaseDurationMs ?? 15_000,
      renewDeadlineMs: le.renewDeadlineMs ?? 10_000,
      retryPeriodMs: le.retryPeriodMs ?? 2_000,
      onStartedLeading: beginWork,
      onStoppedLeading: () => {
        queue.stop();
        helperSweep.stop();
        isLeader.set(0);
        options.onLostLeadership?.();
      },
    });
  }

  // Acting on a half-listed cache would miss runs (or Jobs, and create them twice): work waits for the sync.
  const synced = Promise.all([runs.start(), jobs.start()]).then(() => true);
  // Not part of readiness: a cluster that refuses the cordoner its watches (an older chart's RBAC) still runs every other step.
  void synced.then(() => (stopped ? undefined : cordoner?.start())).catch((err) => log.error({ err }, 'the cordoner did not start'));
  const syncTimeoutMs = options.cacheSyncTimeoutMs ?? 60_000;
  let syncTimer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([synced, new Promise<false>((r) => { syncTimer = setTimeout(() => r(false), syncTimeoutMs); })]);
  clearTimeout(syncTimer);
  if (inTime) {
    campaign();
  } else {
    log.error({ waitedMs: syncTimeoutMs, chaosruns: runs.synced, jobs: jobs.synced },
      'caches not synced yet: is the ChaosRun CRD installed, and may this identity list and watch chaosruns and jobs? ' +
      '/readyz stays not ready; work starts once they sync');
    void synced.then(() => { if (!stopped) log.info('caches synced; starting work'); campaign(); });
  }
  log.info({ identity, namespaces: options.namespaces ?? 'all', leaderElection: Boolean(options.leaderElection) }, 'controller started');

  return {
    client,
    identity,
    isLeader: canAct,
    ready: () => runs.synced && jobs.synced,
    enqueue: (key) => queue.add(key, 'gate'),
    refreshGauges: () => {
      const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
      for (const r of runs.list()) counts.set(r.status?.phase ?? 'Pending', (counts.get(r.status?.phase ?? 'Pending') ?? 0) + 1);
      for (const [phase, n] of counts) runsByPhase.set({ phase }, n);
      runsGated.set(runs.list().filter((r) => r.status?.gatedSince).length);
    },
    async stop() {
      stopped = true;
      evaluator.stop();
      helperSweep.stop();
      await cordoner?.stop();
      const graceMs = options.shutdownGraceMs ?? 15_000;
      if (!await queue.drain(graceMs)) log.warn({ graceMs, inFlight: queue.busy }, 'reconciles still in flight after the grace period; releasing the lease anyway');
      await elector?.stop();
      runs.stop();
      jobs.stop();
      client.close();
    },
  };
}
