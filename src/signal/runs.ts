// ChaosRuns as the signal server sees them: which runs it may show and steer, their JSON views, and
// the one write it makes per run, a merge patch of spec.signalState (and spec.pauseUntil); a broadcast
// STOP writes the kill-switch record before them (kill-switch.ts). The kubectl plugin signals through
// the same functions (one code path for signals, whichever door they come in by).
import { parseDuration } from '../api/duration.ts';
import type { ChaosRun, Signal } from '../api/types.ts';
import { isFinal } from '../api/types.ts';
import { signalStamp } from '../api/signal-source.ts';
import { KubeError, MERGE_PATCH, isConflict, isNotFound, type KubeClient } from '../kube/client.ts';
import { recordEvent } from '../kube/events.ts';
import { objectKey } from '../kube/informer.ts';
import { paths } from '../kube/paths.ts';
import { isAtLeast } from '../kube/resource-version.ts';
import type { Logger } from '../log.ts';
import { signalsAccepted } from '../metrics/signal.ts';
import type { User } from './auth.ts';
import { throwKillSwitch, type KillSwitchOutcome, type KillSwitchTarget } from './kill-switch.ts';

/** The informer cache, narrowed to what the server reads (namespaces and label selector already applied). */
export interface RunCache {
  list(): ChaosRun[];
  get(name: string, namespace: string): ChaosRun | undefined;
  readonly synced: boolean;
  /** The runs as the API server holds them now (a list, not the cache): see Informer.fresh. */
  fresh(): Promise<ChaosRun[]>;
  /** Changes as the informer sees them (the console's live stream). */
  on(event: 'add' | 'update' | 'delete', handler: (run: ChaosRun) => void): void;
}

export const EVENT_COMPONENT = 'chaosrun-signal-server';
const PATCH_ATTEMPTS = 3;

const byKey = (a: ChaosRun, b: ChaosRun) => objectKey(a).localeCompare(objectKey(b));

/** The runs the server may show and steer: in its cache, with publishStatus (krkn's publish_kraken_status). */
export const publishedRuns = (cache: RunCache): ChaosRun[] => published(cache.list());
const published = (runs: ChaosRun[]) => runs.filter((r) => r.spec.publishStatus !== false).sort(byKey);

/**
 * What a broadcast acts on: the runs as the API server holds them now. The watch brings a run created
 * a moment ago some milliseconds later, and a kill switch that missed it would leave it running; one
 * list per namespace in scope is its price. If that list fails, the cache is what is known: better to
 * stop those than none (logged).
 */
export async function broadcastRuns(cache: RunCache, log: Logger): Promise<ChaosRun[]> {
  try {
    return published(await cache.fresh());
  } catch (err) {
    log.warn({ err }, 'could not list the runs in scope for a broadcast; acting on the cached ones');
    return publishedRuns(cache);
  }
}

/**
 * krkn's `GET /` over many runs. Scripts poll it for the state of *the* run, so finished runs (kept
 * until someone deletes them) do not count while any run is unfinished: the same set the broadcast
 * POSTs act on. Only when every run has finished does it answer from all of them (after POST /STOP:
 * `STOP`, as krkn). The bare state when the runs it reads agree, else one line per run, a finished one
 * marked with its phase.
 */
export function stateText(runs: ChaosRun[]): string {
  if (runs.length === 0) return 'no ChaosRuns in scope\n';
  const unfinished = runs.filter((r) => !isFinal(r.status?.phase));
  const read = unfinished.length ? unfinished : runs;
  const states = new Set(read.map((r) => r.spec.signalState));
  if (states.size === 1) return [...states][0];
  return read.map((r) => `${objectKey(r)} ${r.spec.signalState}${isFinal(r.status?.phase) ? ` (${r.status!.phase})` : ''}\n`).join('');
}

export function runSummary(run: ChaosRun) {
  const s = run.status ?? {};
  return {
    namespace: run.metadata.namespace, name: run.metadata.name,
    signal: run.spec.signalState, pauseUntil: run.spec.pauseUntil,
    phase: s.phase, progress: s.progress, iteration: s.iteration, step: s.step,
  };
}

export function runDetail(run: ChaosRun) {
  const s = run.status ?? {};
  return {
    ...runSummary(run),
    observedSignal: s.observedSignal, startTime: s.startTime, completionTime: s.completionTime,
    conditions: s.conditions ?? [],
    report: isFinal(s.phase) ? s.report : undefined,
  };
}

export interface SignalDeps {
  client: KubeClient;
  /** The server's cache, which a signal waits on; the plugin has none. */
  cache?: RunCache;
  log: Logger;
  /** How long a signal waits for the cache to show its write, so a GET right after a POST reads it. */
  cacheWaitMs: number;
  /** The door, for the Event: "HTTP" (the default) or "kubectl chaosrun". */
  via?: string;
  /** Where a broadcast STOP writes the kill-switch record first (src/signal/kill-switch.ts); none: it writes none. */
  killSwitch?: KillSwitchTarget;
}

/** The longest timed pause: a year keeps pauseUntil a valid RFC 3339 time far from any overflow. */
const MAX_PAUSE_MS = 8760 * 3_600_000;

/** A timed pause (`?for=10m`, `pause --for 10m`): the RFC 3339 time it ends; throws a one-line reason. */
export function pauseUntilFor(duration: string, now = Date.now()): string {
  const ms = parseDuration(duration);
  if (ms <= 0 || ms > MAX_PAUSE_MS) throw new Error(`a timed pause lasts more than 0s and at most 8760h, not ${duration}`);
  return new Date(now + ms).toISOString();
}

/** Why a run takes no `signal`: it is finished, or it was sent STOP, which is final. */
export function signalRefusal(run: ChaosRun, signal: Signal): { reason: 'Finished' | 'Stopping'; message: string } | undefined {
  const phase = run.status?.phase;
  if (isFinal(phase)) return { reason: 'Finished', message: `ChaosRun ${objectKey(run)} is finished (phase ${phase}); signals no longer apply` };
  if (run.spec.signalState === 'STOP' && signal !== 'STOP') {
    return { reason: 'Stopping', message: `ChaosRun ${objectKey(run)} was sent STOP, which is final; it cannot be resumed or paused` };
  }
  return undefined;
}

/**
 * krkn's broadcast (POST /RUN, /PAUSE, /STOP; `kubectl chaosrun pause --all`): `signal` to every
 * unfinished run of `runs`; a stopping run takes no other signal (STOP is final). All or nothing on
 * authorization: when `mayPatch` denies any target, nothing is written and the denied runs are returned.
 * A STOP (the kill switch) first writes the kill-switch record naming every target, one write the node
 * agents see at once, then patches the runs; a record that could not be written is told in
 * `killSwitch` and stops nothing from being patched.
 */
export async function broadcastSignal(
  deps: SignalDeps, runs: ChaosRun[], signal: Signal, pauseUntil: string | null, user: User, mayPatch: (run: ChaosRun) => Promise<boolean>,
): Promise<{ denied: ChaosRun[]; summary: string; killSwitch?: KillSwitchOutcome }> {
  const unfinished = runs.filter((r) => !isFinal(r.status?.phase));
  // Runs with a step running first: under STOP those are where chaos is happening now.
  const targets = unfinished.filter((r) => signal === 'STOP' || r.spec.signalState !== 'STOP')
    .sort((a, b) => Number(Boolean(b.status?.activeJob)) - Number(Boolean(a.status?.activeJob)));
  const allowed = await Promise.all(targets.map(mayPatch));
  const denied = targets.filter((_, i) => !allowed[i]);
  if (denied.length) return { denied, summary: '' };
  let killSwitch: KillSwitchOutcome | undefined;
  if (signal === 'STOP' && deps.killSwitch && targets.length) {
    killSwitch = await throwKillSwitch(deps.client, deps.killSwitch, targets.map(objectKey), `${user.name} via ${deps.via ?? 'HTTP'}`);
    if (killSwitch.written) deps.log.info({ record: killSwitch.where, runs: targets.length, resourceVersion: killSwitch.resourceVersion, user: user.name }, 'kill-switch record written');
    else deps.log.warn({ record: killSwitch.where, runs: targets.length, err: killSwitch.error }, 'kill-switch record not written; stopping the runs one by one');
  }
  const results = await Promise.allSettled(targets.map((r) => signalRun(deps, r, signal, pauseUntil, user)));
  // A run deleted since it was read is simply not signalled, and one sent STOP since (the API server
  // refuses to change a STOP) counts as stopping; any other failure is the answer.
  const refused = (r: PromiseSettledResult<unknown>) => r.status === 'rejected' && r.reason instanceof KubeError && r.reason.status === 422;
  const failure = results.find((r) => r.status === 'rejected' && !isNotFound(r.reason) && !refused(r));
  if (failure) throw (failure as PromiseRejectedResult).reason;
  const stopping = unfinished.length - targets.length + results.filter(refused).length;
  const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const changed = done.filter((r) => r.changed).length;
  const same = done.length - changed;
  const until = pauseUntil ? ` until ${pauseUntil}` : '';
  const summary = `${signal}${until}: ${changed} run${changed === 1 ? '' : 's'} changed` +
    `${same ? `, ${same} already ${signal}` : ''}${stopping ? `, ${stopping} stopping (STOP is final)` : ''}` +
    `${done.length || stopping ? '' : ' (no unfinished runs in scope)'}\n`;
  return { denied: [], summary, killSwitch };
}

/**
 * Writes `signal` to the run's spec, as `kubectl patch` would, then records who sent it (log and Event).
 * A timed PAUSE sets pauseUntil; any other signal clears it. No resourceVersion is sent: concurrent
 * signals end in the last write. Returns the patched run and whether the desired state changed.
 */
export async function signalRun(deps: SignalDeps, run: ChaosRun, signal: Signal, pauseUntil: string | null, user: User): Promise<{ run: ChaosRun; changed: boolean }> {
  const { namespace, name } = run.metadata;
  const changed = run.spec.signalState !== signal || (run.spec.pauseUntil ?? null) !== pauseUntil;
  const patch = () => deps.client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), {
    // Who sent it goes beside a change (for status.transitions); a signal that changes nothing writes nothing.
    body: { ...(changed ? { metadata: { annotations: signalStamp(run, signal, pauseUntil, user.name, deps.via ?? 'HTTP') } } : {}), spec: { signalState: signal, pauseUntil } },
    contentType: MERGE_PATCH,
  });
  let patched: ChaosRun;
  // The API server retries a precondition-free patch itself; a conflict can still surface under heavy
  // contention, and retrying it is always right since the patch does not depend on what it replaces.
  for (let attempt = 1; ; attempt++) {
    try { patched = await patch(); break; } catch (err) {
      if (!isConflict(err) || attempt >= PATCH_ATTEMPTS) throw err;
    }
  }
  signalsAccepted.inc({ signal });
  const until = pauseUntil ? ` until ${pauseUntil}` : '';
  deps.log.info({ run: objectKey(run), signal, pauseUntil, user: user.name, changed }, 'signal accepted');
  // A server answers without waiting for the Event (in a broadcast, the other runs' patches go first);
  // a one-shot command waits for it, or the process could end before it is sent.
  const event = recordEvent(deps.client, patched, 'Normal', 'SignalReceived', `signal ${signal}${until} from ${user.name} via ${deps.via ?? 'HTTP'}`, EVENT_COMPONENT)
    .catch((err: unknown) => deps.log.warn({ run: objectKey(run), err }, 'could not record the signal Event'));
  if (deps.via) await event;
  await caughtUp(deps, patched);
  return { run: patched, changed };
}

async function caughtUp(deps: SignalDeps, patched: ChaosRun): Promise<void> {
  const { cache } = deps;
  if (!cache) return;
  const deadline = Date.now() + deps.cacheWaitMs;
  const { name, namespace, resourceVersion } = patched.metadata;
  while (Date.now() < deadline) {
    const cached = cache.get(name, namespace);
    if (!cached || isAtLeast(cached.metadata.resourceVersion, resourceVersion)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
