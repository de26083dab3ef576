// The lasting-fault invariants (fault 7), as pure checks over what the campaign recorded: when each
// fault was wanted, from its own watch of holder pods and runs and its own writes, and which faults it
// saw in force on the targets, polled throughout: chaosrun_ tables in the target network namespaces,
// frozen target cgroups (by the agent's freeze record, which names the holder), tagged stressors in
// the target cgroups (by their tag, which names it too).
//
// Wanted is the holder contract (src/api/fault-holder.ts), stated here on its own rather than borrowed
// from the agent's code it checks: a fault is wanted on a target exactly while its holder pod exists,
// is Running and not being deleted, names that target, and its run exists, says RUN and has not
// finished. No broadcast STOP is sent in these trials, so the kill-switch record plays no part.
//
// Times, and why a reported violation is a real one:
// - The campaign's view (its watches) shows each object as it was at some commit no later than the
//   moment the event was delivered. A fault the view shows unwanted is taken as unwanted from that
//   delivery on: never earlier than it really was.
// - Every change that can make a fault wanted again comes from the campaign's own writes: the holder's
//   targets (it plays the holder and writes them) and RUN signals. A pod only turns Running before its
//   targets are written, a finished run never restarts, and no timed pause is used. Each such write
//   opens a window, from the moment it was *sent* until the view has caught up with it (an event of the
//   written object at or past the resourceVersion a read right after the write returned), in which the
//   fault counts as possibly wanted whatever the view says.
// - A fault is seen in force at the moment its poll *started* (the reading reflects a later moment): a
//   table with at least one live element in its lease set (the kernel lists no expired one), a
//   freezer not THAWED, a stressor in the cgroup.
// So a fault seen in force more than its bound + LEASE_SLACK_MS after it was surely unwanted, with no
// view of it wanted and no open window since, is a fault that outlived what it promised. The bound is
// src/api/fault-holder.ts faultBoundSeconds: a network fault's lease; 1 s for a freeze or a stress,
// whose guard or stressor acts on the agent's death by its parent-death signal. The slack covers what
// happens after the agent's last look: an action it decided a moment before the change (its own watch
// may deliver a little after ours) is committed when its pass gets to it (a pass carries its actions
// out one call after another: a few hundred ms on a loaded machine), and a renewal lasts a whole lease
// from then.
//
// Node faults (nodeCordon, nodeDrain) are checked by the same rule with two differences. A cordon is
// also unwanted once its holder's recorded deadline (ANNOTATION_NODE_TARGETS) has passed, whatever the
// view shows: the cordoner's rules never want it after that (src/cordon/rules.ts). And a cordon is API
// state that only a controller process undoes: nothing ends it while every controller is down. So its
// time is counted only while a controller runs (the campaign records when it started each one, from its
// "controller started" line, and when it SIGKILLed it): a cordon is late when, within the stretch in
// which it was surely unwanted, one stretch with a controller running lasted longer than its bound +
// the slack. Its bound is CORDON_BOUND_SECONDS: one watch delivery and one pass of the cordoner (a read
// of the node, fresh reads of the holder and the run, a patch), or for a controller just started, its
// cordoner's two lists and that pass.
import { isFinal, type Phase } from '../src/api/types.ts';
import type { Violation } from './invariants.ts';

/** What the invariant allows beyond the lease: one renewal's decision-to-commit time (see above), generously. */
export const LEASE_SLACK_MS = 1000;
export const DEFAULT_LEASE_MS = 4000;
/** A cordon's bound with a controller running (see above); with the slack, 2 s. */
export const CORDON_BOUND_SECONDS = 1;

export interface HolderSeen {
  run: string;
  phase?: string;
  deleting: boolean;
  /** The target pods' uids its targets annotation names. */
  targets: string[];
  leaseSeconds?: number;
  /** A node fault's: when its targets' deadline passes (ms since the epoch): unwanted from then on. */
  deadline?: number;
  /** A node fault's: only a controller process ends it (its time counts only while one runs). */
  needsController?: boolean;
}

export interface RunSeen { signalState?: string; phase?: Phase }

/** The contract: is the holder's fault wanted on its targets, and if not, why not. */
export function holderWanted(h: HolderSeen | undefined, run: RunSeen | undefined): { wanted: boolean; why: string } {
  if (!h) return { wanted: false, why: 'holder gone' };
  if (h.deleting) return { wanted: false, why: 'holder being deleted' };
  if (h.phase !== 'Running') return { wanted: false, why: `holder ${h.phase ?? 'Pending'}` };
  if (!run) return { wanted: false, why: 'run gone' };
  if (run.signalState !== 'RUN') return { wanted: false, why: `run says ${run.signalState ?? 'nothing'}` };
  if (isFinal(run.phase)) return { wanted: false, why: `run ${run.phase}` };
  if (!h.targets.length) return { wanted: false, why: 'no targets recorded yet' };
  return { wanted: true, why: 'wanted' };
}

/** The view's verdict on a fault, from the moment an event was delivered. */
export interface Transition { at: number; wanted: boolean; why: string }
/** A write of the campaign's that may have made faults wanted: from its send until the view caught up (Infinity: never). */
export interface Window { from: number; until: number; what: string }

export interface FaultTimeline { holder: string; target: string; run: string; leaseSeconds: number; view: Transition[]; deadline?: number; needsController?: boolean }
/** A controller process running, from its start (its "controller started" line seen) until it was killed (Infinity: never). */
export interface Interval { from: number; until: number }

/** What the check needs: every fault's view, the windows by written object (pod:<uid>, run:<name>), the holders known, when a controller ran. */
export interface Timelines {
  faults: Map<string, FaultTimeline>;
  windows: Map<string, Window[]>;
  holders: Set<string>;
  controllerUp: Interval[];
}

export const faultOf = (holderUid: string, targetUid: string) => `${holderUid}/${targetUid}`;
export const podObject = (uid: string) => `pod:${uid}`;
export const runObject = (name: string) => `run:${name}`;

interface Pending { window: Window; rv: number }

/** Builds the timelines from the campaign's watch events (fed as they arrive, with their resourceVersion) and its own writes. */
export class WantedTimeline {
  readonly data: Timelines = { faults: new Map(), windows: new Map(), holders: new Set(), controllerUp: [] };
  private readonly holders = new Map<string, HolderSeen>();
  private readonly runs = new Map<string, RunSeen>();
  /** The newest resourceVersion the view shows of each object (Infinity once deleted). */
  private readonly seenRv = new Map<string, number>();
  private readonly pending = new Map<string, Pending[]>();

  /** A holder pod's add or update, or its deletion (`h` undefined). */
  holder(at: number, uid: string, h: HolderSeen | undefined, rv: string | undefined): void {
    this.data.holders.add(uid);
    if (h) this.holders.set(uid, h); else this.holders.delete(uid);
    this.recompute(at, uid);
    this.caughtUp(at, podObject(uid), h ? Number(rv) : Infinity);
  }

  run(at: number, name: string, r: RunSeen | undefined, rv: string | undefined): void {
    if (r) this.runs.set(name, r); else this.runs.delete(name);
    for (const [uid, h] of this.holders) if (h.run === name) this.recompute(at, uid);
    this.caughtUp(at, runObject(name), r ? Number(rv) : Infinity);
  }

  /**
   * The campaign sent, at `sentAt`, a write to `object` that may make faults wanted; `rvAfter` is the
   * object's resourceVersion read after the write's answer (undefined: it was gone). The window closes
   * when the view shows that version or a later one.
   */
  wrote(object: string, sentAt: number, rvAfter: string | undefined, what: string, now = Date.now()): void {
    const window: Window = { from: sentAt, until: Infinity, what };
    const list = this.data.windows.get(object) ?? [];
    list.push(window);
    this.data.windows.set(object, list);
    const rv = rvAfter === undefined ? Infinity : Number(rvAfter);
    if ((this.seenRv.get(object) ?? -1) >= rv) { window.until = now; return; }
    this.pending.set(object, [...(this.pending.get(object) ?? []), { window, rv }]);
  }

  /** A controller process is up from `at` (its start was seen). */
  controllerStarted(at: number): void { this.data.controllerUp.push({ from: at, until: Infinity }); }

  /** The running controller is about to be killed at `at`. */
  controllerKilled(at: number): void {
    const up = this.data.controllerUp.at(-1);
    if (up && up.until === Infinity) up.until = at;
  }

  private caughtUp(at: number, object: string, rv: number): void {
    this.seenRv.set(object, Math.max(this.seenRv.get(object) ?? -1, Number.isNaN(rv) ? -1 : rv));
    const open = this.pending.get(object);
    if (!open) return;
    const left = open.filter((p) => {
      if (rv < p.rv) return true;
      p.window.until = at;
      return false;
    });
    if (left.length) this.pending.set(object, left); else this.pending.delete(object);
  }

  private recompute(at: number, uid: string): void {
    const h = this.holders.get(uid);
    const { wanted, why } = holderWanted(h, h ? this.runs.get(h.run) : undefined);
    for (const t of h?.targets ?? []) {
      const key = faultOf(uid, t);
      if (!this.data.faults.has(key)) {
        this.data.faults.set(key, {
          holder: uid, target: t, run: h!.run, leaseSeconds: (h!.leaseSeconds ?? DEFAULT_LEASE_MS / 1000), view: [],
          ...(h!.needsController ? { needsController: true } : {}),
        });
      }
    }
    for (const f of this.data.faults.values()) {
      if (f.holder !== uid) continue;
      if (h?.leaseSeconds) f.leaseSeconds = h.leaseSeconds;
      if (h?.deadline !== undefined) f.deadline = h.deadline;
      const here = wanted && Boolean(h?.targets.includes(f.target));
      const last = f.view.at(-1);
      const reason = here || !wanted ? why : 'not among its holder\'s targets';
      if (last?.wanted !== here) f.view.push({ at, wanted: here, why: reason });
    }
  }
}

/**
 * A fault seen in force on target pod `target`, of holder `holder`, in a poll started at `at`; `where`
 * names it for reports (the network namespace and table, the frozen cgroup, the stressor's pid and cgroup).
 */
export interface InForce { at: number; where: string; target: string; holder: string }

/**
 * The moment from which the fault was surely unwanted up to `at`, and why; undefined when it may have
 * been wanted at `at` (the view said so, or a window of a write that may have made it so was open).
 */
export function unwantedSince(f: FaultTimeline, windows: Map<string, Window[]>, at: number): { at: number; why: string } | undefined {
  const byView = unwantedByView(f, windows, at);
  // Past its deadline a node fault is unwanted whatever the view or a window says (nothing wants it again).
  if (f.deadline === undefined || at < f.deadline || (byView && byView.at <= f.deadline)) return byView;
  return { at: f.deadline, why: `its deadline ${iso(f.deadline)} passed` };
}

function unwantedByView(f: FaultTimeline, windows: Map<string, Window[]>, at: number): { at: number; why: string } | undefined {
  const last = f.view.filter((t) => t.at <= at).at(-1);
  if (!last || last.wanted) return undefined;
  const mine = [...(windows.get(podObject(f.holder)) ?? []), ...(windows.get(runObject(f.run)) ?? [])];
  if (mine.some((w) => w.from <= at && at <= w.until)) return undefined;
  const closed = mine.filter((w) => w.until <= at && w.until > last.at).sort((a, b) => b.until - a.until)[0];
  return closed ? { at: closed.until, why: `${last.why}, once the view showed ${closed.what}` } : { at: last.at, why: last.why };
}

/** The longest part of [from, to] inside one interval of `up` (how long one controller ran while a cordon was unwanted). */
export function longestUp(up: readonly Interval[], from: number, to: number): number {
  return Math.max(0, ...up.map((u) => Math.min(u.until, to) - Math.max(u.from, from)));
}

/** How long a fault seen at `at`, surely unwanted since `since`, has had to end: for a node fault, only with a controller running. */
const countedMs = (f: FaultTimeline, timelines: Timelines, since: number, at: number) =>
  (f.needsController ? longestUp(timelines.controllerUp, since, at) : at - since);

/**
 * No fault in force later than its bound + slack after it was surely unwanted (one violation per fault
 * and episode, at its latest sighting), and none for a holder the campaign never saw, or on a target
 * its holder never named.
 */
export function faultEndsInTime(seen: readonly InForce[], timelines: Timelines, slackMs = LEASE_SLACK_MS): Violation[] {
  const out = new Map<string, { at: number; v: Violation }>();
  for (const s of seen) {
    const key = faultOf(s.holder, s.target);
    const f = timelines.faults.get(key);
    let id: string;
    let detail: string;
    if (!f) {
      // A sighting before the campaign's own targets write was even seen can only be of a holder it knows.
      const known = timelines.holders.has(s.holder) || timelines.windows.has(podObject(s.holder));
      if (known && (timelines.windows.get(podObject(s.holder)) ?? []).some((w) => w.from <= s.at && s.at <= w.until)) continue;
      id = `${key} never`;
      detail = known ? `in force at ${iso(s.at)} on a target its holder never named` : `in force at ${iso(s.at)}, but ${s.holder} is no holder of this campaign`;
    } else {
      const since = unwantedSince(f, timelines.windows, s.at);
      if (!since) continue;
      const counted = countedMs(f, timelines, since.at, s.at);
      if (counted - f.leaseSeconds * 1000 <= slackMs) continue;
      id = `${key} ${since.at}`;
      const up = f.needsController ? `, ${counted} ms of it with one controller running throughout` : '';
      detail = `in force at ${iso(s.at)}, ${s.at - since.at} ms after its fault was surely unwanted at ${iso(since.at)} (${since.why})${up}; bound: ${f.leaseSeconds} s + slack ${slackMs} ms`;
    }
    const prior = out.get(id);
    if (!prior || s.at > prior.at) out.set(id, { at: s.at, v: { invariant: 'faultEndsInTime', subject: `${s.where} (holder ${s.holder})`, detail } });
  }
  return [...out.values()].map((x) => x.v);
}

/**
 * For the trial's notes, not a check: per episode of a fault surely unwanted with a sighting in force
 * after it began, the latest such sighting (ms after it began; a node fault's: the longest stretch of
 * that with a controller running) and the fault's lease (ms).
 */
export function endLatencies(seen: readonly InForce[], timelines: Timelines): Array<{ afterMs: number; leaseMs: number }> {
  const latest = new Map<string, { afterMs: number; leaseMs: number }>();
  for (const s of seen) {
    const f = timelines.faults.get(faultOf(s.holder, s.target));
    const since = f && unwantedSince(f, timelines.windows, s.at);
    if (!since) continue;
    const key = `${faultOf(s.holder, s.target)} ${since.at}`;
    const afterMs = Math.max(latest.get(key)?.afterMs ?? 0, countedMs(f, timelines, since.at, s.at));
    latest.set(key, { afterMs, leaseMs: f.leaseSeconds * 1000 });
  }
  return [...latest.values()];
}

/** Something of a fault's still on the host or the API: what it is (a table, a frozen cgroup, a stressor, a freeze record, a cordon) and where. */
export interface LeftBehind { what: string; where: string }

/** A chaosrun_ table as LeftBehind. */
export const tableLeft = (t: { netns: string; id: string; leaseElements: number }): LeftBehind =>
  ({ what: `chaosrun_${t.id} (${t.leaseElements ? 'in force' : 'lease expired'})`, where: t.netns });

/**
 * After a trial, with an agent and a controller running again: nothing of ours left: no chaosrun_
 * table, in force or not, in any target namespace; no frozen target cgroup, no tagged stressor, no
 * freeze record; no target node unschedulable or marked.
 */
export function nothingLeftBehind(subject: string, left: readonly LeftBehind[], waitedMs: number): Violation[] {
  return left.map((t) => ({
    invariant: 'nothingLeftBehind' as const, subject,
    detail: `${t.what} still in ${t.where} ${waitedMs} ms after the trial ended with an agent and a controller running`,
  }));
}

/** A target node as the API shows it. */
export interface NodeSeen { name: string; unschedulable: boolean; labels: Record<string, string>; annotations: Record<string, string> }

/** What of a cordon a node carries: unschedulable, the cordoned-by label, the cordon and drain records (the keys passed in). */
export function cordonLeft(n: NodeSeen, keys: { label: string; annotations: readonly string[] }): LeftBehind[] {
  const out: LeftBehind[] = [];
  if (n.unschedulable) out.push({ what: 'spec.unschedulable', where: `node ${n.name}` });
  if (n.labels[keys.label] !== undefined) out.push({ what: `label ${keys.label}=${n.labels[keys.label]}`, where: `node ${n.name}` });
  for (const a of keys.annotations) if (n.annotations[a] !== undefined) out.push({ what: `annotation ${a}`, where: `node ${n.name}` });
  return out;
}

const iso = (t: number) => new Date(t).toISOString();
