// The node agent's second pure core, for the process faults (freeze, stress, containerKill): what is
// wanted in which container of this node, and what to do about what is found, as pure functions of
// the live holders (wanted.ts liveHolders: the same rules as network faults), the containers the
// runtime records here (containers.ts) and the time. The shell (process-shell.ts) carries it out.
//
// A process fault is keyed by holder id and container id: a container the kubelet restarts is a new
// container, so a freeze or a stress moves to it (the holder names containers by name), while a
// containerKill aims at the one id its holder recorded and never at its successor. A stress with
// `node: true` is keyed by holder and node: one load on the node, in a cgroup of the agent's own.
//
// The rules, per key:
//   freeze wanted, not found, or found with its guard dead   -> freeze  (write the record, start the guard,
//                                                                        which freezes and thaws on its
//                                                                        parent's death or at the deadline)
//   freeze found (a record), not wanted                       -> thaw    (stop the guard, write THAWED,
//                                                                        remove the record)
//   stress wanted, no live stressor, last start >= 2 s ago     -> start   (timeout: the step's end)
//   stress found alive, not wanted                            -> stop
//   containerKill wanted, not yet signalled, a main process  -> signal
//   wanted but invalid                                        -> refuse  (told back; nothing is done)
// A fault past its step's deadline (the holder's start plus its duration) is not wanted: the holder
// is about to end, and nothing of a step outlives it. Order: thaws and stops first (ending chaos
// comes first), then freezes, starts and signals, then refusals.
import { parseDuration } from '../api/duration.ts';
import { ANNOTATION_DURATION, CONTAINER_KILL_SIGNALS, type ProcessFaultSpec } from '../api/fault-holder.ts';
import type { ContainerOnNode } from './containers.ts';
import { faultIdOf, stepOf, type LiveHolder } from './wanted.ts';

export interface WantedProcessFault {
  /** holder id / container id: one per step and container. */
  key: string;
  /** The holder's id (its uid, lower case), as the report names it. */
  id: string;
  run: { namespace: string; name: string };
  step: string;
  target: { namespace: string; pod: string; podUid: string; container: string; containerId: string };
  spec: ProcessFaultSpec;
  cgroupsPath: string;
  initPid?: number;
  /** When the step ends by its duration (ms since the epoch); absent: not known. */
  deadlineMs?: number;
}

export interface FoundProcessFault {
  key: string;
  kind: 'freeze' | 'stress' | 'containerKill';
  /** freeze: its guard runs; stress: its stressor runs; containerKill: signalled (always true). */
  alive: boolean;
  /** When this agent last started it (ms since the epoch): a dead stressor is started again 2 s on. */
  startedAtMs?: number;
}

export type ProcessAction =
  | { kind: 'thaw'; key: string }
  | { kind: 'stop'; key: string }
  | { kind: 'freeze'; fault: WantedProcessFault; guardSeconds: number }
  | { kind: 'start'; fault: WantedProcessFault; timeoutSeconds: number }
  | { kind: 'signal'; fault: WantedProcessFault; signal: string }
  | { kind: 'refuse'; fault: WantedProcessFault; reason: string };

export const keyOf = (holderId: string, containerId: string): string => `${holderId}/${containerId}`;
/** The node-level cgroup of a `node: true` stress: the agent's own, outside every pod's (made and removed by the shell). */
export const NODE_STRESS_CGROUP = '/chaosrun-stress';
export const nodeStressCgroup = (holderId: string): string => `${NODE_STRESS_CGROUP}/${holderId}`;
/** A stressor that died while wanted (an OOM kill of its own) is started again after this long. */
export const RESTART_AFTER_MS = 2000;
/** Without a known deadline a stressor's timeout and a guard's timer are this long; the agent renews them. */
export const UNBOUNDED_SECONDS = 3600;

/** The step's end by its duration: the holder's start plus the duration annotation. */
function deadlineOf(h: LiveHolder['holder']): number | undefined {
  const started = h.started === undefined ? Number.NaN : Date.parse(h.started);
  const text = h.annotations[ANNOTATION_DURATION];
  if (!Number.isFinite(started) || !text) return undefined;
  try { return started + parseDuration(text); } catch { return undefined; }
}

/** The process faults wanted in the containers of this node, and the targets whose containers are not (yet) here. */
export function wantedProcessFaults(node: string, live: LiveHolder[], containers: ContainerOnNode[]): { wanted: WantedProcessFault[]; unresolved: string[] } {
  const wanted: WantedProcessFault[] = [];
  const unresolved: string[] = [];
  for (const { holder, runName, spec, targets } of live) {
    if (spec.kind === 'network') continue;
    const id = faultIdOf(holder.uid);
    const deadlineMs = deadlineOf(holder);
    for (const t of targets) {
      if (t.node !== node) continue;
      if (spec.kind === 'stress' && spec.node) {
        // One load per node, however many of its targets are here: the node's, in a cgroup of the agent's own.
        const key = keyOf(id, `node-${node}`);
        if (!wanted.some((w) => w.key === key)) {
          wanted.push({
            key, id, run: { namespace: holder.namespace, name: runName }, step: stepOf(holder),
            target: { namespace: t.namespace, pod: t.name, podUid: t.uid, container: '', containerId: '' },
            spec, cgroupsPath: nodeStressCgroup(id), ...(deadlineMs !== undefined ? { deadlineMs } : {}),
          });
        }
        continue;
      }
      const inPod = containers.filter((c) => c.podUid === t.uid && !c.sandbox);
      const aimed = spec.kind === 'containerKill'
        ? inPod.filter((c) => (t.containers ?? []).some((r) => r.id === c.id))
        : inPod.filter((c) => c.name !== undefined && (t.containers?.length ? t.containers.some((r) => r.name === c.name) : spec.kind === 'freeze'));
      if (!aimed.length) { unresolved.push(`${t.namespace}/${t.name}`); continue; }
      for (const c of aimed) {
        wanted.push({
          key: keyOf(id, c.id), id, run: { namespace: holder.namespace, name: runName }, step: stepOf(holder),
          target: { namespace: t.namespace, pod: t.name, podUid: t.uid, container: c.name ?? '', containerId: c.id },
          spec, cgroupsPath: c.cgroupsPath, ...(c.initPid ? { initPid: c.initPid } : {}), ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        });
      }
    }
  }
  return { wanted, unresolved };
}

// --- validation ------------------------------------------------------------------------------------

const QUANTITY = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const QUANTITY_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
/** The least and most memory a stress keeps resident: below a page it measures nothing, above a terabyte it is a typo. */
export const MIN_STRESS_BYTES = 4096;
export const MAX_STRESS_BYTES = 1024 ** 4;

/** A Kubernetes quantity of bytes (96Mi, 1Gi, 500M, 1048576) as a whole number of bytes. */
export function parseBytes(text: string): number {
  const m = typeof text === 'string' ? QUANTITY.exec(text.trim()) : null;
  if (!m) throw new Error(`invalid memory size ${JSON.stringify(text)}: use a quantity like 96Mi, 1Gi or 500M`);
  const bytes = Math.round(Number(m[1]) * QUANTITY_UNITS[m[2] ?? '']);
  if (bytes < MIN_STRESS_BYTES || bytes > MAX_STRESS_BYTES) throw new Error(`invalid memory size ${JSON.stringify(text)}: from 4Ki to 1Ti`);
  return bytes;
}

/** Why a process fault cannot be carried out, or undefined when it can. */
export function validateProcessFault(spec: ProcessFaultSpec): string | undefined {
  try {
    if (spec.kind === 'stress') {
      if (!spec.cpu && !spec.memory) return 'stress needs cpu, memory or both';
      if (spec.cpu) {
        const { workers, load } = spec.cpu;
        if (!Number.isInteger(workers) || workers < 1 || workers > 64) return `stress cpu workers must be a whole number from 1 to 64, got ${JSON.stringify(workers)}`;
        if (!Number.isInteger(load) || load < 1 || load > 100) return `stress cpu load must be a whole percentage from 1 to 100, got ${JSON.stringify(load)}`;
      }
      if (spec.memory) parseBytes(spec.memory.size);
    }
    if (spec.kind === 'containerKill' && !(CONTAINER_KILL_SIGNALS as readonly string[]).includes(spec.signal)) {
      return `containerKill signal ${JSON.stringify(spec.signal)}: use one of ${CONTAINER_KILL_SIGNALS.join(', ')}`;
    }
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** stress-ng's arguments for a stress spec (its timeout and quiet output added). */
export function stressArgs(spec: Extract<ProcessFaultSpec, { kind: 'stress' }>, timeoutSeconds: number): string[] {
  return [
    ...(spec.cpu ? ['--cpu', String(spec.cpu.workers), '--cpu-load', String(spec.cpu.load)] : []),
    ...(spec.memory ? ['--vm', '1', '--vm-bytes', `${parseBytes(spec.memory.size)}b`, '--vm-keep'] : []),
    '--timeout', `${timeoutSeconds}s`, '--quiet',
  ];
}

// --- the plan ----------------------------------------------------------------------------------------

export function planProcessFaults(wantedIn: WantedProcessFault[], found: FoundProcessFault[], nowMs: number): ProcessAction[] {
  const ending: ProcessAction[] = [];
  const acting: ProcessAction[] = [];
  const refusals: ProcessAction[] = [];
  const want = new Map<string, WantedProcessFault>();
  for (const w of wantedIn) {
    if (w.deadlineMs !== undefined && w.deadlineMs <= nowMs) continue;
    const invalid = validateProcessFault(w.spec);
    if (invalid) { refusals.push({ kind: 'refuse', fault: w, reason: invalid }); continue; }
    if (!want.has(w.key)) want.set(w.key, w);
  }
  const have = new Map(found.map((f) => [f.key, f]));
  for (const f of [...have.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    if (want.has(f.key)) continue;
    if (f.kind === 'freeze') ending.push({ kind: 'thaw', key: f.key });
    else if (f.kind === 'stress' && f.alive) ending.push({ kind: 'stop', key: f.key });
  }
  const secondsLeft = (w: WantedProcessFault) =>
    (w.deadlineMs === undefined ? UNBOUNDED_SECONDS : Math.max(1, Math.ceil((w.deadlineMs - nowMs) / 1000)));
  for (const w of [...want.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    const f = have.get(w.key);
    switch (w.spec.kind) {
      case 'freeze':
        if (!f?.alive) acting.push({ kind: 'freeze', fault: w, guardSeconds: secondsLeft(w) });
        break;
      case 'stress':
        if (!f?.alive && (f?.startedAtMs === undefined || nowMs - f.startedAtMs >= RESTART_AFTER_MS)) {
          acting.push({ kind: 'start', fault: w, timeoutSeconds: secondsLeft(w) });
        }
        break;
      case 'containerKill':
        if (!f && w.initPid) acting.push({ kind: 'signal', fault: w, signal: w.spec.signal });
        break;
    }
  }
  return [...ending, ...acting, ...refusals];
}
