// The imperative shell around decide(): read the run and its Jobs from the informer caches, ask the
// pure core what to do, and carry the actions out. The status write goes first and is conditional
// on the resourceVersion the decision saw; when it conflicts nothing else happens (see decide.ts).
// Every pass ends in one classified outcome (see queue.ts): ok, requeueAfter, conflict, error, or
// terminal. A Job the API server refuses (400/413/422: sending it again cannot help) is that step's
// failure: the pass decides once more with the refused Job observed as Failed with the server's
// message, so the run records it and follows its failurePolicy instead of retrying forever.
import { randomUUID } from 'node:crypto';
import type { KubernetesObject, V1Job, V1Pod } from '@kubernetes/client-node';
import { FINALIZER, LABEL_ITERATION, LABEL_RUN, LABEL_STEP_INDEX, MANAGER } from '../api/constants.ts';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, faultBoundSeconds, faultWord, parseFaultSpec, parseFaultTargets, type FaultTargetRef } from '../api/fault-holder.ts';
import type { AgentReportSource } from './agent-reports.ts';
import { isFinal, type ChaosRun, type ChaosRunStatus } from '../api/types.ts';
import { isAlreadyExists, isConflict, isNotFound, isTerminal, MERGE_PATCH, type ApiClient } from '../kube/client.ts';
import { recordEvent } from '../kube/events.ts';
import type { Store } from '../kube/informer.ts';
import { paths } from '../kube/paths.ts';
import { compareResourceVersions } from '../kube/resource-version.ts';
import type { Logger } from '../log.ts';
import { deadManRenewals, gatedSeconds, signalLatency, stepResults, stepsStarted } from '../metrics/controller.ts';
import { planStep } from '../safety/dry-run.ts';
import type { RenderContext } from '../scenarios/kind.ts';
import {
  helperNamespaceObject, helperNamespaceOf, LABEL_KRKN_HELPERS, LABEL_RUN_UID, observeHelperNamespace, runUsesHelperNamespaces,
  type NamespaceView, type ObservedHelperNamespace,
} from '../scenarios/krkn-helpers.ts';
import { isLastingScenario, SCENARIO_KINDS } from '../scenarios/registry.ts';
import { UntilSeen } from './until-seen.ts';
import { decide, reportLine, type Action, type DecideOptions, type DryRunPlan, type GateView, type ObservedJob } from './decide.ts';
import { jobName } from './job-name.ts';
import { removeHelperNamespace } from './krkn-sweep.ts';
import type { Outcome, Trigger } from './queue.ts';
import { renderJob } from './render-job.ts';

export interface ReconcilerOptions {
  client: ApiClient;
  runs: Store<ChaosRun>;
  jobs: Store<V1Job>;
  render: RenderContext;
  keepFinishedJobs: number;
  log: Logger;
  /** False once leadership is lost: no API write may happen after that. */
  canAct: () => boolean;
  gates?: (run: ChaosRun) => GateView | undefined;
  /** Makes the built-in scenarios' ServiceAccount usable in a namespace before its first step there. */
  scenarioAccounts?: { ensure(namespace: string): Promise<void> };
  /**
   * The slow fallback: an unfinished run is reconciled at least this often (±10 %), in case an event
   * was missed. Such a pass reads only the caches and writes nothing when nothing changed.
   */
  resyncMs?: number;
  /** The node agents' reports on a lasting step's fault (see agent-reports.ts); absent: none are read. */
  agentReports?: AgentReportSource;
  now?: () => number;
  random?: () => number;
}

export const DEFAULT_RESYNC_MS = 5 * 60_000;

/** What carrying out a decision's actions in order led to. */
type InOrder = { stop: 'conflict' | 'gone' | 'leadership'; refused?: undefined } | { run: ChaosRun; refused?: ObservedJob };

/** What carrying out one action led to. */
type Applied = { run: ChaosRun } | { stop: 'conflict' | 'gone' } | { refused: ObservedJob };

const toIso = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : v instanceof Date ? v.toISOString() : String(v);

/**
 * The controller's Job cache keeps only what it reads (observeJob, jobsOf, the Job event handler):
 * a step Job's pod template, most of its size, is never read back, so it is dropped before caching.
 */
export function cachedJob(obj: KubernetesObject): KubernetesObject {
  const job = obj as V1Job;
  const m = job.metadata ?? {};
  const view: V1Job = {
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels,
      ...(m.creationTimestamp ? { creationTimestamp: m.creationTimestamp } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
      ...(m.ownerReferences ? { ownerReferences: m.ownerReferences.map(({ apiVersion, kind, name, uid }) => ({ apiVersion, kind, name, uid })) } : {}),
    },
    ...(job.spec?.activeDeadlineSeconds !== undefined ? { spec: { activeDeadlineSeconds: job.spec.activeDeadlineSeconds, template: {} } } : {}),
    status: {
      ...(job.status?.startTime ? { startTime: job.status.startTime } : {}),
      ...(job.status?.conditions ? {
        conditions: job.status.conditions.map(({ type, status, reason, message, lastTransitionTime }) => ({ type, status, reason, message, lastTransitionTime })),
      } : {}),
    },
  };
  return view as KubernetesObject;
}

/** The pure core's view of a Job, from its labels and conditions. */
export function observeJob(job: V1Job): ObservedJob | undefined {
  const labels = job.metadata?.labels ?? {};
  const iteration = Number(labels[LABEL_ITERATION]);
  const stepIndex = Number(labels[LABEL_STEP_INDEX]);
  if (!job.metadata?.name || !Number.isInteger(iteration) || !Number.isInteger(stepIndex)) return undefined;
  const cond = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const complete = cond('Complete');
  const failed = cond('Failed');
  const done = complete ?? failed;
  return {
    name: job.metadata.name,
    iteration,
    stepIndex,
    state: complete ? 'Succeeded' : failed ? 'Failed' : 'Active',
    deleting: Boolean(job.metadata.deletionTimestamp),
    ...(done ? { finishTime: toIso(done.lastTransitionTime) } : {}),
    ...(failed ? { message: [failed.reason, failed.message].filter(Boolean).join(': ') } : {}),
    ...(failed?.reason ? { failureReason: failed.reason } : {}),
    ...(job.spec?.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: job.spec.activeDeadlineSeconds } : {}),
    // The deadline counts from status.startTime; before the Job controller sets it, its creation is
    // the earlier (safe: never shorter) origin.
    ...(toIso(job.status?.startTime ?? job.metadata.creationTimestamp) ? { startTime: toIso(job.status?.startTime ?? job.metadata.creationTimestamp) } : {}),
  };
}

/**
 * A pod's termination message as one line for the history: its last line that says something (has a
 * letter or digit), without terminal colours. krkn prints its banner (ASCII art) to a buffered stdout,
 * so it comes out at exit after the log lines that say why, and colours its log levels.
 */
export function lastLineOf(message: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const plain = message.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  return plain.split('\n').filter((l) => /[A-Za-z0-9]/.test(l)).pop()?.trim() || undefined;
}

/** Tracks when a new signal was first seen, to measure signal → status latency. */
export class SignalClock {
  private readonly seen = new Map<string, { signal: string; at: number }>();
  saw(key: string, signal: string): void {
    if (this.seen.get(key)?.signal !== signal) this.seen.set(key, { signal, at: performance.now() });
  }
  reflected(key: string, signal: string | undefined): void {
    const s = this.seen.get(key);
    if (!s || s.signal !== signal) return;
    signalLatency.observe({ signal: s.signal }, (performance.now() - s.at) / 1000);
    this.seen.delete(key);
  }
  forget(key: string): void { this.seen.delete(key); }
}

/**
 * How long a Job this process created counts as there while the Job cache has not shown it. Its watch
 * event comes in milliseconds on a healthy plane; past this, the next pass POSTs it again (a 409 at
 * worst), so the step is never lost to a create that did not land.
 */
const EXPECTATION_TTL_MS = 15_000;

/** How long a run this process wrote stands in for an older cached copy (see `written`); a stalled watch, past it. */
const OWN_WRITE_TTL_MS = 15_000;

export class Reconciler {
  readonly signals = new SignalClock();
  private readonly o: ReconcilerOptions;
  /**
   * The step Job this process last created for each run (namespace/name), while the Job cache has not
   * shown it yet ("expectations", as controller-runtime's ReplicaSet controller keeps them). One per
   * run is enough: a run's passes never overlap and each creates at most one Job. Recording a step
   * writes the status first, and that write's own watch event wakes the run again, usually before the
   * Job's does: without this the pass would see the step's Job missing and POST it again for a 409
   * (the bench measured 1,633 such creates for 2,196 steps at 1,000 runs). Memory only: after a restart
   * the first pass may POST once more and gets AlreadyExists, which is handled.
   */
  private readonly created: UntilSeen<ObservedJob>;
  /**
   * The run as this process last wrote it (the API server's answer to a status PUT or a finalizer or
   * timed-pause patch), while the runs cache still shows an older resourceVersion: read-your-writes.
   * A pass woken by a Job event right after a status write (a STOP's deletion sends several) would
   * otherwise decide again from the status before that write and PUT it once more for a 409: the
   * bench counted 1,944 status PUTs for 1,000 stopped runs. The answer is the object as stored, so it
   * is never older than what it replaced; once the cache shows that resourceVersion or a newer one
   * (someone's signal), the cache is used again. Memory only, and never past OWN_WRITE_TTL_MS.
   */
  private readonly written: UntilSeen<ChaosRun>;

  constructor(options: ReconcilerOptions) {
    this.o = options;
    this.created = new UntilSeen(EXPECTATION_TTL_MS, () => this.now());
    this.written = new UntilSeen(OWN_WRITE_TTL_MS, () => this.now());
  }

  jobsOf(run: ChaosRun): ObservedJob[] {
    const { name, namespace, uid } = run.metadata;
    const seen = this.o.jobs.list(namespace)
      .filter((j) => j.metadata?.labels?.[LABEL_RUN] === name && j.metadata?.ownerReferences?.some((r) => r.uid === uid))
      .map(observeJob)
      .filter((j): j is ObservedJob => j !== undefined);
    const expected = this.created.get(`${namespace}/${name}`, (job) => this.o.jobs.get(job.name, namespace) !== undefined);
    if (expected) seen.push(expected);
    return seen;
  }

  /** A step Job this process just created: it counts as there until the cache shows it (see `created`). */
  private expect(runKey: string, job: V1Job): void {
    const observed = observeJob(job);
    if (observed) this.created.set(runKey, observed);
  }

  /** The run to decide on: the cached copy, or this process's own newer write while the cache catches up. */
  private observeRun(key: string, cached: ChaosRun | undefined): ChaosRun | undefined {
    // Seen: the cache holds that resourceVersion or a newer one (or the run is gone, or they cannot be ordered).
    const own = this.written.get(key, (run) => cached === undefined || compareResourceVersions(cached.metadata.resourceVersion, run.metadata.resourceVersion) !== -1);
    return own ?? cached;
  }

  private remember(key: string, run: ChaosRun | undefined): void {
    if (run?.metadata?.resourceVersion) this.written.set(key, run);
  }

  /** One pass over one run: never throws; the outcome says what the queue should do next. */
  async reconcile(key: string, trigger: Trigger = 'event'): Promise<Outcome> {
    const log = this.o.log.child({ run: key, reconcileId: randomUUID(), trigger });
    try {
      return await this.pass(key, log);
    } catch (err) {
      if (isConflict(err)) return { kind: 'conflict' };
      if (isTerminal(err)) {
        log.error({ err }, 'reconcile failed and retrying cannot help; trying again only at the slow fallback');
        return { kind: 'terminal', err, requeueAfterMs: this.resyncDelay() };
      }
      log.warn({ err }, 'reconcile failed; retrying with backoff');
      return { kind: 'error', err };
    }
  }

  private async pass(key: string, log: Logger): Promise<Outcome> {
    const [namespace, name] = key.split('/');
    let run = this.observeRun(key, this.o.runs.get(name, namespace));
    if (!run) { this.signals.forget(key); return { kind: 'ok' }; }
    let jobs = await this.withFaultTargets(run, await this.withFailureMessages(run, this.jobsOf(run), log), log);
    let refusal: ObservedJob | undefined;
    const dryRunPlan = await this.dryRunPlan(run);
    const helperNamespaces = await this.helperNamespacesOf(run, log);
    // A second round only after a refused Job, and at most one: each round records one step.
    for (let round = 0; round < 2; round++) {
      const decision = decide(run, jobs, this.now(), {
        ...this.decideOptions(run), ...(dryRunPlan ? { dryRunPlan } : {}), ...(helperNamespaces ? { helperNamespaces } : {}),
      });
      const actions = [...decision.actions];
      // Under STOP the Job deletion that ends chaos comes first, and the status write need not wait
      // for its answer: STOP is final, and a Job a failed delete left running is deleted again by the
      // finished run's next pass (decide's onFinished). Both go out together, which halves a stopping
      // run's time in the queue when one broadcast stops a thousand runs.
      const current: ChaosRun = run;
      const stopping: boolean = current.spec.signalState === 'STOP' && actions[0]?.kind === 'deleteJob' && this.o.canAct();
      const beside: Promise<Applied> | undefined = stopping ? this.apply(current, actions.shift()!, log) : undefined;
      const [deleted, rest] = await Promise.allSettled([beside, this.applyInOrder(current, actions, log)]);
      if (deleted.status === 'rejected') throw deleted.reason;
      if (rest.status === 'rejected') throw rest.reason;
      const { refused } = rest.value;
      if ('stop' in rest.value) return rest.value.stop === 'conflict' ? { kind: 'conflict' } : { kind: 'ok' };
      run = rest.value.run;
      if (refused) {
        refusal = refused;
        if (round === 0) { jobs = [...jobs, refused]; continue; }
      }
      const wake = this.fallback(run, decision.requeueAfterMs);
      if (refusal) return { kind: 'terminal', err: new Error(refusal.message), ...wake };
      if (decision.requeueAfterMs !== undefined) return { kind: 'requeueAfter', requeueAfterMs: wake.requeueAfterMs ?? decision.requeueAfterMs };
      return { kind: 'ok', ...wake };
    }
    return { kind: 'ok' }; // not reached: the second round always returns
  }

  /** Carries out actions one after another; stops at the first that says stop, or at a refused Job. */
  private async applyInOrder(run: ChaosRun, actions: Action[], log: Logger): Promise<InOrder> {
    for (const action of actions) {
      if (!this.o.canAct()) return { stop: 'leadership' };
      const applied = await this.apply(run, action, log);
      if ('stop' in applied) return { stop: applied.stop };
      if ('refused' in applied) return { run, refused: applied.refused };
      run = applied.run;
    }
    return { run };
  }

  /** The wake-up a pass asks for: its own, or the slow fallback for a run that is not finished. */
  private fallback(run: ChaosRun, requeueAfterMs: number | undefined): { requeueAfterMs?: number } {
    if (isFinal(run.status?.phase) || run.metadata.deletionTimestamp) return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    return { requeueAfterMs: Math.min(requeueAfterMs ?? Infinity, this.resyncDelay()) };
  }

  private resyncDelay(): number {
    const base = this.o.resyncMs ?? DEFAULT_RESYNC_MS;
    return Math.round(base * (0.9 + 0.2 * (this.o.random ?? Math.random)()));
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  private decideOptions(run: ChaosRun): DecideOptions {
    const gates = this.o.gates?.(run);
    return { keepFinishedJobs: this.o.keepFinishedJobs, ...(gates ? { gates } : {}) };
  }

  /** A dry run about to record its next step: what that step would do (read-only; see src/safety/dry-run.ts). */
  private async dryRunPlan(run: ChaosRun): Promise<DryRunPlan | undefined> {
    const st = run.status;
    if (!run.spec.dryRun || run.spec.signalState !== 'RUN' || run.metadata.deletionTimestamp || isFinal(st?.phase) || st?.activeJob) return undefined;
    let iteration = st?.iteration ?? 1;
    let index = st?.step?.index ?? 0;
    if (index >= run.spec.scenarios.length) { iteration++; index = 0; }
    const render = () => renderJob(run, jobName(run.metadata.name, run.metadata.uid, iteration, index), iteration, index, this.o.render);
    return { stepIndex: index, ...await planStep(this.o.client, run.spec.scenarios[index], render) };
  }

  /**
   * The run's krkn helper namespaces (src/scenarios/krkn-helpers.ts): one namespace list by the run's uid
   * label per pass of a run that has a step of that kind, none for any other run. Only namespaces that
   * are exactly this run's (marker, uid, name derived from them) are returned. A failed list: undefined
   * (decide removes nothing this pass, and a deleted run keeps its finalizer).
   */
  private async helperNamespacesOf(run: ChaosRun, log: Logger): Promise<ObservedHelperNamespace[] | undefined> {
    if (!runUsesHelperNamespaces(run)) return [];
    try {
      const list = await this.o.client.request<{ items: NamespaceView[] }>('GET', paths.namespaces(), {
        query: { labelSelector: `${LABEL_KRKN_HELPERS}=true,${LABEL_RUN_UID}=${run.metadata.uid}` },
      });
      return list.items.map((ns) => observeHelperNamespace(ns, run)).filter((ns): ns is ObservedHelperNamespace => ns !== undefined);
    } catch (err) {
      log.warn({ err }, 'could not list the run\'s krkn helper namespaces');
      return undefined;
    }
  }

  /**
   * The step's helper namespace before its Job: created with the step's labels; one already there must be
   * this step's own (a crash between the two), else the step is refused with one line.
   */
  private async ensureHelperNamespace(run: ChaosRun, iteration: number, stepIndex: number): Promise<string | undefined> {
    const name = helperNamespaceOf(run, iteration, stepIndex);
    if (!name) return undefined;
    try {
      await this.o.client.request('POST', paths.namespaces(), { body: helperNamespaceObject(run, iteration, stepIndex) });
      return undefined;
    } catch (err) {
      if (!isAlreadyExists(err)) {
        if (isTerminal(err)) return `the API server refused the step's krkn helper namespace ${name}: ${(err as Error).message}`;
        throw err;
      }
    }
    const there = await this.o.client.request<NamespaceView>('GET', paths.namespaces(name));
    const mine = observeHelperNamespace(there, run);
    if (!mine || mine.iteration !== iteration || mine.stepIndex !== stepIndex) return `namespace ${name} exists and is not this step's krkn helper namespace`;
    if (mine.terminating) throw new Error(`the step's krkn helper namespace ${name} is still being deleted; trying again`);
    return undefined;
  }

  /**
   * A failed step's pod usually says why (the scenario's one-line reason), and a succeeded step of a kind
   * that reports (a lasting fault: which pods, nodes, what) says what it did: read it once, when it matters.
   */
  private async withFailureMessages(run: ChaosRun, jobs: ObservedJob[], log: Logger): Promise<ObservedJob[]> {
    const current = run.status?.activeJob;
    const scenario = run.spec.scenarios[run.status?.step?.index ?? -1];
    const reports = scenario !== undefined && SCENARIO_KINDS.some((k) => k.reportsOnSuccess === true && scenario[k.field] !== undefined);
    const failed = jobs.find((j) => j.name === current && (j.state === 'Failed' || (reports && j.state === 'Succeeded')));
    if (!failed) return jobs;
    try {
      const pods = await this.o.client.request<{ items: V1Pod[] }>('GET', paths.pods(run.metadata.namespace), {
        query: { labelSelector: `batch.kubernetes.io/job-name=${failed.name}` },
      });
      const terminated = pods.items.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.terminated).find((t) => t);
      const reason = (terminated?.message ? lastLineOf(terminated.message) : undefined) ||
        (terminated ? `${terminated.reason ?? 'Error'} (exit code ${terminated.exitCode})` : undefined);
      if (reason) failed.message = reason;
    } catch (err) {
      log.warn({ err }, 'could not read the failed step pod');
    }
    return jobs;
  }

  /**
   * A running lasting-fault step's holder pod names the targets it picked (src/api/fault-holder.ts):
   * read them while the step runs and the run says RUN, so status.faults shows what is in force. One
   * pod list per pass of such a step; none for any other. A list that fails says so (faultUnread), so
   * decide keeps what status shows instead of recording a revert that did not happen.
   */
  private async withFaultTargets(run: ChaosRun, jobs: ObservedJob[], log: Logger): Promise<ObservedJob[]> {
    const current = run.status?.activeJob;
    const active = jobs.find((j) => j.name === current && j.state === 'Active' && !j.deleting);
    const scenario = run.spec.scenarios[run.status?.step?.index ?? -1];
    if (!active || !scenario || !isLastingScenario(scenario) || run.spec.signalState !== 'RUN') return jobs;
    try {
      const pods = await this.o.client.request<{ items: V1Pod[] }>('GET', paths.pods(run.metadata.namespace), {
        query: { labelSelector: `batch.kubernetes.io/job-name=${active.name}` },
      });
      const holder = pods.items.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
      const spec = parseFaultSpec(holder?.metadata?.annotations?.[ANNOTATION_FAULT]);
      const targets = parseFaultTargets(holder?.metadata?.annotations?.[ANNOTATION_FAULT_TARGETS]);
      if (spec && targets.length) {
        active.fault = { kind: faultWord(spec), leaseSeconds: faultBoundSeconds(spec), targets: targets.map((t) => ({ namespace: t.namespace, pod: t.name, node: t.node })) };
        if (this.o.agentReports && holder?.metadata?.uid) Object.assign(active.fault, await this.agentsOn(holder.metadata.uid, targets));
      }
    } catch (err) {
      log.warn({ err }, 'could not read the step\'s holder pod');
      active.faultUnread = true;
    }
    return jobs;
  }

  /**
   * What the agents on the targets' nodes say of this holder's fault: refused (with their one line)
   * or in force on every target. A node whose agent gives no report confirms nothing and refuses nothing.
   */
  private async agentsOn(holderUid: string, targets: FaultTargetRef[]): Promise<Pick<NonNullable<ObservedJob['fault']>, 'confirmed' | 'inForce' | 'refused'>> {
    const holder = holderUid.toLowerCase();
    const nodes = [...new Set(targets.map((t) => t.node))];
    const reports = await Promise.all(nodes.map((n) => this.o.agentReports!.forNode(n)));
    const entries = reports.flatMap((r, i) => (r?.faults ?? []).filter((f) => f.holder === holder).map((f) => ({ ...f, node: nodes[i] })));
    const refused = entries.filter((e) => e.state === 'refused').map((e) => ({ node: e.node, namespace: e.namespace, pod: e.pod, reason: e.reason ?? 'refused by the node agent' }));
    const inForce = targets.filter((t) => entries.some((e) => e.state === 'in-force' && e.namespace === t.namespace && e.pod === t.name)).length;
    return { confirmed: inForce === targets.length, inForce, ...(refused.length ? { refused } : {}) };
  }

  /** Carries out one action; says how the run now stands, or why to stop here. */
  private async apply(run: ChaosRun, action: Action, log: Logger): Promise<Applied> {
    const { client } = this.o;
    const { name, namespace } = run.metadata;
    const rv = run.metadata.resourceVersion;
    try {
      switch (action.kind) {
        case 'writeStatus': {
          const updated = await client.request<ChaosRun>('PUT', paths.chaosRunStatus(namespace, name), { body: { ...run, status: action.status } });
          this.afterStatusWrite(`${namespace}/${name}`, run.status, action.status);
          this.remember(`${namespace}/${name}`, updated);
          return { run: updated };
        }
        case 'addFinalizer':
        case 'removeFinalizer': {
          const current = run.metadata.finalizers ?? [];
          const finalizers = action.kind === 'addFinalizer' ? [...current, FINALIZER] : current.filter((f) => f !== FINALIZER);
          const patched = await client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), {
            body: { metadata: { resourceVersion: rv, finalizers } }, contentType: MERGE_PATCH,
          });
          // The last finalizer gone from a deleted run: the API server removes it, so there is nothing to remember.
          if (!(action.kind === 'removeFinalizer' && run.metadata.deletionTimestamp)) this.remember(`${namespace}/${name}`, patched);
          return { run: patched };
        }
        case 'endTimedPause': {
          const patched = await client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), {
            body: { metadata: { resourceVersion: rv }, spec: { signalState: 'RUN', pauseUntil: null } }, contentType: MERGE_PATCH,
          });
          this.remember(`${namespace}/${name}`, patched);
          return { run: patched };
        }
        case 'createJob': {
          const refused = (message: string): Applied => {
            log.warn({ job: action.name, iteration: action.iteration, step: action.stepIndex, message }, 'step job refused; the step fails');
            return { refused: { name: action.name, iteration: action.iteration, stepIndex: action.stepIndex, state: 'Failed', deleting: false, message, refused: true } };
          };
          let job: V1Job;
          try {
            job = renderJob(run, action.name, action.iteration, action.stepIndex, this.o.render);
          } catch (err) {
            return refused(`the step's Job cannot be rendered: ${(err as Error).message}`);
          }
          if (this.o.scenarioAccounts && job.spec?.template.spec?.serviceAccountName === this.o.render.scenarioServiceAccount) {
            await this.o.scenarioAccounts.ensure(namespace);
          }
          const helperRefusal = await this.ensureHelperNamespace(run, action.iteration, action.stepIndex);
          if (helperRefusal) return refused(helperRefusal);
          try {
            const made = await client.request<V1Job>('POST', paths.jobs(namespace), { body: job });
            this.expect(`${namespace}/${name}`, made ?? job);
            stepsStarted.inc();
            log.info({ job: action.name, iteration: action.iteration, step: action.stepIndex }, 'step job created');
          } catch (err) {
            if (isTerminal(err)) return refused(`the API server refused the step's Job: ${(err as Error).message}`);
            if (!isAlreadyExists(err)) throw err; // the same step was created before: already done
          }
          return { run };
        }
        case 'deleteJob': {
          try {
            await client.request('DELETE', paths.jobs(namespace, action.name), {
              body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: action.propagation },
            });
            log.info({ job: action.name, reason: action.reason }, 'step job deleted');
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
          return { run };
        }
        case 'deleteHelperNamespace': {
          await removeHelperNamespace(client, action.name);
          log.info({ namespace: action.name, reason: action.reason }, 'krkn helper namespace deleted');
          return { run };
        }
        case 'renewDeadline': {
          try {
            await client.request('PATCH', paths.jobs(namespace, action.name), {
              body: { spec: { activeDeadlineSeconds: action.activeDeadlineSeconds } }, contentType: MERGE_PATCH,
            });
            deadManRenewals.inc();
            log.debug({ job: action.name, activeDeadlineSeconds: action.activeDeadlineSeconds }, 'step deadline renewed');
          } catch (err) {
            if (!isNotFound(err)) throw err; // the Job is gone: nothing to keep alive
          }
          return { run };
        }
        case 'event':
          // Events are the story, not the state: they never hold up the reconcile (or the next run).
          void recordEvent(client, run, action.type, action.reason, action.message, MANAGER)
            .catch((err: unknown) => log.warn({ err, reason: action.reason }, 'could not record event'));
          return { run };
        case 'report':
          log.info({ report: action.report }, `run finished: ${reportLine(action.report)}`);
          return { run };
      }
    } catch (err) {
      if (isConflict(err)) { log.debug({ action: action.kind }, 'conflict; will decide again on a newer view'); return { stop: 'conflict' }; }
      if (isNotFound(err) && action.kind !== 'createJob') return { stop: 'gone' };
      throw err;
    }
  }

  private afterStatusWrite(key: string, before: ChaosRunStatus | undefined, after: ChaosRunStatus): void {
    this.signals.reflected(key, after.observedSignal);
    const gated = (after.gatedSeconds ?? 0) - (before?.gatedSeconds ?? 0);
    if (gated > 0) gatedSeconds.inc(gated);
    const counts = after.counts;
    const prev = before?.counts;
    if (!counts) return;
    for (const result of ['succeeded', 'failed', 'aborted'] as const) {
      const delta = counts[result] - (prev?.[result] ?? 0);
      if (delta > 0) stepResults.inc({ result: result[0].toUpperCase() + result.slice(1) }, delta);
    }
  }
}
