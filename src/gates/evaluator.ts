// Evaluates the gates of the runs the controller drives and tells it when a verdict changes.
// Rollout gates read informer caches of the workloads (watch-based, no polling); Prometheus and
// alerts gates poll their query every `interval`. A gate's message is kept from the moment its
// verdict last changed, so a held run's status is not rewritten at every evaluation.
import { parseDuration } from '../api/duration.ts';
import type { AlertsGate, ChaosRun, Gate, PrometheusGate, RolloutGate } from '../api/types.ts';
import type { GateView } from '../controller/decide.ts';
import type { KubeClient } from '../kube/client.ts';
import { Informer, objectKey } from '../kube/informer.ts';
import type { Logger } from '../log.ts';
import { gateErrors, gateEvaluations } from '../metrics/controller.ts';
import { compare, parseComparison } from './comparison.ts';
import { alertsQuery, instantQuery } from './prometheus.ts';
import { rollingOut, type Workload, type WorkloadKind } from './rollout.ts';

interface Verdict { true: boolean; message: string }

const PLURALS: Record<WorkloadKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };

class Poller {
  verdict?: Verdict;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  readonly spec: string;
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly gate: Gate;
  private readonly onChange: () => void;
  private readonly log: Logger;

  constructor(client: KubeClient, namespace: string, gate: Gate, onChange: () => void, log: Logger) {
    this.client = client;
    this.namespace = namespace;
    this.gate = gate;
    this.onChange = onChange;
    this.log = log;
    this.spec = JSON.stringify(gate);
    void this.poll();
  }

  stop(): void { this.stopped = true; clearTimeout(this.timer); }

  private async poll(): Promise<void> {
    const body = (this.gate.prometheus ?? this.gate.alerts)!;
    const kind = this.gate.prometheus ? 'prometheus' : 'alerts';
    let next: Verdict;
    const at = new Date().toISOString();
    try {
      const token = body.bearerTokenSecret ? await this.readToken(body.bearerTokenSecret) : undefined;
      const query = this.gate.prometheus ? this.gate.prometheus.query : alertsQuery((body as AlertsGate).severity ?? 'critical', (body as AlertsGate).matchers);
      const comparison = parseComparison(this.gate.prometheus ? (body as PrometheusGate).comparison : 'any');
      const samples = await instantQuery(body.url, query, { bearerToken: token });
      const r = compare(comparison, samples);
      gateEvaluations.inc({ kind, result: String(r.true) });
      next = { true: r.true, message: `${query} → ${r.seen} at ${at}` };
    } catch (err) {
      gateEvaluations.inc({ kind, result: 'error' });
      gateErrors.inc({ kind });
      const hold = (body.onError ?? 'Hold') === 'Hold';
      next = { true: hold, message: `${body.url} could not be queried at ${at} (${(err as Error).message}); onError ${hold ? 'Hold' : 'Clear'}` };
      this.log.warn({ gate: this.gate.name, err: (err as Error).message }, 'gate query failed');
    }
    if (this.stopped) return;
    const changed = !this.verdict || this.verdict.true !== next.true;
    if (changed) { this.verdict = next; this.onChange(); }
    this.timer = setTimeout(() => void this.poll(), parseDuration(body.interval ?? '15s'));
    this.timer.unref();
  }

  private async readToken(ref: { name: string; key: string }): Promise<string> {
    const secret = await this.client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${this.namespace}/secrets/${ref.name}`);
    const value = secret.data?.[ref.key];
    if (!value) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
    return Buffer.from(value, 'base64').toString('utf8').trim();
  }
}

export class GateEvaluator {
  private readonly pollers = new Map<string, Poller>();
  private readonly workloads = new Map<string, Informer<Workload>>();
  /** Which runs watch which workload informer, to wake them when it changes. */
  private readonly watchers = new Map<string, Set<string>>();
  private readonly rolloutVerdicts = new Map<string, Verdict>();
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly onChange: (runKey: string) => void;

  constructor(client: KubeClient, log: Logger, onChange: (runKey: string) => void) {
    this.client = client;
    this.log = log;
    this.onChange = onChange;
  }

  /** The gate view of a run (undefined when it has no gates); starts whatever evaluation it needs. */
  view(run: ChaosRun): GateView | undefined {
    const runKey = objectKey(run);
    const gates = run.spec.gates;
    if (!gates?.pauseWhen?.length && !gates?.stopWhen?.length) { this.forget(runKey); return undefined; }
    const live = new Set<string>();
    const firstTrue = (list: Gate[] | undefined, role: 'pause' | 'stop') => {
      for (const gate of list ?? []) {
        if (gate.schedule) continue; // pure: decide() evaluates schedule gates itself (src/safety/window.ts)
        const id = `${runKey}|${role}|${gate.name}`;
        live.add(id);
        const v = this.evaluate(run, id, gate);
        // A pause gate not evaluated yet holds (the safe side); a stop gate does not fire.
        if (v ? v.true : role === 'pause') return { gate: gate.name, message: v?.message ?? 'waiting for the first evaluation' };
      }
      return undefined;
    };
    const held = firstTrue(gates.pauseWhen, 'pause');
    const stop = firstTrue(gates.stopWhen, 'stop');
    for (const [id, p] of this.pollers) if (id.startsWith(`${runKey}|`) && !live.has(id)) { p.stop(); this.pollers.delete(id); }
    return { ...(held ? { held } : {}), ...(stop ? { stop } : {}) };
  }

  forget(runKey: string): void {
    for (const [id, p] of this.pollers) if (id.startsWith(`${runKey}|`)) { p.stop(); this.pollers.delete(id); }
    for (const runs of this.watchers.values()) runs.delete(runKey);
    for (const id of this.rolloutVerdicts.keys()) if (id.startsWith(`${runKey}|`)) this.rolloutVerdicts.delete(id);
  }

  stop(): void {
    for (const p of this.pollers.values()) p.stop();
    this.pollers.clear();
    for (const i of this.workloads.values()) i.stop();
  }

  private evaluate(run: ChaosRun, id: string, gate: Gate): Verdict | undefined {
    if (gate.rollout) return this.rollout(run, id, gate.rollout);
    const existing = this.pollers.get(id);
    const spec = JSON.stringify(gate);
    if (existing?.spec === spec) return existing.verdict;
    existing?.stop();
    const runKey = objectKey(run);
    this.pollers.set(id, new Poller(this.client, run.metadata.namespace, gate, () => this.onChange(runKey), this.log.child({ run: runKey })));
    return undefined;
  }

  private rollout(run: ChaosRun, id: string, g: RolloutGate): Verdict | undefined {
    const namespace = g.namespace ?? run.metadata.namespace;
    const informerKey = `${g.kind}/${namespace}/${g.labelSelector ?? ''}`;
    let informer = this.workloads.get(informerKey);
    if (!informer) {
      informer = new Informer<Workload>(this.client, {
        name: `gate-${g.kind.toLowerCase()}s`, log: this.log, namespaces: [namespace],
        path: (ns) => `/apis/apps/v1/namespaces/${ns}/${PLURALS[g.kind]}`,
        ...(g.labelSelector ? { labelSelector: g.labelSelector } : {}),
      });
      this.workloads.set(informerKey, informer);
      const wake = () => { for (const r of this.watchers.get(informerKey) ?? []) this.onChange(r); };
      for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, wake);
      void informer.start().then(wake);
    }
    const runKey = objectKey(run);
    if (!this.watchers.has(informerKey)) this.watchers.set(informerKey, new Set());
    this.watchers.get(informerKey)!.add(runKey);
    if (!informer.synced) return undefined;
    const matching = informer.list(namespace).filter((w) => !g.name || w.metadata?.name === g.name);
    gateEvaluations.inc({ kind: 'rollout', result: 'evaluated' });
    const busy = matching.map((w) => [w.metadata?.name, rollingOut(g.kind, w)] as const).filter(([, why]) => why);
    const truth = busy.length > 0;
    const previous = this.rolloutVerdicts.get(id);
    if (previous && previous.true === truth) return previous;
    const what = g.name ? `${g.kind} ${namespace}/${g.name}` : `${g.kind}s in ${namespace} matching ${g.labelSelector}`;
    const verdict = {
      true: truth,
      message: truth
        ? `${what} rolling out since ${new Date().toISOString()}: ${busy.map(([n, why]) => `${n}: ${why}`).join('; ')}`
        : `${what} settled${matching.length ? '' : ' (none found)'}`,
    };
    this.rolloutVerdicts.set(id, verdict);
    return verdict;
  }
}
