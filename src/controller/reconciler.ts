// The imperative shell around decide(): read the run and its Jobs from the informer caches, ask the
// pure core what to do, and carry the actions out. The status write goes first and is conditional
// on the resourceVersion the decision saw; when it conflicts nothing else happens (see decide.ts).
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { FINALIZER, LABEL_ITERATION, LABEL_RUN, LABEL_STEP_INDEX, MANAGER } from '../api/constants.ts';
import { isFinal, type ChaosRun, type ChaosRunStatus } from '../api/types.ts';
import { isAlreadyExists, isConflict, isNotFound, MERGE_PATCH, type KubeClient } from '../kube/client.ts';
import { recordEvent } from '../kube/events.ts';
import { objectKey, type Informer } from '../kube/informer.ts';
import { paths } from '../kube/paths.ts';
import type { Logger } from '../log.ts';
import { deadManRenewals, gatedSeconds, signalLatency, stepResults, stepsStarted } from '../metrics/controller.ts';
import { decide, reportLine, type Action, type DecideOptions, type DryRunPlan, type GateView, type ObservedJob } from './decide.ts';
import { planStep } from '../safety/dry-run.ts';
import { renderJob } from './render-job.ts';
import type { RenderContext } from '../scenarios/step-pod.ts';

export interface ReconcilerOptions {
  client: KubeClient;
  runs: Informer<ChaosRun>;
  jobs: Informer<V1Job>;
  render: RenderContext;
  keepFinishedJobs: number;
  log: Logger;
  /** False once leadership is lost: no API write may happen after that. */
  canAct: () => boolean;
  gates?: (run: ChaosRun) => GateView | undefined;
  /** Makes the built-in scenarios' ServiceAccount usable in a namespace before its first step there. */
  scenarioAccounts?: { ensure(namespace: string): Promise<void> };
}

const toIso = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : v instanceof Date ? v.toISOString() : String(v);

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

export class Reconciler {
  readonly signals = new SignalClock();
  private readonly o: ReconcilerOptions;

  constructor(options: ReconcilerOptions) { this.o = options; }

  jobsOf(run: ChaosRun): ObservedJob[] {
    const { name, namespace, uid } = run.metadata;
    return this.o.jobs.list(namespace)
      .filter((j) => j.metadata?.labels?.[LABEL_RUN] === name && j.metadata?.ownerReferences?.some((r) => r.uid === uid))
      .map(observeJob)
      .filter((j): j is ObservedJob => j !== undefined);
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/');
    let run = this.o.runs.get(name, namespace);
    if (!run) { this.signals.forget(key); return {}; }
    const log = this.o.log.child({ run: key });
    const jobs = await this.withFailureMessages(run, this.jobsOf(run));
    const dryRunPlan = await this.dryRunPlan(run);
    const decision = decide(run, jobs, Date.now(), { ...this.decideOptions(run), ...(dryRunPlan ? { dryRunPlan } : {}) });
    for (const action of decision.actions) {
      if (!this.o.canAct()) return {};
      const next = await this.apply(run, action, log);
      if (next === 'conflict') return { requeueAfterMs: 0 };
      if (next === 'gone') return {};
      run = next;
    }
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

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
    return planStep(this.o.client, run, iteration, index, this.o.render);
  }

  /** A failed step's pod usually says why (the scenario's one-line reason): read it once, when it matters. */
  private async withFailureMessages(run: ChaosRun, jobs: ObservedJob[]): Promise<ObservedJob[]> {
    const current = run.status?.activeJob;
    const failed = jobs.find((j) => j.name === current && j.state === 'Failed');
    if (!failed) return jobs;
    try {
      const pods = await this.o.client.request<{ items: V1Pod[] }>('GET', paths.pods(run.metadata.namespace), {
        query: { labelSelector: `batch.kubernetes.io/job-name=${failed.name}` },
      });
      const terminated = pods.items.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.terminated).find((t) => t);
      const reason = terminated?.message?.trim().split('\n').pop() ||
        (terminated ? `${terminated.reason ?? 'Error'} (exit code ${terminated.exitCode})` : undefined);
      if (reason) failed.message = reason;
    } catch (err) {
      this.o.log.warn({ run: objectKey(run), err: String(err) }, 'could not read the failed step pod');
    }
    return jobs;
  }

  /** Carries out one action; returns the run as it now stands, or why to stop here. */
  private async apply(run: ChaosRun, action: Action, log: Logger): Promise<ChaosRun | 'conflict' | 'gone'> {
    const { client } = this.o;
    const { name, namespace } = run.metadata;
    const rv = run.metadata.resourceVersion;
    try {
      switch (action.kind) {
        case 'writeStatus': {
          const updated = await client.request<ChaosRun>('PUT', paths.chaosRunStatus(namespace, name), { body: { ...run, status: action.status } });
          this.afterStatusWrite(`${namespace}/${name}`, run.status, action.status);
          return updated;
        }
        case 'addFinalizer':
        case 'removeFinalizer': {
          const current = run.metadata.finalizers ?? [];
          const finalizers = action.kind === 'addFinalizer' ? [...current, FINALIZER] : current.filter((f) => f !== FINALIZER);
          return await client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), {
            body: { metadata: { resourceVersion: rv, finalizers } }, contentType: MERGE_PATCH,
          });
        }
        case 'endTimedPause':
          return await client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), {
            body: { metadata: { resourceVersion: rv }, spec: { signalState: 'RUN', pauseUntil: null } }, contentType: MERGE_PATCH,
          });
        case 'createJob': {
          const job = renderJob(run, action.name, action.iteration, action.stepIndex, this.o.render);
          if (this.o.scenarioAccounts && job.spec?.template.spec?.serviceAccountName === this.o.render.scenarioServiceAccount) {
            await this.o.scenarioAccounts.ensure(namespace);
          }
          try {
            await client.request('POST', paths.jobs(namespace), { body: job });
            stepsStarted.inc();
            log.info({ job: action.name, iteration: action.iteration, step: action.stepIndex }, 'step job created');
          } catch (err) {
            if (!isAlreadyExists(err)) throw err; // the same step was created before: already done
          }
          return run;
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
          return run;
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
          return run;
        }
        case 'event':
          // Events are the story, not the state: they never hold up the reconcile (or the next run).
          void recordEvent(client, run, action.type, action.reason, action.message, MANAGER)
            .catch((err: unknown) => log.warn({ err: String(err), reason: action.reason }, 'could not record event'));
          return run;
        case 'report':
          log.info({ report: action.report }, `run finished: ${reportLine(action.report)}`);
          return run;
      }
    } catch (err) {
      if (isConflict(err)) { log.debug({ action: action.kind }, 'conflict; will re-read and decide again'); return 'conflict'; }
      if (isNotFound(err) && action.kind !== 'createJob') return 'gone';
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
