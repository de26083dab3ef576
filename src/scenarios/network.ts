// The holder of a `network` step: the command its pod runs (`chaosrun scenario network`). It picks the
// target pods (the same selection as podKill: namespace or namespacePattern, labelSelector and/or
// namePattern, count or percent, chosen at random among Running pods that have a node), writes them to
// its own pod as the targets annotation (src/api/fault-holder.ts), and then holds: it does nothing
// until the step's duration has passed, or until it is stopped. The node agents do the injecting,
// for exactly as long as this pod runs and its run says RUN; so this process holds no fault itself
// and has nothing to undo: however it ends, SIGKILL included, the agents let go.
//
// Paused time counts: the step's clock is the holder's wall clock. A PAUSE reverts the fault at once
// (the agents watch the signal); RUN re-applies it for what is left of the duration. A step therefore
// never lasts longer than its duration, whatever the signals did (see docs/faults.md for why).
import type { V1Pod } from '@kubernetes/client-node';
import { formatDuration } from '../api/duration.ts';
import { ANNOTATION_FAULT_TARGETS, type FaultTargetRef } from '../api/fault-holder.ts';
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
}

/** How many of `matched` pods a count or percent picks (percent rounds up: 1% of 3 pods is 1 pod). */
export function targetCount(matched: number, count: number | undefined, percent: number | undefined): number {
  if (percent !== undefined) return Math.min(matched, Math.max(1, Math.ceil((matched * percent) / 100)));
  return count ?? 1;
}

const running = (p: V1Pod) => p.status?.phase === 'Running' && Boolean(p.spec?.nodeName) && !p.metadata?.deletionTimestamp;

type Selection = HoldOptions['selection'];

/** Chooses targets now: Running pods on a node, as many as count or percent says, and how many matched. */
async function choose(client: ApiReader, selection: Selection, count: number | undefined, percent: number | undefined): Promise<{ chosen: FaultTargetRef[]; matched: number }> {
  // Select with count 1 so that "fewer than count" is judged on Running pods below, not on all matches.
  const { pods, target } = await selectTargets(client, { ...selection, count: 1, recoveryTimeoutMs: 0 });
  const candidates = pods.filter(running);
  if (candidates.length === 0) throw new Error(`no Running pod matched (${target})`);
  const n = targetCount(candidates.length, count, percent);
  if (candidates.length < n) throw new Error(`only ${candidates.length} Running pod(s) matched (${target}), fewer than count ${n}`);
  const chosen = pickRandom(candidates, n).map((p) => ({
    namespace: p.metadata!.namespace!, name: p.metadata!.name!, uid: p.metadata!.uid!, node: p.spec!.nodeName!,
  }));
  return { chosen, matched: candidates.length };
}

export async function chooseTargets(client: ApiReader, opts: HoldOptions): Promise<FaultTargetRef[]> {
  return (await choose(client, opts.selection, opts.count, opts.percent)).chosen;
}

/** The dry run's view: which pods on which nodes would be hit now (reads only). */
export function chooseTargetsForPlan(client: ApiReader, body: NetworkBody): Promise<{ chosen: FaultTargetRef[]; matched: number }> {
  const { namespace, namespacePattern, labelSelector, namePattern } = body;
  return choose(client, { namespace, namespacePattern, labelSelector, namePattern }, body.count, body.percent);
}

/** Picks the targets, tells the agents (this pod's annotation), holds for the duration; returns the summary. */
export async function holdNetworkFault(client: ApiClient, opts: HoldOptions, log: Logger, stopped: Promise<void>, onRecorded: () => void = () => {}): Promise<string> {
  const targets = await chooseTargets(client, opts);
  try {
    await client.request('PATCH', paths.pods(opts.self.namespace, opts.self.name), {
      body: { metadata: { annotations: { [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) } } }, contentType: MERGE_PATCH,
    });
  } catch (err) {
    throw new Error(`API error while recording the targets on pod ${opts.self.namespace}/${opts.self.name}: ${err instanceof KubeError ? err.message : String(err)}`);
  }
  onRecorded();
  const hit = targets.map((t) => `${t.namespace}/${t.name} on ${t.node}`).join(', ');
  log.info({ targets: hit, durationMs: opts.durationMs }, 'targets recorded; holding');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise<void>((r) => { timer = setTimeout(r, opts.durationMs); }), stopped]);
  clearTimeout(timer);
  return `network: ${opts.what} on ${hit} for ${formatDuration(opts.durationMs)}`;
}
