// Fault 7: lasting faults. ChaosRuns whose steps are `network` bodies (a partition or a loss on some of
// the trial's target pods, for the step's duration), `nodeCordon` and `nodeDrain` bodies (1-2 of the
// trial's own target nodes) and, where the host allows it, `freeze` and `stress` bodies (cpu, memory or
// both) on the target pods' containers, driven by the real controller (its cordoner cordons, drains and
// uncordons) and held by the real node agent, both as processes (src/cli.ts), while at seeded random
// moments, with a fault in force:
// - the agent is SIGKILLed and started again 0-6 s later (its faults must end by their bound: a network
//   fault by its lease; a freeze by its guard, the agent's child, which thaws on its parent-death
//   signal; a stressor by its own parent-death signal; the agent's process alone is killed, as a
//   crash kills it, never its guards with it);
// - the controller is SIGKILLed and started again, after 0-3 s or after 12-16 s, so that the dead-man
//   switch (deadManSeconds 10) ends the step's Job meanwhile (its pod deleted: the fault must end; a
//   cordon only once a controller runs again, see below);
// - a step's holder pod is deleted (it ends as the real holder does on SIGTERM: exit 0, so its step
//   succeeds early; see faults/lasting-stages.yaml);
// and each run gets 0-3 PAUSE, RUN or STOP at random moments, over HTTP or as a patch.
//
// What stands in for a real node here, said plainly: on a real node the step's holder pod runs
// `chaosrun scenario network`, which picks Running targets, writes them on its own pod
// (ANNOTATION_FAULT_TARGETS) and holds for the duration. On kwok nothing runs, so the trial plays the
// holder: once kwok reports a step's pod Running, the trial writes the targets annotation on it (the
// body's count of the trial's target pods) and, at the step's duration, ends the pod (it Succeeds, exit
// 0); a freeze's or a stress's holder records each target's container too ({name, id}, as the real
// holder's containersOf does). A node step's holder is played by the real holder's own code
// (src/scenarios/node.ts parseNodeArgs and holdNodeFault, on the pod's own args): it picks nodes by
// the step's labelSelector and count, writes them and its deadline on the pod (ANNOTATION_NODE_TARGETS)
// and holds for the duration; the trial then ends the pod as above, or fails it (exit 1) when the
// holder found no node to pick, as the real holder fails. Its target nodes are three Node objects of
// the trial's own (faults/lasting-node.ts makeCordonNodes: no kubelet, tainted, never the plane's
// nodes), deleted at the end. Those pods run on a kwok node of the trial's own
// (faults/lasting-node.ts), since the plane's kwok completes a Job's pod at once. The target pods are
// kwok pods there too; their sandboxes are real network namespaces (made as `ip netns add` makes them),
// which the agent finds through a stand-in /proc (faults/agent-lab.ts), as
// test/agent/agent-shell.test.ts does, and each has one container `app`: a real process in real cgroup
// v1 cgroups, with a CPU quota and a memory limit, named by a stand-in containerd task bundle
// (test/helpers/container-lab.ts), which the agent reads through --containerd-tasks. So the agent,
// nft, the kernel's lease timeouts, the freezer, stress-ng, the controller, its cordoner and the API
// server are real; the holder's process, containerd and the kubelet are not.
//
// Invariants (faults/leases.ts): faultEndsInTime, from every target's state polled every 100 ms
// throughout: its namespace's nft tables, its container's freezer (not THAWED: in force, of the holder
// its freeze record names) and the tagged stressors in its cgroup (CHAOSRUN_STRESS=<holder>/<container>
// in their environment); none in force later than its bound (src/api/fault-holder.ts faultBoundSeconds:
// the lease, or 1 s for a freeze or a stress) + a stated slack after its fault was surely unwanted.
// The target nodes are polled every 100 ms too: a node unschedulable or labelled chaosrun.dev/cordoned-by
// is a cordon in force (of the holder the label names). A cordon is surely unwanted when its holder is
// gone or not Running, its run does not say RUN, or its deadline has passed; it is pure API state that
// only a controller process undoes, so its bound (leases.ts CORDON_BOUND_SECONDS, 1 s, + the 1 s slack:
// one watch delivery and a pass of reads and a patch) is counted only while a controller runs: from the
// "controller started" line of each process the trial starts, to the SIGKILL it sends. A cordon unwanted
// while the controller is down must end within that bound of the restart (the documented bound on a
// real node is the kubelet's restart plus 1-5 s, docs/faults.md; here the trial restarts it itself).
// nothingLeftBehind after every trial (once an agent and a controller run again): no chaosrun_ table in
// any target namespace, no target cgroup not THAWED, no stressor tagged for a target's container
// anywhere on the host, no freeze record in the agent's state directory, no freeze guard of a target's
// cgroup, no target node unschedulable or carrying the cordoned-by label or a cordon or drain record. And
// every run's checks, as in the other faults. A trial is one batch of 1-2 runs and its crashes
// (--quick: one short run, and no controller down past the dead-man switch). Needs root (network
// namespaces, nft): without it the fault is SKIPPED, with why; without cgroup v1, stress-ng or setpriv
// its steps are network only, and the notes say why.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT, faultBoundSeconds, parseFaultSpec, parseFaultTargets, type FaultTargetRef } from '../../src/api/fault-holder.ts';
import { ANNOTATION_CORDON, ANNOTATION_DRAIN, ANNOTATION_NODE_TARGETS, LABEL_CORDON, NODE_FAULT_KINDS, parseNodeTargets } from '../../src/api/node-fault.ts';
import { holdNodeFault, parseNodeArgs } from '../../src/scenarios/node.ts';
import { parseDuration } from '../../src/api/duration.ts';
import { isFinal, type ChaosRun, type ChaosRunSpec, type Scenario, type Signal } from '../../src/api/types.ts';
import { MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { paths } from '../../src/kube/paths.ts';
import { createLogger } from '../../src/log.ts';
import { ContainerLab, type LabContainer } from '../../test/helpers/container-lab.ts';
import { getRun } from '../../test/helpers/operator.ts';
import { repoRoot } from '../../test/helpers/env.ts';
import { AgentProcess, lastingPrecondition, processFaultPrecondition, Sandboxes, tablesIn, type TableSeen } from '../agent-lab.ts';
import type { Violation } from '../invariants.ts';
import {
  CORDON_BOUND_SECONDS, cordonLeft, endLatencies, faultEndsInTime, LEASE_SLACK_MS, nothingLeftBehind, podObject, runObject, tableLeft, WantedTimeline,
  type InForce, type LeftBehind, type NodeSeen,
} from '../leases.ts';
import { HOLDER_EXIT_ANNOTATION, HOLDER_FAIL_ANNOTATION, makeCordonNodes, startLastingNode, type CordonNodes } from '../lasting-node.ts';
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
/** Target nodes for the node steps: two runs at once, each cordoning 1-2, rarely find none left to pick. */
const TARGET_NODES = 3;
const DEAD_MAN_SECONDS = 10;
const POLL_MS = 100;
/** How long an agent running again may take to revert what it finds unwanted (it passes at least once a second). */
const LEFT_BEHIND_WAIT_MS = 10_000;
const TARGET_LABEL = 'chaosrun.dev/faults-target';
/** Each target's container: 0.2 CPU (a 200m limit) and 128 MiB, so a stress's load stays small beside the campaign. */
const CONTAINER_LIMITS = { cpuQuotaUs: 20_000, memoryBytes: 128 * 1024 ** 2 };
type BodyKind = 'network' | 'freeze' | 'stress' | 'nodeCordon' | 'nodeDrain';
const isNodeKind = (k: string | undefined) => (NODE_FAULT_KINDS as readonly string[]).includes(k ?? '');
/** How long a holder's fault may outlive its agent (its lease), when its annotation can be read. */
const boundOf = (text: string | undefined): number | undefined => { const spec = parseFaultSpec(text); return spec ? faultBoundSeconds(spec) : undefined; };
const quiet = () => createLogger('faults', 'silent');

/**
 * One step's body of `kind` on the trial's targets: a network cut, a freeze, a stress (cpu, memory or
 * both, small), or a cordon or a drain of 1-2 of the target nodes `nodes` picks (a label selector).
 */
function lastingBody(rng: Random, namespace: string, kind: BodyKind, nodes?: string): Pick<Scenario, 'network' | 'freeze' | 'stress' | 'nodeCordon' | 'nodeDrain'> {
  if (kind === 'nodeCordon' || kind === 'nodeDrain') {
    if (!nodes) throw new Error(`a ${kind} step needs the trial's target nodes`);
    const picked = { labelSelector: nodes, count: rng.int(1, 2) };
    // Nothing runs on a target node, so a drain evicts nothing; its eviction timeout is short all the same.
    return kind === 'nodeCordon' ? { nodeCordon: picked } : { nodeDrain: { ...picked, evictionTimeout: '5s' } };
  }
  const targets = { namespace, labelSelector: `${TARGET_LABEL}=yes`, count: rng.int(1, TARGETS) };
  if (kind === 'freeze') return { freeze: targets };
  if (kind === 'stress') {
    const load = rng.pick(['cpu', 'cpu', 'memory', 'both'] as const);
    return { stress: {
      ...targets,
      ...(load !== 'memory' ? { cpu: { workers: 1, load: rng.pick([20, 50, 100]) } } : {}),
      ...(load !== 'cpu' ? { memory: { size: rng.pick(['8Mi', '16Mi']) } } : {}),
    } };
  }
  return { network: {
    ...targets,
    direction: rng.pick(['ingress', 'egress', 'both'] as const),
    ...(rng.chance(0.7) ? { partition: {} } : { loss: { percent: rng.pick([10, 50, 100]) } }),
    leaseSeconds: rng.int(2, 4),
  } };
}

/**
 * A run's shape: 1-2 iterations of 1-2 steps of 3-7 s, each a network, freeze, stress, nodeCordon or
 * nodeDrain body (`kinds`: those the host allows; `nodes`: the target nodes' label selector); one step
 * of 25 s when the controller is to be down past the dead-man switch; one step of 2-4 s when `quick`.
 */
export function lastingSpec(rng: Random, namespace: string, shape: 'long' | 'quick' | 'any', kinds: readonly BodyKind[] = ['network'], nodes?: string): Partial<ChaosRunSpec> & { scenarios: Scenario[] } {
  const one = shape !== 'any';
  const steps = one ? 1 : rng.int(1, 2);
  return {
    iterations: one ? 1 : rng.int(1, 2),
    waitDuration: rng.pick(['0s', '500ms', '1s']),
    failurePolicy: rng.pick(['Continue', 'Stop'] as const),
    deadManSeconds: DEAD_MAN_SECONDS,
    scenarios: Array.from({ length: steps }, (_, i): Scenario => {
      const kind = rng.pick(kinds);
      return {
        name: `${kind.toLowerCase()}${i}`,
        duration: shape === 'long' ? '25s' : shape === 'quick' ? `${rng.int(2, 4)}s` : `${rng.int(3, 7)}s`,
        ...lastingBody(rng, namespace, kind, nodes),
      };
    }),
  };
}

/** The annotation a holder records its targets in: a node holder's nodes, or the target pods. */
const targetsKeyOf = (p: V1Pod) => (isNodeKind(p.metadata?.labels?.[LABEL_FAULT]) ? ANNOTATION_NODE_TARGETS : ANNOTATION_FAULT_TARGETS);
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
  /** Holder uid -> its fault's kind (network, freeze, stress, nodeCordon, nodeDrain). */
  readonly kinds = new Map<string, string>();
  /** Node holders that found no node to pick (their pods Failed, as the real holder's would). */
  readonly nodeHolderFailures: string[] = [];
  /** Node holders' ends, by uid: resolving it ends the hold (the pod is gone). */
  private readonly ends = new Map<string, () => void>();

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
      && !p.metadata?.deletionTimestamp && Boolean(p.metadata?.annotations?.[targetsKeyOf(p)]));
  }

  private saw(p: V1Pod): void {
    const uid = p.metadata!.uid!;
    const annotations = p.metadata?.annotations ?? {};
    const kind = p.metadata?.labels?.[LABEL_FAULT];
    this.kinds.set(uid, kind ?? '?');
    const seen = { run: p.metadata?.labels?.['chaosrun.dev/run'] ?? '', phase: p.status?.phase, deleting: Boolean(p.metadata?.deletionTimestamp) };
    if (isNodeKind(kind)) {
      // A node holder's targets are node names, with the deadline past which no cordon of it is wanted.
      const targets = parseNodeTargets(annotations[ANNOTATION_NODE_TARGETS]);
      this.timeline.holder(Date.now(), uid, {
        ...seen, targets: targets?.nodes ?? [], leaseSeconds: CORDON_BOUND_SECONDS, needsController: true,
        ...(targets ? { deadline: Date.parse(targets.deadline) } : {}),
      }, rvOf(p));
    } else {
      this.timeline.holder(Date.now(), uid, {
        ...seen, targets: parseFaultTargets(annotations[ANNOTATION_FAULT_TARGETS]).map((t) => t.uid), leaseSeconds: boundOf(annotations[ANNOTATION_FAULT]),
      }, rvOf(p));
    }
    if (p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && !annotations[targetsKeyOf(p)] && !this.claimed.has(uid)) {
      this.claimed.add(uid);
      (isNodeKind(kind) ? this.playNode(p) : this.play(p)).catch(() => {});
    }
  }

  private gone(p: V1Pod): void {
    const uid = p.metadata!.uid!;
    clearTimeout(this.timers.get(uid));
    this.ends.get(uid)?.();
    this.timeline.holder(Date.now(), uid, undefined, undefined);
  }

  /**
   * What `chaosrun scenario node` does once Running, by its own code (runNodeHolder without its probe
   * server and client): pick the nodes, record them and the deadline on itself, hold for the duration
   * (or until the pod is gone); then exit 0, or 1 with its line when it found no node to pick.
   */
  private async playNode(p: V1Pod): Promise<void> {
    const uid = p.metadata!.uid!;
    const name = p.metadata!.name!;
    const { opts } = parseNodeArgs(p.spec?.containers?.[0]?.args?.slice(2) ?? [], { POD_NAMESPACE: this.namespace, POD_NAME: name, POD_UID: uid });
    const stopped = new Promise<void>((resolve) => this.ends.set(uid, resolve));
    const sentAt = Date.now();
    let recorded: Promise<void> | undefined;
    const onRecorded = () => {
      recorded = this.client.request<V1Pod>('GET', paths.pods(this.namespace, name)).then(rvOf, () => undefined).then((rv) => {
        this.timeline.wrote(podObject(uid), sentAt, rv, `the node targets written at ${new Date(sentAt).toISOString()}`);
        this.written.set(uid, { at: Date.now(), run: p.metadata?.labels?.['chaosrun.dev/run'] ?? '' });
      });
    };
    let end: { key: string; message: string };
    try {
      const summary = await holdNodeFault(this.client, { ...opts, pollMs: 1000 }, quiet(), stopped, onRecorded);
      end = { key: HOLDER_EXIT_ANNOTATION, message: `${summary} (the fault campaign played the holder)` };
    } catch (err) {
      this.nodeHolderFailures.push((err as Error).message);
      end = { key: HOLDER_FAIL_ANNOTATION, message: (err as Error).message };
    }
    await recorded;
    this.ends.delete(uid);
    await this.client.request('PATCH', paths.pods(this.namespace, name), { body: { metadata: { annotations: { [end.key]: end.message } } }, contentType: MERGE_PATCH }).catch(() => {});
  }

  /**
   * What `chaosrun scenario network|freeze|stress` does once Running: pick targets, record them on
   * itself (a freeze's or a stress's with their containers), hold for the duration, exit 0.
   */
  private async play(p: V1Pod): Promise<void> {
    const uid = p.metadata!.uid!;
    const name = p.metadata!.name!;
    const count = Math.min(this.targets.length, Number(argOf(p, '--count') ?? 1));
    const from = parseInt(uid.replaceAll('-', '').slice(0, 8), 16) % this.targets.length;
    const network = p.metadata?.labels?.[LABEL_FAULT] === 'network';
    const chosen = Array.from({ length: count }, (_, i) => this.targets[(from + i) % this.targets.length])
      .map(({ containers, ...t }) => (network || !containers ? t : { ...t, containers }));
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

/** The holder a process-fault key (<holder id>/<container id>: a freeze record's, a stressor's tag) names. */
const holderOfKey = (key: string) => key.split('/')[0];
const freezerOf = (c: LabContainer) => `/sys/fs/cgroup/freezer${c.cgroupsPath}`;

/** The process faults in force on the lab's containers now: frozen cgroups (by the record naming their holder) and tagged stressors. */
function processFaultsIn(lab: ContainerLab, at: number): InForce[] {
  const out: InForce[] = [];
  // Records read before and after the states: a freeze is recorded before it starts and thawed before
  // its record goes, so a frozen cgroup's record is in one of the two readings.
  const before = lab.freezeRecords();
  const states = lab.list().map((c) => { try { return lab.freezerState(c); } catch { return 'THAWED'; } });
  const records = [...before, ...lab.freezeRecords()];
  for (const [i, c] of lab.list().entries()) {
    if (states[i] !== 'THAWED') {
      const key = records.find((k) => k.endsWith(`/${c.id}`));
      out.push({ at, where: `${freezerOf(c)} ${states[i]}${key ? '' : ' (no freeze record)'}`, target: c.podUid, holder: key ? holderOfKey(key) : 'unrecorded' });
    }
    const seen = new Set<string>();
    for (const st of lab.stressorsIn(c)) {
      if (seen.has(st.key)) continue;
      seen.add(st.key);
      out.push({ at, where: `stressor pid ${st.pid} in ${c.cgroupsPath}`, target: c.podUid, holder: holderOfKey(st.key) });
    }
  }
  return out;
}

/** Freeze guards (setpriv ... sh -c ... chaosrun-freeze-guard <file>) of the lab's cgroups, by their command line. */
function freezeGuards(lab: ContainerLab): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0');
      return args.includes('chaosrun-freeze-guard') && args.some((a) => a.includes(`/${lab.prefix}/`));
    } catch { return false; }
  }).map(Number);
}

type RawNode = { metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: { unschedulable?: boolean } };

/** The target nodes as the API shows them now (one list by their label). */
async function targetNodes(client: KubeClient, nodes: CordonNodes): Promise<NodeSeen[]> {
  const list = await client.request<{ items: RawNode[] }>('GET', paths.nodes(), { query: { labelSelector: nodes.labelSelector } });
  return list.items.map((n) => ({ name: n.metadata?.name ?? '', unschedulable: n.spec?.unschedulable === true, labels: n.metadata?.labels ?? {}, annotations: n.metadata?.annotations ?? {} }));
}

/** A cordon in force on a node: unschedulable or marked; its holder is the one the label names. */
function cordonOf(n: NodeSeen, at: number): InForce | undefined {
  const by = n.labels[LABEL_CORDON];
  if (!n.unschedulable && by === undefined) return undefined;
  return { at, where: `node ${n.name} (${n.unschedulable ? 'unschedulable' : 'schedulable'}, ${by === undefined ? 'no cordoned-by label' : `cordoned-by=${by}`})`, target: n.name, holder: by ?? 'unlabelled' };
}

const CORDON_MARKS = { label: LABEL_CORDON, annotations: [ANNOTATION_CORDON, ANNOTATION_DRAIN] } as const;

/**
 * Every target's faults, polled every POLL_MS: its namespace's chaosrun_ tables, and (with a lab) its
 * container's freezer and stressors; every target node's cordon; the sightings in force.
 */
class Poller {
  readonly inForce: InForce[] = [];
  polls = 0;
  /** Node reads that failed (a poll with no reading of the nodes). */
  nodeReadFailures = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly sandboxes: Sandboxes;
  private readonly lab: ContainerLab | undefined;
  private readonly nodes: { client: KubeClient; nodes: CordonNodes };

  constructor(sandboxes: Sandboxes, lab: ContainerLab | undefined, nodes: { client: KubeClient; nodes: CordonNodes }) { this.sandboxes = sandboxes; this.lab = lab; this.nodes = nodes; }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        if (this.lab) this.inForce.push(...processFaultsIn(this.lab, at));
        const cordons = targetNodes(this.nodes.client, this.nodes.nodes).then((ns) => {
          for (const n of ns) { const c = cordonOf(n, at); if (c) this.inForce.push(c); }
        }, () => { this.nodeReadFailures++; });
        await Promise.all([cordons, ...this.sandboxes.list.map(async (s) => {
          for (const t of await tablesIn(s.netns).catch(() => [] as TableSeen[])) {
            if (t.leaseElements > 0) this.inForce.push({ at, where: `${s.netns} chaosrun_${t.id}`, target: s.uid, holder: t.id });
          }
        })]);
        this.polls++;
        await sleep(at + POLL_MS - Date.now());
      }
    })();
  }

  async stop(): Promise<void> { this.stopped = true; await this.loop; }
}

/**
 * Anything of a fault's on the host or the API: a chaosrun_ table (in force or not) in the target
 * namespaces; a target node unschedulable or marked; with a lab, a target cgroup not THAWED, a stressor
 * tagged for a target's container (in its cgroup or not), a freeze record, a freeze guard.
 */
async function leftIn(sandboxes: Sandboxes, lab: ContainerLab | undefined, nodes?: { client: KubeClient; nodes: CordonNodes }): Promise<LeftBehind[]> {
  const tables = [
    ...(await Promise.all(sandboxes.list.map((s) => tablesIn(s.netns)))).flat().map(tableLeft),
    ...(nodes ? (await targetNodes(nodes.client, nodes.nodes)).flatMap((n) => cordonLeft(n, CORDON_MARKS)) : []),
  ];
  if (!lab) return tables;
  const frozen = lab.list().flatMap((c) => { const state = lab.freezerState(c); return state === 'THAWED' ? [] : [{ what: `a ${state} freezer`, where: freezerOf(c) }]; });
  const stressors = lab.strayStressors().map((st) => ({ what: `stressor pid ${st.pid} (${st.key})`, where: 'the host' }));
  const records = lab.freezeRecords().map((key) => ({ what: `freeze record ${key}`, where: lab.stateDir }));
  const guards = freezeGuards(lab).map((pid) => ({ what: `freeze guard pid ${pid}`, where: 'the host' }));
  return [...tables, ...frozen, ...stressors, ...records, ...guards];
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
  /** Agent SIGKILLs with a freeze or a stress in force: ms until none of those was seen any more (with no agent). */
  const agentKillUndoneMs: Array<{ kind: string; ms: number }> = [];
  /** ... and those whose agent was started again before that (an agent down for less than the undo took). */
  const agentKillUnmeasured: string[] = [];
  let trialCount = 0;
  // The scenario's ServiceAccount: holder pods name it (nothing runs in them here, so it needs no rights).
  await lab.client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'chaosrun-scenario' } } });
  const node = await startLastingNode(lab.client, lab.kubeconfig, lab.plane?.binDir);
  const noProcessFaults = processFaultPrecondition();
  const kinds: BodyKind[] = noProcessFaults ? ['network', 'nodeCordon', 'nodeDrain'] : ['network', 'freeze', 'stress', 'nodeCordon', 'nodeDrain'];
  let cordonNodes: CordonNodes | undefined;
  /** Controller SIGKILLs with a cordon in force. */
  let controllerKillsWithCordon = 0;
  let sandboxes: Sandboxes | undefined;
  let containers: ContainerLab | undefined;
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
  // Every controller process the trial starts is up from its "controller started" line until its SIGKILL or exit (a cordon's clock runs only then).
  const startCtl = async (): Promise<Child> => {
    const c = await startController(lab.kubeconfig, ns, node.controllerArgs);
    timeline.controllerStarted(Date.now());
    c.once('exit', () => timeline.controllerKilled(Date.now()));
    return c;
  };
  const killCtl = async (c: Child): Promise<void> => { timeline.controllerKilled(Date.now()); await kill(c); };
  try {
    cordonNodes = await makeCordonNodes(lab.client, TARGET_NODES);
    const nodeTargets = { client: lab.client, nodes: cordonNodes };
    // The target pods, Running on the trial's node; their uids name the sandboxes.
    const targets: FaultTargetRef[] = [];
    for (let i = 0; i < TARGETS; i++) {
      const pod = await lab.client.request<V1Pod>('POST', paths.pods(ns), { body: {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `target-${i}`, labels: { [TARGET_LABEL]: 'yes' } },
        spec: { ...node.placement, containers: [{ name: 'app', image: 'busybox' }] },
      } });
      targets.push({ namespace: ns, name: `target-${i}`, uid: pod.metadata!.uid!, node: node.name });
    }
    // Each target's container `app` (a sleeping process in cgroups of its own) for the freeze and stress steps.
    if (!noProcessFaults) {
      containers = new ContainerLab();
      for (const t of targets) {
        const c = await containers.add(t.uid, 'app', ['sleep', '86400'], CONTAINER_LIMITS);
        t.containers = [{ name: c.name, id: c.id }];
      }
    }
    const processLab = containers;
    const running = await poll(async () => {
      const pods = await lab.client.request<{ items: V1Pod[] }>('GET', paths.pods(ns), { query: { labelSelector: TARGET_LABEL } });
      return pods.items.filter((p) => p.status?.phase === 'Running').length === TARGETS || undefined;
    }, 60_000, 200);
    if (!running) throw new Error(`the target pods never ran on ${node.name}:\n${node.output().slice(-1500)}`);
    sandboxes = Sandboxes.create('crf', targets.map((t) => t.uid));
    const boxes = sandboxes;
    player = new HolderPlayer(lab.client, ns, targets, timeline);
    await Promise.all([player.start(), runInformer.start()]);
    poller = new Poller(boxes, processLab, nodeTargets);
    poller.start();
    agent = new AgentProcess({ cli: `${repoRoot}/src/cli.ts`, kubeconfig: lab.kubeconfig, node: node.name, proc: boxes.proc,
      ...(processLab ? { processFaults: { containerdTasks: processLab.tasksDir, stateDir: processLab.stateDir } } : {}) });
    await agent.start();
    server = await startSignalServer(lab.kubeconfig, ns);
    controller = await startCtl();

    for (let i = 0; i < trials; i++) {
      const rng = ctx.rng.fork();
      const crash: Crash = CRASHES[i % CRASHES.length];
      const plan: Crash[] = [crash, ...(rng.chance(0.3) ? [rng.pick(CRASHES)] : [])];
      // Down past the dead-man switch needs a step longer than it: decided before the runs are made.
      const longDown = !ctx.quick && plan.includes('controller') && rng.chance(0.5);
      await agent.start();
      if (controller.exitCode !== null || controller.signalCode !== null) controller = await startCtl();
      const runs: Tracked[] = [];
      for (let r = 0, n = ctx.quick ? 1 : rng.int(1, 2); r < n; r++) runs.push(await track(lab, ns, `t${i}-r${r}`, lastingSpec(rng, ns, longDown ? 'long' : ctx.quick ? 'quick' : 'any', kinds, cordonNodes.labelSelector)));
      const names = new Set(runs.map((t) => t.name));
      const finished = () => runs.every((t) => isFinal(recorder.run(t.name)?.status?.phase));
      const signalling = Promise.all(runs.map((t) => playLastingSignals(rng.fork(), lab, server!.url, ns, t, ctx.quick ? 4000 : 12_000, finished, timeline)));
      let longUsed = false;
      for (const c of plan) {
        // A random moment while a fault of this trial is held.
        await poll(() => player!.holding(names).length > 0 || finished() || undefined, 20_000, 50);
        await sleep(rng.between(0, ctx.quick ? 500 : 2000));
        if (c === 'agent') {
          // For the notes (faultEndsInTime is the check): how soon the process faults in force at the kill are undone with no agent.
          const held = processLab ? processFaultsIn(processLab, Date.now()) : [];
          await agent.stop('SIGKILL');
          const killedAt = Date.now();
          crashes.agent++;
          const downMs = rng.between(0, ctx.quick ? 3000 : 6000);
          if (processLab && held.length) {
            const stillHeld = () => processFaultsIn(processLab, Date.now()).filter((f) => held.some((h) => h.holder === f.holder && h.target === f.target));
            const undone = await poll(() => (stillHeld().length === 0 ? Date.now() - killedAt : undefined), downMs, 5);
            for (const kind of new Set(held.map((h) => (h.where.includes('freezer') ? 'freeze' : 'stress')))) {
              if (undone === undefined) agentKillUnmeasured.push(kind); else agentKillUndoneMs.push({ kind, ms: undone });
            }
          }
          await sleep(killedAt + downMs - Date.now());
          await agent.start();
        } else if (c === 'controller') {
          if (poller.inForce.some((f) => f.at > Date.now() - 2 * POLL_MS && f.where.startsWith('node '))) controllerKillsWithCordon++;
          await killCtl(controller);
          const long: boolean = longDown && !longUsed;
          longUsed ||= long;
          crashes[long ? 'controller past the dead-man switch' : 'controller short']++;
          await sleep(long ? rng.between(12_000, 16_000) : rng.between(0, 3000));
          controller = await startCtl();
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
      // nothingLeftBehind: every run has ended; with an agent and a controller running again, nothing of ours may stay.
      await agent.start();
      if (controller.exitCode !== null || controller.signalCode !== null) controller = await startCtl();
      const waited = Date.now();
      const clean = await poll(async () => ((await leftIn(boxes, processLab, nodeTargets)).length === 0) || undefined, LEFT_BEHIND_WAIT_MS, 200);
      if (!clean) violations.push(...nothingLeftBehind(`trial ${i + 1}`, await leftIn(boxes, processLab, nodeTargets), Date.now() - waited));
      trialCount++;
      ctx.say(`lasting: trial ${i + 1}/${trials} (${plan.join(' + ')}) done, ${violations.length} violation(s) so far`);
    }
    await poller.stop();
    violations.push(...faultEndsInTime(poller.inForce, timeline.data));
    // SIGTERM lets go of everything: nothing may be left after it either.
    await agent.stop('SIGTERM');
    const afterTerm = await leftIn(boxes, processLab);
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
    containers?.close();
    await cordonNodes?.remove();
    await node.stop();
  }
  // For diagnosis: CHAOSRUN_FAULTS_DUMP=FILE writes what the checks read (sightings and timelines).
  if (process.env.CHAOSRUN_FAULTS_DUMP) {
    writeFileSync(process.env.CHAOSRUN_FAULTS_DUMP, JSON.stringify({
      inForce: poller?.inForce ?? [], faults: Object.fromEntries(timeline.data.faults), windows: Object.fromEntries(timeline.data.windows), controllerUp: timeline.data.controllerUp,
    }, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)));
  }
  const kindOf = (holder: string) => player?.kinds.get(holder) ?? 'unknown';
  const holdersByKind = Map.groupBy([...(player?.kinds ?? new Map<string, string>()).entries()], ([, k]) => k);
  /** One note per kind: faults seen in force, and how long after being surely unwanted they were last seen. */
  const endNote = (kind: string, bound: string): string => {
    const seen = (poller?.inForce ?? []).filter((s) => kindOf(s.holder) === kind);
    const faults = new Set(seen.map((s) => `${s.holder}/${s.target}`)).size;
    const episodes = endLatencies(seen, timeline.data);
    const ends = episodes.map((e) => e.afterMs).sort((a, b) => a - b);
    const overrun = Math.max(...episodes.map((e) => e.afterMs - e.leaseMs));
    return `${kind}: ${holdersByKind.get(kind)?.length ?? 0} step(s), ${faults} fault(s) seen in force; ` + (ends.length
      ? `after a fault was surely unwanted it was last seen in force ${ends[Math.floor(ends.length / 2)]} ms (median) / ${ends.at(-1)} ms (max) later, over ${ends.length} such episodes; `
        + `the most past its own bound: ${overrun} ms (bound: ${bound} + ${LEASE_SLACK_MS} ms); every other ended within one poll`
      : 'every one that stopped being wanted was gone by the next poll');
  };
  return {
    fault: FAULT, unit: 'crash trials', trials: trialCount, violations, durationMs: Date.now() - started, checked: [...CHECKED],
    notes: [
      `crashes: ${Object.entries(crashes).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')}; ${deadMan} step(s) ended by the dead-man switch`,
      `${poller?.polls ?? 0} polls of ${TARGETS} targets (every ${POLL_MS} ms): their namespaces' nft tables${noProcessFaults ? '' : ', their containers\' freezers and stressors'}`,
      endNote('network', 'lease 2-4 s'),
      ...(['nodeCordon', 'nodeDrain'] as const).map((kind) => endNote(kind, `${CORDON_BOUND_SECONDS} s counted only with a controller running`)),
      `${TARGET_NODES} target nodes polled every ${POLL_MS} ms (${poller?.nodeReadFailures ?? 0} failed reads); controller SIGKILLed with a cordon in force: ${controllerKillsWithCordon} time(s); `
        + `node holders that found no node to pick (their step failed): ${player?.nodeHolderFailures.length ?? 0}${player?.nodeHolderFailures.length ? ` (first: ${player.nodeHolderFailures[0]})` : ''}`,
      ...(noProcessFaults ? [`freeze and stress steps not run: ${noProcessFaults}`] : [endNote('freeze', '1 s'), endNote('stress', '1 s'),
        ...(['freeze', 'stress'] as const).map((kind) => {
          const ms = agentKillUndoneMs.filter((k) => k.kind === kind).map((k) => k.ms).sort((a, b) => a - b);
          const left = agentKillUnmeasured.filter((k) => k === kind).length;
          return `agent SIGKILLed with a ${kind} in force: ${ms.length + left} time(s); ${ms.length ? `undone with no agent ${ms[0]}-${ms.at(-1)} ms after the kill (polled every 5 ms)` : 'none measured'}`
            + `${left ? `; ${left} with the agent started again first` : ''}`;
        })]),
    ],
  };
}
