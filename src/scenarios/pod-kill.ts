// The built-in pod-kill scenario: delete `count` matching pods chosen at random, then wait until as
// many matching pods are Ready again as were Ready before the kill. Every failure is an Error whose
// message is the one-line reason the step history shows.
import { randomInt } from 'node:crypto';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { KubeError, isNotFound, type ApiClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';
import { formatDuration } from '../api/duration.ts';
import type { Logger } from '../log.ts';
import type { PodKillBody } from '../api/types.ts';
import type { ApiReader } from './kind.ts';

/** The podKill body's selection fields, with the recovery timeout already parsed. */
export interface PodKillOptions extends Pick<PodKillBody, 'namespace' | 'namespacePattern' | 'labelSelector' | 'namePattern' | 'count' | 'gracePeriodSeconds'> {
  recoveryTimeoutMs: number;
  /** How often recovery is checked (default 1 s). */
  pollIntervalMs?: number;
}

export interface PodKillResult {
  /** The killed pods, as namespace/name. */
  deleted: string[];
}

/** Checks the options as the CRD does, so the command refuses what the API server would. */
export function validatePodKillOptions(opts: PodKillOptions): void {
  if ((opts.namespace === undefined) === (opts.namespacePattern === undefined)) {
    throw new Error('pod-kill needs exactly one of namespace and namespacePattern');
  }
  if (opts.labelSelector === undefined && opts.namePattern === undefined) {
    throw new Error('pod-kill needs labelSelector, namePattern or both');
  }
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new Error(`count must be a whole number of at least 1, not ${opts.count}`);
  if (opts.gracePeriodSeconds !== undefined && (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0)) {
    throw new Error(`gracePeriodSeconds must be a whole number of at least 0, not ${opts.gracePeriodSeconds}`);
  }
  if (opts.namespacePattern !== undefined) regex('namespacePattern', opts.namespacePattern);
  if (opts.namePattern !== undefined) regex('namePattern', opts.namePattern);
}

function regex(what: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new Error(`${what} ${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** API failures become one line that says which call failed. */
async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof KubeError) throw new Error(`API error while ${what}: ${err.message}`);
    throw err;
  }
}

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const podId = (pod: V1Pod) => `${pod.metadata!.namespace}/${pod.metadata!.name}`;

/** A readable description of the target, for logs and reasons. */
function target(opts: PodKillOptions): string {
  return [
    opts.namespace !== undefined ? `namespace ${opts.namespace}` : `namespaces /${opts.namespacePattern}/`,
    opts.labelSelector !== undefined ? `labels ${opts.labelSelector}` : undefined,
    opts.namePattern !== undefined ? `names /${opts.namePattern}/` : undefined,
  ].filter(Boolean).join(', ');
}

async function targetNamespaces(client: ApiReader, opts: PodKillOptions): Promise<string[]> {
  if (opts.namespace !== undefined) return [opts.namespace];
  const pattern = regex('namespacePattern', opts.namespacePattern!);
  const list = await api('listing namespaces', () => client.request<{ items: V1Namespace[] }>('GET', paths.namespaces()));
  return list.items.map((ns) => ns.metadata!.name!).filter((name) => pattern.test(name));
}

/** The matching pods that are not already being deleted. */
async function matchingPods(client: ApiReader, namespaces: string[], opts: PodKillOptions): Promise<V1Pod[]> {
  const names = opts.namePattern !== undefined ? regex('namePattern', opts.namePattern) : undefined;
  const pods: V1Pod[] = [];
  for (const ns of namespaces) {
    const list = await api(`listing pods in ${ns}`, () => client.request<{ items: V1Pod[] }>('GET', paths.pods(ns), {
      query: { labelSelector: opts.labelSelector },
    }));
    pods.push(...list.items.filter((p) => !p.metadata?.deletionTimestamp && (!names || names.test(p.metadata!.name!))));
  }
  return pods;
}

/** `count` distinct pods drawn with a cryptographic random source (a partial Fisher-Yates shuffle). */
export function pickRandom<T>(items: T[], count: number): T[] {
  const pool = [...items];
  for (let i = 0; i < count; i++) {
    const j = randomInt(i, pool.length);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

/**
 * The selection half of a kill, shared with the podKill kind's dry run (kinds/pod-kill.ts): the target
 * namespaces and the pods that match now, or the one-line reason the kill cannot go on.
 */
export async function selectTargets(client: ApiReader, opts: PodKillOptions): Promise<{ namespaces: string[]; pods: V1Pod[]; target: string }> {
  validatePodKillOptions(opts);
  const namespaces = await targetNamespaces(client, opts);
  if (namespaces.length === 0) throw new Error(`no namespace matched /${opts.namespacePattern}/`);
  const pods = await matchingPods(client, namespaces, opts);
  if (pods.length === 0) throw new Error(`no pod matched (${target(opts)})`);
  if (pods.length < opts.count) {
    throw new Error(`only ${pods.length} pod(s) matched (${target(opts)}), fewer than count ${opts.count}`);
  }
  return { namespaces, pods, target: target(opts) };
}

export async function podKill(client: ApiClient, opts: PodKillOptions, log: Logger): Promise<PodKillResult> {
  const { namespaces, pods: before } = await selectTargets(client, opts);
  // Recovery means getting back to where the target stood, not to a state it was never in.
  const expectedReady = before.filter(isReady).length;
  log.info({ matched: before.map(podId), ready: expectedReady, count: opts.count }, 'pods matched');

  const victims = pickRandom(before, opts.count);
  // By uid, not name: a StatefulSet brings a pod back under the same name, and that pod is a recovery.
  const killedUids = new Set<string>();
  const deleted: string[] = [];
  for (const pod of victims) {
    const { namespace, name, uid } = pod.metadata as { namespace: string; name: string; uid: string };
    try {
      // The grace period goes in the DeleteOptions body: with a body present the API server reads
      // the options from it alone and ignores a gracePeriodSeconds query parameter.
      await client.request('DELETE', paths.pods(namespace, name), {
        body: {
          apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid },
          ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
        },
      });
    } catch (err) {
      // Gone already (or replaced under its name): it left, which is what the kill wanted.
      if (!isNotFound(err) && !(err instanceof KubeError && err.status === 409)) {
        throw new Error(`API error while deleting pod ${namespace}/${name}: ${(err as Error).message}`);
      }
    }
    killedUids.add(uid);
    deleted.push(`${namespace}/${name}`);
    log.info({ pod: `${namespace}/${name}`, gracePeriodSeconds: opts.gracePeriodSeconds }, 'deleted pod');
  }

  const started = Date.now();
  const deadline = started + opts.recoveryTimeoutMs;
  const interval = opts.pollIntervalMs ?? 1000;
  let ready = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(interval, deadline - Date.now()))));
    const now = await matchingPods(client, namespaces, opts);
    ready = now.filter((p) => isReady(p) && !killedUids.has(p.metadata!.uid!)).length;
    if (ready >= expectedReady) break;
    if (Date.now() >= deadline) {
      throw new Error(`recovery timed out after ${formatDuration(opts.recoveryTimeoutMs)}: ${ready} of ${expectedReady} matching pods Ready (${target(opts)})`);
    }
  }
  log.info({ ready, expected: expectedReady, seconds: (Date.now() - started) / 1000 }, 'recovered');
  return { deleted };
}
