// The holder of a lasting step (network, freeze, stress) and of a containerKill: the command its pod
// runs (`chaosrun scenario network|freeze|stress|container-kill`). It picks the
// target pods (the same selection as podKill: namespace or namespacePattern, labelSelector and/or
// namePattern, count or percent, chosen at random among Running pods that have a node), writes them to
// its own pod as the targets annotation (src/api/fault-holder.ts), and then holds: it does nothing
// until the step's duration has passed, or until it is stopped. The node agents do the injecting,
// for exactly as long as this pod runs and its run says RUN; so this process holds no fault itself
// and has nothing to undo: however it ends, SIGKILL included, the agents let go.
// For the process kinds each target also names its containers (the named ones, or all of them for a
// freeze, the first for a stress or a kill) with their runtime ids; a containerKill's holder then waits
// until the kubelet has restarted each of them instead of holding for a duration.
//
// Paused time counts: the step's clock is the holder's wall clock. A PAUSE reverts the fault at once
// (the agents watch the signal); RUN re-applies it for what is left of the duration. A step therefore
// never lasts longer than its duration, whatever the signals did (see docs/faults.md for why).
import type { V1Pod } from '@kubernetes/client-node';
import { formatDuration } from '../api/duration.ts';
import { ANNOTATION_FAULT_TARGETS, type FaultTargetRef, type TargetContainer } from '../api/fault-holder.ts';
import { KubeError, MERGE_PATCH, type ApiClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';
import type { NetworkBody } from '../api/types.ts';
import type { Logger } from '../log.ts';
import type { ApiReader } from './kind.ts';
import { pickRandom, selectTargets, type PodKillOptions } from './pod-kill.ts';

export interface HoldOptions {
  selection: Omit<PodKillOptions, 'count' | 'recoveryTimeoutMs'>;
  count?: number;
  percent?: number;
  durationMs: number;
  /** This pod, from the downward API. */
  self: { namespace: string; name: string };
  /** What the summary says was injected, e.g. "partition (both)". */
  what: string;
  /** The kind, the summary's first word (default network). */
  kind?: string;
  /** Which containers of each target the fault is in: named, or all/the first of the pod spec's. */
  containers?: ContainerChoice;
}

export type ContainerChoice = { names: string[] } | 'all' | 'first';

/** The containers of a pod a choice names, with their current runtime ids; throws for a name the pod lacks. */
export function containersOf(pod: V1Pod, choice: ContainerChoice): TargetContainer[] {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const picked = choice === 'all' ? names : choice === 'first' ? names.slice(0, 1) : choice.names;
  const where = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  for (const n of picked) if (!names.includes(n)) throw new Error(`pod ${where} has no container ${JSON.stringify(n)} (it has ${names.join(', ')})`);
  const idOf = (n: string) => (pod.status?.containerStatuses ?? []).find((c) => c.name === n)?.containerID?.replace(/^[a-z]+:\/\//, '') ?? '';
  return picked.map((name) => ({ name, id: idOf(name) }));
}

/** How many of `matched` pods a count or percent picks (percent rounds up: 1% of 3 pods is 1 pod). */
export function targetCount(matched: number, count: number | undefined, percent: number | undefined): number {
  if (percent !== undefined) return Math.min(matched, Math.max(1, Math.ceil((matched * percent) / 100)));
  return count ?? 1;
}

const running = (p: V1Pod) => p.status?.phase === 'Running' && Boolean(p.spec?.nodeName) && !p.metadata?.deletionTimestamp;

type Selection = HoldOptions['selection'];

/** Chooses targets now: Running pods on a node, as many as count or percent says, and how many matched. */
async function choose(client: ApiReader, selection: Selection, count: number | undefined, percent: number | undefined, containers?: ContainerChoice): Promise<{ chosen: FaultTargetRef[]; matched: number }> {
  // Select with count 1 so that "fewer than count" is judged on Running pods below, not on all matches.
  const { pods, target } = await selectTargets(client, { ...selection, count: 1, recoveryTimeoutMs: 0 });
  const candidates = pods.filter(running);
  if (candidates.length === 0) throw new Error(`no Running pod matched (${target})`);
  const n = targetCount(candidates.length, count, percent);
  if (candidates.length < n) throw new Error(`only ${candidates.length} Running pod(s) matched (${target}), fewer than count ${n}`);
  const chosen = pickRandom(candidates, n).map((p) => ({
    namespace: p.metadata!.namespace!, name: p.metadata!.name!, uid: p.metadata!.uid!, node: p.spec!.nodeName!,
    ...(containers ? { containers: containersOf(p, containers) } : {}),
  }));
  return { chosen, matched: candidates.length };
}

export async function chooseTargets(client: ApiReader, opts: HoldOptions): Promise<FaultTargetRef[]> {
  return (await choose(client, opts.selection, opts.count, opts.percent, opts.containers)).chosen;
}

/** The selection every pod-targeted lasting body shares. */
export type TargetSelection = Pick<NetworkBody, 'namespace' | 'namespacePattern' | 'labelSelector' | 'namePattern' | 'count' | 'percent'>;

/** The dry run's view: which pods on which nodes would be hit now (reads only). */
export function chooseTargetsForPlan(client: ApiReader, body: TargetSelection, containers?: ContainerChoice): Promise<{ chosen: FaultTargetRef[]; matched: number }> {
  const { namespace, namespacePattern, labelSelector, namePattern } = body;
  return choose(client, { namespace, namespacePattern, labelSelector, namePattern }, body.count, body.percent, containers);
}

/** Picks the targets, tells the agents (this pod's annotation), holds for the duration; returns the summary. */
export async function holdFault(client: ApiClient, opts: HoldOptions, log: Logger, stopped: Promise<void>, onRecorded: () => void = () => {}): Promise<string> {
  const targets = await recordTargets(client, opts);
  onRecorded();
  const hit = describeTargets(targets);
  log.info({ targets: hit, durationMs: opts.durationMs }, 'targets recorded; holding');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise<void>((r) => { timer = setTimeout(r, opts.durationMs); }), stopped]);
  clearTimeout(timer);
  return `${opts.kind ?? 'network'}: ${opts.what} on ${hit} for ${formatDuration(opts.durationMs)}`;
}

const describeTargets = (targets: FaultTargetRef[]) => targets.map((t) => `${t.namespace}/${t.name}${t.containers ? `[${t.containers.map((c) => c.name).join(',')}]` : ''} on ${t.node}`).join(', ');

/** Picks the targets and writes them on this pod, where the agents read them. */
async function recordTargets(client: ApiClient, opts: HoldOptions): Promise<FaultTargetRef[]> {
  const targets = await chooseTargets(client, opts);
  try {
    await client.request('PATCH', paths.pods(opts.self.namespace, opts.self.name), {
      body: { metadata: { annotations: { [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) } } }, contentType: MERGE_PATCH,
    });
  } catch (err) {
    throw new Error(`API error while recording the targets on pod ${opts.self.namespace}/${opts.self.name}: ${err instanceof KubeError ? err.message : String(err)}`);
  }
  return targets;
}

/**
 * A containerKill's holder: records the targets with the ids of the containers it aims at, then waits
 * until the kubelet has restarted every one of them (a new container id or a higher restartCount: the
 * agent on its node signalled it), or fails after `restartTimeoutMs` naming those that were not.
 */
export async function killContainers(client: ApiClient, opts: HoldOptions & { signal: string; restartTimeoutMs: number }, log: Logger, stopped: Promise<void>, onRecorded: () => void = () => {}): Promise<string> {
  const before = new Map<string, number>();
  const targets = await recordTargets(client, { ...opts, containers: opts.containers ?? 'first' });
  onRecorded();
  log.info({ targets: describeTargets(targets), signal: opts.signal }, 'targets recorded; waiting for the agents to signal them');
  const deadline = Date.now() + opts.restartTimeoutMs;
  const done = new Map<string, string>();
  let stop = false;
  void stopped.then(() => { stop = true; });
  for (;;) {
    for (const t of targets) {
      let pod: V1Pod;
      try { pod = await client.request<V1Pod>('GET', paths.pods(t.namespace, t.name)); } catch { continue; }
      if (pod.metadata?.uid !== t.uid) throw new Error(`pod ${t.namespace}/${t.name} was replaced before its container was killed`);
      for (const c of t.containers ?? []) {
        const key = `${t.namespace}/${t.name}/${c.name}`;
        const status = (pod.status?.containerStatuses ?? []).find((s) => s.name === c.name);
        if (!before.has(key)) before.set(key, status?.restartCount ?? 0);
        const id = status?.containerID?.replace(/^[a-z]+:\/\//, '') ?? '';
        if (!done.has(key) && ((id && id !== c.id) || (status?.restartCount ?? 0) > before.get(key)!)) {
          done.set(key, `${key} on ${t.node} (restartCount ${status?.restartCount ?? 0})`);
        }
      }
    }
    const all = targets.flatMap((t) => (t.containers ?? []).map((c) => `${t.namespace}/${t.name}/${c.name}`));
    if (all.every((k) => done.has(k))) return `containerKill: SIG${opts.signal} to ${[...done.values()].join(', ')}`;
    if (stop) return `containerKill: stopped; restarted so far: ${[...done.values()].join(', ') || 'none'}`;
    if (Date.now() > deadline) {
      const missing = all.filter((k) => !done.has(k));
      throw new Error(`not restarted within ${formatDuration(opts.restartTimeoutMs)}: ${missing.join(', ')} (is the node agent running on ${[...new Set(targets.map((t) => t.node))].join(', ')}?)`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
