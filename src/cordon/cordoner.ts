// The cordoner: the imperative shell around rules.ts, in the controller process. It watches the holder
// pods of node steps (in the namespaces the controller watches) and the nodes it has marked
// (LABEL_CORDON, cluster-wide), reads the runs from the controller's own cache, asks the rules what to
// do, and carries it out: cordon, evict, uncordon. It keeps nothing durable: every cordon it made is
// on its node with its run, holder and deadline (src/api/node-fault.ts), so any process of the
// controller finds it again.
//
// Why here, and not in the holder or the node agent. A cordon is API state, not kernel state: whoever
// makes it must be alive to undo it, and nothing expires it. The holder is the one process that is
// certain to die with the step (SIGKILL, eviction, the dead-man switch), so it must not be the only
// one able to undo it; it holds no right on nodes at all, only its own pod (it picks and records the
// nodes, then waits). The node agent's rights are read-only by design, and the agent on a cordoned or
// drained node is the one most at risk. The controller already watches every run and signal, is a
// Deployment that the kubelet restarts when it dies, and holds the rights the chart gives it; so a
// cordon is bounded by the life of the controller, and every replica, leader or not, uncordons what
// its rules say is no longer wanted the moment its caches have synced. Only the leader cordons and
// evicts (two replicas never evict the same pods); uncordoning is safe from any replica because it
// is only ever less chaos, and it is confirmed first with fresh reads of the holder and the run, so a
// replica whose cache lags does not undo a cordon that is still wanted.
//
// A pass runs on every event of the holders, the marked nodes and the runs, at each recorded deadline,
// every 5 s while anything is cordoned (a missed event is caught), and every 2 s while a drain is
// evicting. An idle cluster costs nothing: no holder and no marked node, no timer.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATION_CORDON, ANNOTATION_DRAIN, LABEL_CORDON, NODE_FAULT_KINDS, parseDrainRecord, type DrainRecord } from '../api/node-fault.ts';
import { LABEL_FAULT } from '../api/fault-holder.ts';
import type { KillSwitchRecord } from '../api/kill-switch.ts';
import { JSON_PATCH, KubeError, MERGE_PATCH, isNotFound, pointerSegment, type KubeClient } from '../kube/client.ts';
import { recordEvent, type EventType } from '../kube/events.ts';
import { Informer, type Store } from '../kube/informer.ts';
import { paths } from '../kube/paths.ts';
import type { Logger } from '../log.ts';
import {
  cordonRecordOf, foundCordons, planCordons, planDrain, podViewOf, wantedCordons, wantedOf,
  type CordonAction, type HolderView, type NodeView, type RawPod, type RunView,
} from './rules.ts';

export interface CordonerOptions {
  client: KubeClient;
  /** The controller's ChaosRun cache. */
  runs: Store<{ metadata?: { name?: string; namespace?: string; uid?: string }; spec?: { signalState?: string }; status?: { phase?: string } }>;
  /** The namespaces the controller watches (holders live beside their runs); absent: all. */
  namespaces?: string[];
  /** Whether this replica leads: only the leader cordons and evicts. */
  canAct: () => boolean;
  /** The node this controller runs on (never cordoned unless a step allows it). */
  operatorNode?: string;
  killSwitch?: () => KillSwitchRecord | undefined;
  log: Logger;
  watchdogMs?: number;
  now?: () => number;
}

type RawNode = KubernetesObject & { spec?: { unschedulable?: boolean } };
type RawHolder = KubernetesObject & { status?: { phase?: string } };

const RESYNC_MS = 5_000;
const DRAIN_RETRY_MS = 2_000;

function holderViewOf(o: RawHolder): HolderView {
  const m = o.metadata ?? {};
  return {
    uid: m.uid ?? '', namespace: m.namespace ?? '', name: m.name ?? '', phase: o.status?.phase, deleting: Boolean(m.deletionTimestamp),
    ...(m.creationTimestamp ? { created: String(m.creationTimestamp) } : {}), labels: m.labels ?? {}, annotations: m.annotations ?? {},
  };
}

function nodeViewOf(o: RawNode): NodeView {
  return { name: o.metadata?.name ?? '', unschedulable: o.spec?.unschedulable === true, labels: o.metadata?.labels ?? {}, annotations: o.metadata?.annotations ?? {} };
}

const runViewOf = (r: { spec?: { signalState?: string }; status?: { phase?: string } } | undefined): RunView | undefined =>
  r && { signalState: r.spec?.signalState, phase: r.status?.phase };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class Cordoner {
  private readonly o: CordonerOptions;
  private readonly holders: Informer<RawHolder>;
  private readonly nodes: Informer<RawNode>;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  /** Said once per node and holder: a node left alone, so the log does not repeat it every pass. */
  private readonly told = new Set<string>();
  /** The last refusal of each pod's eviction, per cordon (its `since`): the reason a blocked drain gives. */
  private readonly refusals = new Map<string, Map<string, string>>();

  constructor(o: CordonerOptions) {
    this.o = o;
    const base = { watchdogMs: o.watchdogMs, log: o.log };
    this.holders = new Informer<RawHolder>(o.client, {
      ...base, name: 'node-fault-holders', path: (ns) => paths.pods(ns), namespaces: o.namespaces,
      labelSelector: `${LABEL_FAULT} in (${NODE_FAULT_KINDS.join(',')})`,
    });
    this.nodes = new Informer<RawNode>(o.client, { ...base, name: 'cordoned-nodes', path: () => paths.nodes(), labelSelector: LABEL_CORDON });
    for (const inf of [this.holders, this.nodes] as Array<Informer<KubernetesObject>>) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.kick());
    }
  }

  get synced(): boolean { return this.holders.synced && this.nodes.synced; }

  /** Starts the watches; the first pass runs once both have listed (and the runs' cache has: the caller's). */
  async start(): Promise<void> {
    await Promise.all([this.holders.start(), this.nodes.start()]);
    this.started = true;
    this.kick();
  }

  /** Something may have changed: a pass runs now (or after the one in flight). */
  kick(): void {
    if (this.stopped || !this.started) return;
    if (this.running) { this.again = true; return; }
    clearTimeout(this.timer);
    this.running = this.pass().catch((err) => { this.o.log.error({ err }, 'cordoner pass failed'); this.schedule(RESYNC_MS); }).finally(() => {
      this.running = undefined;
      if (this.again) { this.again = false; this.kick(); }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.holders.stop();
    this.nodes.stop();
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.kick(), Math.max(10, ms));
    this.timer.unref();
  }

  private get now(): number { return (this.o.now ?? Date.now)(); }

  private runOf = (namespace: string, name: string): RunView | undefined => runViewOf(this.o.runs.get(name, namespace));

  private async pass(): Promise<void> {
    const now = this.now;
    const holders = this.holders.list().map(holderViewOf);
    const wanted = wantedCordons(holders, this.runOf, now, this.o.killSwitch?.());
    const nodes = this.nodes.list().map(nodeViewOf);
    const scope = this.o.namespaces;
    const plan = planCordons(wanted, foundCordons(nodes), now, this.o.operatorNode, scope && ((ns) => scope.includes(ns)));
    for (const r of plan.refused) this.tellOnce(`${r.node}/${r.holderUid}/refused`, { node: r.node, holder: r.holderUid }, `not cordoning node ${r.node}: ${r.why}`, wanted.get(r.node)?.run);
    const leader = this.o.canAct();
    let draining = false;
    let failed = false;
    for (const a of plan.actions) {
      try {
        if (a.kind === 'uncordon' || a.kind === 'unmark') await this.uncordon(a, now);
        else if (!leader) continue;
        else if (a.kind === 'cordon') await this.cordon(a, now);
        else if (a.kind === 'drain') draining = !(await this.drain(a)) || draining;
      } catch (err) {
        this.o.log.warn({ err, node: a.node, action: a.kind }, `could not ${a.kind} node ${a.node}: ${message(err)}`);
        failed = true;
      }
    }
    if (wanted.size === 0 && nodes.length === 0) { clearTimeout(this.timer); return; }
    // A failed action (a conflict, an API error) is tried again in a second, not in a tight loop.
    let next = failed ? 1_000 : draining ? DRAIN_RETRY_MS : RESYNC_MS;
    if (plan.wakeAt !== undefined) next = Math.min(next, plan.wakeAt - now + 50);
    this.schedule(next);
  }

  private tellOnce(key: string, fields: object, text: string, run?: string): void {
    if (this.told.has(key)) return;
    this.told.add(key);
    this.o.log.info(fields, text);
    if (run) this.event(run, 'Normal', 'NodeLeftAlone', text);
  }

  /**
   * An Event on the run (namespace/name) for `kubectl describe crun`, when the run is still there; never
   * fails a pass. The run may be outside this controller's namespaces (its cache): marked nodes are
   * watched cluster-wide, so a controller scoped to other namespaces can be the one whose pass undoes a
   * cordon (a PAUSE landing between its plan and its fresh reads); the Event must not be lost then, so
   * the run's uid is read from the API server when the cache has no such run.
   */
  private event(run: string, type: EventType, reason: string, text: string): void {
    const [namespace, name] = run.split('/');
    const cached = this.o.runs.get(name, namespace)?.metadata?.uid;
    const uid = cached !== undefined ? Promise.resolve(cached)
      : this.o.client.request<{ metadata?: { uid?: string } }>('GET', paths.chaosRuns(namespace, name)).then((r) => r.metadata?.uid, () => undefined);
    uid.then((u) => (u ? recordEvent(this.o.client, { metadata: { namespace, name, uid: u } }, type, reason, text, 'chaosrun-controller') : undefined))
      .catch((err) => this.o.log.debug({ err }, 'could not record an Event'));
  }

  /**
   * Is this cordon still wanted, by fresh reads of its holder and run (not the cache)? The check before
   * an uncordon, so a replica whose cache lags never undoes a cordon that is still wanted. An error
   * means unknown: the uncordon waits for the next pass.
   */
  private async stillWanted(node: string, holder: { namespace: string; name: string; uid: string }, now: number): Promise<boolean> {
    let pod: RawHolder;
    try { pod = await this.o.client.request<RawHolder>('GET', paths.pods(holder.namespace, holder.name)); } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if (pod.metadata?.uid !== holder.uid) return false;
    const view = holderViewOf(pod);
    const runName = view.labels['chaosrun.dev/run'];
    let run: RunView | undefined;
    if (runName) {
      try { run = runViewOf(await this.o.client.request('GET', paths.chaosRuns(holder.namespace, runName))); } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return wantedOf(view, () => run, now, this.o.killSwitch?.()).some((w) => w.node === node);
  }

  private async uncordon(a: Extract<CordonAction, { kind: 'uncordon' | 'unmark' }>, now: number): Promise<void> {
    const node = await this.o.client.request<RawNode>('GET', paths.nodes(a.node)).catch((err) => { if (isNotFound(err)) return undefined; throw err; });
    if (!node) return;
    const view = nodeViewOf(node);
    const record = foundCordons([view])[0]?.record;
    if (a.kind === 'uncordon') {
      if (!record || record.holder.uid !== a.holderUid) return; // changed meanwhile: the next pass judges it
      if (a.why !== 'its deadline passed' && await this.stillWanted(a.node, record.holder, now)) {
        this.o.log.debug({ node: a.node }, 'the cache showed a cordon unwanted that fresh reads show wanted: kept');
        return;
      }
    } else if (view.labels[LABEL_CORDON] === undefined || record) return;
    const spec = a.kind === 'uncordon' ? { spec: { unschedulable: null } } : {};
    await this.o.client.request('PATCH', paths.nodes(a.node), {
      contentType: MERGE_PATCH,
      body: { metadata: { resourceVersion: node.metadata?.resourceVersion, labels: { [LABEL_CORDON]: null }, annotations: { [ANNOTATION_CORDON]: null, [ANNOTATION_DRAIN]: null } }, ...spec },
    });
    if (record) this.refusals.delete(`${a.node}/${record.since}`);
    const said = a.kind === 'uncordon' ? `uncordoned node ${a.node}: ${a.why}` : `unmarked node ${a.node}: ${a.why}`;
    this.o.log.info({ node: a.node, run: record?.run, holder: record?.holder.name, why: a.why }, said);
    if (record) this.event(record.run, 'Normal', 'NodeUncordoned', `${said} (step ${record.step ?? '?'})`);
  }

  private async cordon(a: Extract<CordonAction, { kind: 'cordon' }>, now: number): Promise<void> {
    const node = await this.o.client.request<RawNode>('GET', paths.nodes(a.node)).catch((err) => { if (isNotFound(err)) return undefined; throw err; });
    const key = `${a.node}/${a.wanted.holder.uid}`;
    if (!node) { this.tellOnce(`${key}/gone`, { node: a.node }, `not cordoning node ${a.node}: it does not exist`); return; }
    const view = nodeViewOf(node);
    if (view.labels[LABEL_CORDON] !== undefined) return; // marked meanwhile (ours, or another step's): the next pass sees it
    if (view.unschedulable) {
      this.tellOnce(`${key}/unschedulable`, { node: a.node, run: a.wanted.run }, `not cordoning node ${a.node}: it is already unschedulable (not by chaosrun); left as it was`, a.wanted.run);
      return;
    }
    const record = cordonRecordOf(a.wanted, now);
    await this.o.client.request('PATCH', paths.nodes(a.node), {
      contentType: MERGE_PATCH,
      // The resourceVersion makes it conditional: a node changed since the read (cordoned by hand) is not taken.
      body: { metadata: { resourceVersion: node.metadata?.resourceVersion, labels: { [LABEL_CORDON]: a.wanted.holder.uid }, annotations: { [ANNOTATION_CORDON]: JSON.stringify(record) } }, spec: { unschedulable: true } },
    });
    this.o.log.info({ node: a.node, run: a.wanted.run, holder: a.wanted.holder.name, deadline: record.deadline }, `cordoned node ${a.node} for ${a.wanted.run}`);
    this.event(a.wanted.run, 'Normal', 'NodeCordoned', `cordoned node ${a.node} (step ${a.wanted.step ?? '?'}, until ${record.deadline} at the latest)`);
  }

  /** One drain pass on a node; resolves to whether the drain has settled (nothing more to evict). */
  private async drain(a: Extract<CordonAction, { kind: 'drain' }>): Promise<boolean> {
    // The record as the API server holds it: a pass kicked by our own last write must not plan from a cache without it.
    const fresh = await this.o.client.request<RawNode>('GET', paths.nodes(a.node));
    if (fresh.metadata?.labels?.[LABEL_CORDON] !== a.record.holder.uid) return true; // uncordoned meanwhile: the next pass judges it
    const prior = parseDrainRecord(fresh.metadata?.annotations?.[ANNOTATION_DRAIN]);
    const timeout = a.wanted.spec.evictionTimeoutSeconds ?? 60;
    if (prior?.since === a.record.since && prior.timedOut) return true;
    const list = await this.o.client.request<{ items: RawPod[] }>('GET', paths.pods(), { query: { fieldSelector: `spec.nodeName=${a.node}` } });
    const pods = list.items.map(podViewOf);
    const key = `${a.node}/${a.record.since}`;
    const refusals = this.refusals.get(key) ?? new Map<string, string>();
    this.refusals.set(key, refusals);
    const first = planDrain(pods, a.record, prior, refusals, [], this.now, timeout);
    const evicted: string[] = [];
    for (const p of first.evict) {
      const id = `${p.namespace}/${p.name}`;
      try {
        await this.o.client.request('POST', paths.eviction(p.namespace, p.name), { body: {
          apiVersion: 'policy/v1', kind: 'Eviction', metadata: { namespace: p.namespace, name: p.name },
          ...(a.wanted.spec.gracePeriodSeconds !== undefined ? { deleteOptions: { gracePeriodSeconds: a.wanted.spec.gracePeriodSeconds } } : {}),
        } });
        evicted.push(id);
        refusals.delete(id);
        this.o.log.info({ node: a.node, pod: id, run: a.wanted.run }, `evicted ${id} from node ${a.node}`);
      } catch (err) {
        if (isNotFound(err)) continue; // gone already
        // 429: a PodDisruptionBudget allows no disruption now; retried until the timeout. Anything else is said too.
        refusals.set(id, err instanceof KubeError ? err.message : message(err));
        if (!(err instanceof KubeError && err.status === 429)) this.o.log.warn({ err, node: a.node, pod: id }, `could not evict ${id}`);
      }
    }
    if (evicted.length) this.event(a.wanted.run, 'Normal', 'PodsEvicted', `evicted ${evicted.length} pod(s) from node ${a.node}: ${evicted.join(', ')}`);
    const left = pods.map((p) => (evicted.includes(`${p.namespace}/${p.name}`) ? { ...p, deleting: true } : p));
    const after = planDrain(left, a.record, prior, refusals, evicted, this.now, timeout);
    if (after.record) await this.writeDrain(a.node, after.record, a.record.holder.uid);
    if (after.record?.timedOut) {
      const said = `drain of node ${a.node} gave up after ${timeout}s: ${after.record.blocked?.map((b) => `${b.pod} (${b.reason})`).join(', ')}`;
      this.o.log.warn({ node: a.node, blocked: after.record.blocked, run: a.wanted.run }, said);
      this.event(a.wanted.run, 'Warning', 'DrainBlocked', said);
    }
    return after.settled;
  }

  /**
   * Records the drain on the node, only while the node still carries this holder's cordon label (a
   * JSON patch's `test`): a node another replica uncordoned meanwhile must not get the record back,
   * with nothing left to remove it. A refused test (422) means exactly that, and is left alone.
   */
  private async writeDrain(node: string, record: DrainRecord, holderUid: string): Promise<void> {
    try {
      await this.o.client.request('PATCH', paths.nodes(node), { contentType: JSON_PATCH, body: [
        { op: 'test', path: `/metadata/labels/${pointerSegment(LABEL_CORDON)}`, value: holderUid },
        { op: 'add', path: `/metadata/annotations/${pointerSegment(ANNOTATION_DRAIN)}`, value: JSON.stringify(record) },
      ] });
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 422)) throw err;
      this.o.log.debug({ node }, 'node no longer cordoned for this holder: its drain record is not written back');
    }
  }
}
