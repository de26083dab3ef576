// `chaosrun agent`: the node agent, one per node (a DaemonSet), the only part of the operator that
// touches a node. The imperative shell around two pure functions: wanted.ts (what should be in force
// here, from watches of holder pods and runs) and plan.ts (what to do about what is found here); nft.ts
// carries the actions out, and delayers.ts keeps one delayer process per delay fault in force. It
// keeps nothing durable: between passes only its own children and what it last read of each sandbox's
// tables (readings.ts: kept up with its own actions, read again in the background every few seconds),
// so a restarted agent reads every sandbox on the node and converges from there (its old delayers
// died with it).
//
// A pass runs at once on every watch event that can change what is wanted (so PAUSE, STOP and a
// holder's end revert within one event and one nft call), and otherwise when the next renewal falls
// due. Its API rights are read-only (get/list/watch pods, chaosruns and the kill-switch ConfigMap,
// whose one write ends the faults of every run a broadcast STOP names); it acts on no pod that no
// holder names. On SIGTERM it reverts everything it holds before it exits (an uninstall or a rollout
// ends the chaos, the next agent re-applies what is still wanted); on SIGKILL the kernel ends each
// fault within its lease (a delay passes undelayed at once: its delayer dies with the agent).
import type { KubernetesObject } from '@kubernetes/client-node';
import { statSync } from 'node:fs';
import { AGENT_REPORT_PATH, LABEL_FAULT, type AgentFaultReport, type AgentReport } from '../api/fault-holder.ts';
import { KILL_SWITCH_NAME, parseKillSwitch } from '../api/kill-switch.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { podNamespace } from '../kube/namespace.ts';
import { paths } from '../kube/paths.ts';
import { createLogger, type Logger } from '../log.ts';
import { agentPasses, faultRevertSeconds, faultsInForce } from '../metrics/agent.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { defineCommand, wholeNumber, type OptionValues } from '../options.ts';
import { Delayers } from './delayers.ts';
import { faultKey, specHash, type FoundFault, type WantedFault } from './fault.ts';
import { applyIn, carryOut, defaultDelayer, isNetnsGone, listFound, renewScript, revertIn, revertScript } from './nft.ts';
import { planNode, type AgentAction } from './plan.ts';
import { Readings } from './readings.ts';
import { classifyFailure, faultReport, type ActionFailure } from './report.ts';
import { findSandboxes, sandboxNamespaces } from './sandboxes.ts';
import { liveHolders, wantedOnNode, type HolderView, type RunView } from './wanted.ts';
import { cgroupLayout, listContainers } from './containers.ts';
import { planProcessFaults, wantedProcessFaults } from './process-faults.ts';
import { killStrayStressors, ProcessShell } from './process-shell.ts';

const options = {
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
  node: { type: 'string', value: 'NAME', env: 'NODE_NAME', help: 'the node this agent runs on (the downward API\'s spec.nodeName)' },
  proc: { type: 'string', value: 'DIR', default: '/proc', help: 'the host\'s /proc (the agent runs in the host PID namespace)' },
  'operator-namespace': { type: 'string', value: 'NS', env: 'POD_NAMESPACE', help: 'where the kill-switch record (ConfigMap chaosrun-kill-switch) is watched (default: the pod\'s own namespace; outside a pod, none: STOPs reach the agent run by run)' },
  'metrics-port': { type: 'string', value: 'N', default: '8082', help: '/metrics, /healthz, /readyz (0 = off)' },
  'metrics-bind': { type: 'string', value: 'ADDR', default: '0.0.0.0', help: 'the metrics server\'s address' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn or error' },
  delayer: { type: 'string', value: 'PATH', env: 'CHAOSRUN_DELAYER', default: 'chaosrun-delayer', help: 'the chaosrun-delayer binary that holds delayed packets (default: on PATH)' },
  'containerd-tasks': { type: 'string', value: 'DIR', env: 'CONTAINERD_TASKS', default: '/run/containerd/io.containerd.runtime.v2.task/k8s.io', help: 'containerd\'s task bundles of the CRI namespace: which container is which, its cgroup and main process (freeze, stress, containerKill)' },
  'cgroup-root': { type: 'string', value: 'DIR', default: '/sys/fs/cgroup', help: 'where the host\'s cgroup filesystems are mounted (v1 hierarchies or the v2 tree)' },
  'state-dir': { type: 'string', value: 'DIR', default: '/run/chaosrun-agent', help: 'the host directory where the agent records its freezes, so a restarted agent thaws them' },
  'stress-ng': { type: 'string', value: 'PATH', default: 'stress-ng', help: 'the stress-ng binary of stress faults (default: on PATH)' },
} as const;

export const command = defineCommand({
  name: 'chaosrun agent',
  usage: '--node NAME [options]',
  description: `Runs the node agent: holds the lasting faults (network partition, loss, bandwidth, delay) of
running steps on the target pods of this node, each as an nftables table in the pod sandbox's network
namespace whose rules the kernel stops matching when the agent stops renewing them (a delay's packets
are held by a chaosrun-delayer process per fault, which dies with the agent). Needs NET_ADMIN, SYS_ADMIN and
SYS_PTRACE and the host's PID namespace (see docs/faults.md).`,
  options,
  run: (values) => agentCommand(values),
});

/** Only what the agent reads, so a node's worth of holder pods and the cluster's runs cost little. */
function holderView(o: KubernetesObject): KubernetesObject {
  const pod = o as KubernetesObject & { status?: { phase?: string } };
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: o.metadata?.name, namespace: o.metadata?.namespace, uid: o.metadata?.uid, resourceVersion: o.metadata?.resourceVersion,
      labels: o.metadata?.labels, annotations: o.metadata?.annotations, deletionTimestamp: o.metadata?.deletionTimestamp,
      creationTimestamp: o.metadata?.creationTimestamp,
    },
    status: { phase: pod.status?.phase, startTime: (pod.status as { startTime?: string } | undefined)?.startTime },
  } as KubernetesObject;
}
function runView(o: KubernetesObject): KubernetesObject {
  const run = o as KubernetesObject & { spec?: { signalState?: string }; status?: { phase?: string } };
  return {
    apiVersion: o.apiVersion, kind: o.kind,
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion },
    spec: { signalState: run.spec?.signalState }, status: { phase: run.status?.phase },
  } as KubernetesObject;
}

/** The kill-switch record's ConfigMap: its data is all the agent reads. */
type RecordObject = KubernetesObject & { data?: Record<string, string> };
function recordView(o: KubernetesObject): KubernetesObject {
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion },
    data: (o as RecordObject).data,
  } as KubernetesObject;
}

/** The network namespace a path leads to (its nsfs device and inode); throws when it leads nowhere. */
function namespaceIdentity(path: string): string {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
}

/**
 * One path for each network namespace: sandboxes that share one (hostNetwork pods; stand-ins in tests)
 * would each list the same tables under their own path, and the plan would revert every table found
 * under every path but its own, to apply it again on the next pass. The namespace is the one its path
 * leads to (the nsfs inode); the first path in order stands for it.
 */
export function onePathPerNamespace(sandboxes: Map<string, string>, identity = namespaceIdentity): Map<string, string> {
  const first = new Map<string, string>();
  const out = new Map<string, string>();
  for (const [uid, path] of [...sandboxes].sort(([, a], [, b]) => a.localeCompare(b))) {
    let id: string;
    try { id = identity(path); } catch { id = path; } // gone meanwhile: on its own, as before
    if (!first.has(id)) first.set(id, path);
    out.set(uid, first.get(id)!);
  }
  return out;
}

type RevertAction = Extract<AgentAction, { kind: 'revert' }>;
type RenewAction = Extract<AgentAction, { kind: 'renew' }>;

const kindOf = (w: WantedFault) => Object.keys(w.action)[0] ?? 'unknown';

export interface AgentHandle { stop(): Promise<void>; ready(): boolean; report(): AgentReport }

/**
 * How long the agent keeps holding faults without an answer from the API server. Cut off from it, the
 * agent cannot see a STOP, a PAUSE or a holder's end: a fault it kept renewing would outlive the
 * supervision it exists under. So it lets every fault go (each revert is local) once no request has
 * been answered for this long, and takes up what is still wanted when the API server answers again.
 * A heartbeat (GET /version, which every authenticated user may read) runs every second; 5 s is
 * about one lease plus a slow answer, so a cut-off agent's faults end about as soon as a dead one's.
 */
export const API_SILENCE_MS = 5_000;
const HEARTBEAT_MS = 1_000;

export interface ProcessFaultOptions {
  /** containerd's task bundles (k8s.io namespace). */
  containerdTasks?: string;
  cgroupRoot?: string;
  stateDir?: string;
  stressNg?: string;
}

export async function startAgent(opts: { kubeconfig?: string; node: string; proc: string; log: Logger; delayer?: string; operatorNamespace?: string; apiSilenceMs?: number } & ProcessFaultOptions): Promise<AgentHandle> {
  const { node, log } = opts;
  const containerdTasks = opts.containerdTasks ?? '/run/containerd/io.containerd.runtime.v2.task/k8s.io';
  killStrayStressors(opts.proc, log);
  const processes = new ProcessShell({
    layout: cgroupLayout(opts.cgroupRoot), stateDir: opts.stateDir ?? '/run/chaosrun-agent', log, onExit: () => kick(),
    ...(opts.stressNg ? { stressNg: opts.stressNg } : {}),
  });
  processes.sweepNodeCgroups();
  let processReports: AgentFaultReport[] = [];
  const delayer = opts.delayer ?? defaultDelayer();
  const client = new KubeClient(loadKubeConfig(opts.kubeconfig));
  const holders = new Informer<KubernetesObject>(client, { name: 'holders', path: (ns) => paths.pods(ns), labelSelector: LABEL_FAULT, log, transform: holderView });
  const runs = new Informer<KubernetesObject>(client, { name: 'runs', path: (ns) => paths.chaosRuns(ns), log, transform: runView });
  // The kill-switch record (src/api/kill-switch.ts): one ConfigMap, watched by name in the operator's
  // namespace, so a broadcast STOP reaches this agent as one event before its patches of the runs do.
  const operatorNamespace = opts.operatorNamespace ?? podNamespace();
  const killSwitch = operatorNamespace === undefined ? undefined : new Informer<RecordObject>(client, {
    name: 'kill-switch', path: (ns) => paths.configMaps(ns ?? operatorNamespace), namespaces: [operatorNamespace],
    fieldSelector: `metadata.name=${KILL_SWITCH_NAME}`, log, transform: recordView,
  });
  const recordNow = () => (killSwitch && operatorNamespace ? killSwitch.get(KILL_SWITCH_NAME, operatorNamespace) : undefined);
  let recordSeen: string | undefined;
  let lastReport: AgentReport = { node, faults: [] };
  // The API server's last answer (a watch event or the heartbeat's), and whether the faults were let go for want of one.
  const apiSilenceMs = opts.apiSilenceMs ?? API_SILENCE_MS;
  let apiAnsweredAt = Date.now();
  let cutOff = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopping = false;
  /** When the latest event that may have made something unwanted arrived (for the revert latency). */
  let lastEventAt = Date.now();
  /** Watch events so far: a pass that sees more than it planned with asks whether to give way. */
  let events = 0;
  // A delayer that exits while wanted is started again by the next pass.
  const delayers = new Delayers({ binary: delayer, log, onExit: () => kick() });
  // What the last readings of the sandboxes showed, kept up with this agent's own actions
  // (src/agent/readings.ts): a pass plans from it, reads only namespaces it has never read, and each
  // namespace is read again in the background once its reading is RELIST_MS old.
  const readings = new Readings();
  let reading: Promise<void> | undefined;

  /** Reads one namespace into `readings`; resolves to whether it showed what the agent did not expect. */
  async function readOne(netns: string): Promise<boolean> {
    const token = readings.begin(netns, performance.now());
    try {
      return readings.record(token, await listFound(netns));
    } catch (err) {
      readings.abort(token);
      if (!isNetnsGone(err)) log.warn({ err, netns }, 'could not read the faults in a sandbox');
      return false;
    }
  }

  /** Reads the namespaces due, one at a time (never many nft listings at once beside a pass's actions). */
  function readInBackground(): void {
    if (reading || stopping) return;
    const due = readings.due(performance.now());
    if (!due.length) return;
    reading = (async () => {
      let surprised = false;
      for (const netns of due) {
        if (stopping) return;
        if (await readOne(netns)) {
          surprised = true;
          log.info({ netns }, 'a sandbox\'s tables are not as this agent left them: planning from what is there');
        }
      }
      if (surprised) kick();
    })().finally(() => { reading = undefined; });
  }

  const holderViews = (): HolderView[] => holders.list().map((o) => {
    const p = o as KubernetesObject & { status?: { phase?: string; startTime?: string } };
    return {
      uid: p.metadata?.uid ?? '', namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', phase: p.status?.phase,
      deleting: Boolean(p.metadata?.deletionTimestamp), created: p.metadata?.creationTimestamp as string | undefined, labels: p.metadata?.labels ?? {}, annotations: p.metadata?.annotations ?? {},
      ...(p.status?.startTime ? { started: String(p.status.startTime) } : {}),
    };
  });
  const runOf = (namespace: string, name: string): RunView | undefined => {
    const r = runs.get(name, namespace) as (KubernetesObject & { spec?: { signalState?: string }; status?: { phase?: string } }) | undefined;
    return r ? { signalState: r.spec?.signalState, phase: r.status?.phase } : undefined;
  };

  async function foundOn(netnses: string[]): Promise<FoundFault[]> {
    const all = await Promise.all(netnses.map((ns) => listFound(ns).catch((err: unknown) => {
      if (!isNetnsGone(err)) log.warn({ err, netns: ns }, 'could not read the faults in a sandbox');
      return [] as FoundFault[];
    })));
    return all.flat();
  }

  /** Plans and carries out the process faults (process-faults.ts, process-shell.ts); returns their reports. */
  async function processPass(live: ReturnType<typeof liveHolders>): Promise<AgentFaultReport[]> {
    const { wanted } = wantedProcessFaults(node, live, listContainers(containerdTasks));
    const actions = planProcessFaults(wanted, processes.found(), Date.now());
    const failed = new Map<string, string>();
    const refused = new Map<string, string>();
    for (const a of actions) {
      if (a.kind === 'refuse') { refused.set(a.fault.key, a.reason); continue; }
      try {
        await processes.carryOut(a);
        if (a.kind === 'thaw' || a.kind === 'stop') faultRevertSeconds.observe((Date.now() - lastEventAt) / 1000);
      } catch (err) {
        log.error({ err, action: a.kind }, 'fault action failed');
        if (a.kind !== 'thaw' && a.kind !== 'stop') failed.set(a.fault.key, (err as Error).message);
      }
    }
    processes.forget(wanted);
    return wanted.map((w) => {
      const base = { holder: w.id, namespace: w.target.namespace, pod: w.target.pod, kind: w.spec.kind };
      if (refused.has(w.key)) return { ...base, state: 'refused' as const, reason: refused.get(w.key)! };
      const reason = failed.get(w.key) ?? processes.failureOf(w.key);
      if (reason) return { ...base, state: 'failing' as const, reason };
      return { ...base, state: 'in-force' as const };
    });
  }

  async function pass(): Promise<void> {
    const eventAt = lastEventAt;
    let eventsSeen = events;
    const sandboxes = onePathPerNamespace(findSandboxes(opts.proc));
    const recordObject = recordNow();
    const record = parseKillSwitch(recordObject?.data);
    if (record && recordObject?.metadata?.resourceVersion !== recordSeen) {
      recordSeen = recordObject?.metadata?.resourceVersion;
      log.info({ stoppedAt: new Date(record.stoppedAt).toISOString(), runs: record.runs.size, by: record.by }, 'kill-switch record: the faults of its runs end');
    }
    const silentFor = Date.now() - apiAnsweredAt;
    if (silentFor > apiSilenceMs !== cutOff) {
      cutOff = !cutOff;
      if (cutOff) log.warn({ silentForMs: silentFor }, 'the API server has not answered: every fault here is let go until it does (a STOP could not reach this agent)');
      else log.info('the API server answers again: the faults still wanted are taken up');
    }
    const wantedNow = () => (cutOff ? { wanted: [] as WantedFault[], unresolved: [] } : wantedOnNode(node, holderViews(), runOf, (uid) => sandboxes.get(uid),
      parseKillSwitch(recordNow()?.data)));
    const { wanted, unresolved } = wantedNow();
    for (const t of unresolved) log.debug({ pod: `${t.namespace}/${t.name}` }, 'target sandbox not found on this node yet');
    // The process faults first: thaws and stops are a file write and a signal, and ending chaos comes first.
    processReports = await processPass(cutOff ? [] : liveHolders(holderViews(), runOf, parseKillSwitch(recordNow()?.data)));
    // Reverts first (planNode orders them so), then renewals, each in one nft transaction per network
    // namespace, the namespaces at once: a kill switch over a hundred faults on a node is a few kernel
    // commits, not a hundred in a row (a table deletion's commit took ~25 ms here; 25 in one
    // transaction, 22 ms in all), and a round of renewals never holds a revert back for seconds.
    // revertScript creates the table if it is missing before deleting it, so a batch of reverts never
    // fails on a table already gone; a batch of renewals that fails (one table gone) is done one by one.
    const revertAll = (actions: AgentAction[]) => Promise.all([...Map.groupBy(actions.filter((a): a is RevertAction => a.kind === 'revert'), (a) => a.netns)].map(async ([netns, batch]) => {
      try {
        await applyIn(netns, batch.map((a) => revertScript(a.id)).join(''));
      } catch (err) {
        readings.unsure(netns);
        if (isNetnsGone(err)) return; // the pod is gone, and its faults with its namespace
        log.error({ err, netns, action: 'revert', faults: batch.length }, 'fault action failed');
        return;
      }
      for (const a of batch) {
        readings.gone(netns, a.id);
        faultRevertSeconds.observe((Date.now() - eventAt) / 1000);
        log.info({ netns, id: a.id, reason: a.reason }, 'fault reverted');
      }
    }));
    // What is here comes from memory (src/agent/readings.ts): only a namespace never read (a new
    // sandbox; every one after a restart) is read before planning there, and the reverts already
    // known to be due do not wait for that reading. A watch event's reverts come straight after it.
    const netnses = sandboxNamespaces(sandboxes);
    readings.sync(netnses.map((ns): [string, string | undefined] => { try { return [ns, namespaceIdentity(ns)]; } catch { return [ns, undefined]; } }));
    const unread = readings.unread(netnses);
    if (unread.length) await Promise.all([revertAll(planNode(wanted, readings.found(performance.now())).actions), ...unread.map(readOne)]);
    const found = readings.found(performance.now());
    const plan = planNode(wanted, found);
    await revertAll(plan.actions);
    const renewals = Map.groupBy(plan.actions.filter((a): a is RenewAction => a.kind === 'renew'), (a) => a.fault.target.netns);
    const renewLater: RenewAction[] = [];
    const failures = new Map<string, ActionFailure>();
    const notDone = new Set<string>();
    await Promise.all([...renewals].map(async ([netns, batch]) => {
      const sentAt = performance.now();
      try {
        await applyIn(netns, batch.map((a) => renewScript(a.fault)).join(''));
        for (const a of batch) readings.holds(netns, a.fault.id, specHash(a.fault), a.fault.leaseSeconds * 1000, sentAt);
      } catch (err) {
        if (!isNetnsGone(err)) renewLater.push(...batch);
        else readings.unsure(netns);
      }
    }));
    // A long run of applies (a game day's hundred holders starting at once) gives way to a revert: when
    // events have come since the plan and, by the caches now, a fault in force here is no longer wanted
    // (a STOP, the kill-switch record), the rest waits for the next pass, which those events have
    // queued and which reverts first. Other events (any run's status) do not stop the applies.
    const here = new Set(found.map((f) => faultKey(f.netns, f.id)));
    for (const a of plan.actions) if (a.kind === 'revert') here.delete(faultKey(a.netns, a.id));
    const mustGiveWay = (): boolean => {
      if (events === eventsSeen) return false;
      eventsSeen = events;
      const still = new Set(wantedNow().wanted.map((w) => faultKey(w.target.netns, w.id)));
      return [...here].some((k) => !still.has(k));
    };
    const rest = [...renewLater, ...plan.actions.filter((a) => a.kind === 'apply' || a.kind === 'refuse')];
    for (const [i, action] of rest.entries()) {
      if (action.kind === 'apply' && mustGiveWay()) {
        log.info('applies give way to a revert');
        for (const later of rest.slice(i)) if (later.kind !== 'refuse') notDone.add(faultKey(later.fault.target.netns, later.fault.id));
        again = true;
        break;
      }
      const sentAt = performance.now();
      try {
        await carryOut(action, { delayer });
        if (action.kind !== 'refuse') {
          const w = action.fault;
          readings.holds(w.target.netns, w.id, action.kind === 'apply' ? action.specHash : specHash(w), w.leaseSeconds * 1000, sentAt);
        }
        if (action.kind === 'apply') {
          here.add(faultKey(action.fault.target.netns, action.fault.id));
          log.info({ run: `${action.fault.run.namespace}/${action.fault.run.name}`, step: action.fault.step, pod: `${action.fault.target.namespace}/${action.fault.target.pod}`, kind: kindOf(action.fault), reason: action.reason }, 'fault applied');
        } else if (action.kind === 'refuse') {
          log.warn({ run: `${action.fault.run.namespace}/${action.fault.run.name}`, step: action.fault.step, reason: action.reason }, 'fault refused');
        }
      } catch (err) {
        if (action.kind !== 'refuse') readings.unsure(action.fault.target.netns);
        if (isNetnsGone(err)) continue; // the pod is gone, and its faults with its namespace
        if (action.kind !== 'refuse') failures.set(faultKey(action.fault.target.netns, action.fault.id), classifyFailure(err));
        log.error({ err, action: action.kind }, 'fault action failed');
      }
    }
    // After the tables: a reverted delay's rule is gone before its delayer is stopped.
    const refused = new Set(plan.actions.flatMap((a) => (a.kind === 'refuse' ? [faultKey(a.fault.target?.netns, a.fault.id)] : [])));
    const inForce = wanted.filter((w) => !refused.has(faultKey(w.target.netns, w.id)));
    const held = await delayers.sync(inForce);
    lastReport = faultReport(node, wanted, plan.actions, failures, notDone);
    lastReport.faults.push(...processReports);
    faultsInForce.reset();
    for (const w of wanted) faultsInForce.inc({ kind: kindOf(w) });
    for (const r of processReports) if (r.state === 'in-force') faultsInForce.inc({ kind: r.kind ?? 'process' });
    agentPasses.setToCurrentTime();
    readInBackground();
    schedule(Math.min(plan.wakeInMs ?? 1000, held.wakeInMs ?? 1000));
  }

  function schedule(inMs: number): void {
    if (stopping) return;
    clearTimeout(timer);
    // At least once a second: a sandbox that appears (a target's pod restarting) is seen within one.
    timer = setTimeout(kick, Math.max(50, Math.min(inMs, 1000)));
  }

  function kick(): void {
    if (stopping) return;
    if (running) { again = true; return; }
    running = pass().catch((err: unknown) => { log.error({ err }, 'agent pass failed'); schedule(1000); }).finally(() => {
      running = undefined;
      if (again) { again = false; kick(); }
    });
  }

  // No pass before every cache is whole: the initial lists call the handlers as they fill, and a pass
  // then would see one cache still empty (the runs, say) and revert every fault still wanted on the
  // node, to apply it again a moment later: a restarted agent must take over, not let go first. And a
  // pass runs after the whole batch of events one list or relist delivers, not in the middle of it.
  let started = false;
  const onEvent = () => { lastEventAt = Date.now(); apiAnsweredAt = lastEventAt; events++; if (started) queueMicrotask(kick); };
  const informers = [holders, runs, ...(killSwitch ? [killSwitch] : [])];
  for (const inf of informers) for (const e of ['add', 'update', 'delete'] as const) inf.on(e, onEvent);
  await Promise.all(informers.map((inf) => inf.start()));
  started = true;
  apiAnsweredAt = Date.now();
  const beat = () => {
    heartbeat = setTimeout(async () => {
      try {
        await client.request('GET', '/version', { timeoutMs: HEARTBEAT_MS * 2 });
        apiAnsweredAt = Date.now();
        if (cutOff) kick();
      } catch { /* silence: the next pass judges it */ }
      if (!stopping) beat();
    }, HEARTBEAT_MS);
  };
  beat();
  log.info({ node, killSwitch: operatorNamespace ? `${operatorNamespace}/${KILL_SWITCH_NAME}` : 'none (not in a pod, and no --operator-namespace)' }, 'node agent started');
  kick();

  return {
    ready: () => informers.every((inf) => inf.synced),
    report: () => lastReport,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      clearTimeout(heartbeat);
      for (const inf of informers) inf.stop();
      await running;
      await reading;
      // Let go of everything held here: whatever is still wanted, the next agent applies again.
      // One namespace at a time, each in one nft transaction (one by one only if that fails): a node
      // with a thousand faults is a few commits, not a thousand nft processes at once.
      let found = 0;
      for (const netns of sandboxNamespaces(onePathPerNamespace(findSandboxes(opts.proc)))) {
        const ids = (await foundOn([netns])).map((f) => f.id);
        if (!ids.length) continue;
        found += ids.length;
        try { await applyIn(netns, ids.map(revertScript).join('')); } catch {
          for (const id of ids) await revertIn(netns, id).catch(() => {});
        }
      }
      await delayers.stopAll();
      found += await processes.stopAll();
      log.info({ reverted: found }, 'node agent stopped');
      client.close();
    },
  };
}

async function agentCommand(v: OptionValues<typeof options>): Promise<number> {
  if (!v.node) throw new Error('--node (or NODE_NAME) is required: the node this agent runs on');
  const log = createLogger('agent', v['log-level']);
  let agent: AgentHandle | undefined;
  const port = wholeNumber('metrics-port', v['metrics-port']);
  const server = port > 0
    ? await startMetricsServer(port, v['metrics-bind'], () => agent?.ready() ?? false, undefined, { [AGENT_REPORT_PATH]: () => agent?.report() ?? { node: v.node, faults: [] } })
    : undefined;
  agent = await startAgent({
    kubeconfig: v.kubeconfig, node: v.node, proc: v.proc, log, delayer: v.delayer, operatorNamespace: v['operator-namespace'],
    containerdTasks: v['containerd-tasks'], cgroupRoot: v['cgroup-root'], stateDir: v['state-dir'], stressNg: v['stress-ng'],
  });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await agent.stop();
  server?.close();
  return 0;
}
