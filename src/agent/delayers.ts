// The delayers: one chaosrun-delayer process (agent/delayer/) per delay fault in force on this node,
// started inside the target's network namespace, holding the packets its fault's rule queues.
// planNode knows nothing of processes; this module is the rest of the delay: a pure plan
// (delayersWanted: which to start, which to stop, when to try again) and the shell that carries it
// out (Delayers: spawns, watches and stops the children).
//
// Invariants:
// - At most one delayer per fault key (network namespace + id), started as
//   `nsenter --net=<netns> -- chaosrun-delayer --queue N --latency <us>us --jitter <us>us --parent-pid <agent>`;
//   nsenter execs it, so its parent is this process, and it sets its own parent-death signal and
//   checks that parent: an agent that dies, however it dies, takes its delayers with it. A restarted
//   agent therefore finds no child of the last one, and starts its own.
// - A delayer that exits while its fault is in force is started again: at once the first time, then
//   after 250 ms, 500 ms, ... up to 10 s while it keeps dying within 10 s of its start. Meanwhile the
//   rule's bypass lets the packets through undelayed: a dead delayer fails open.
// - One whose fault is no longer in force (reverted, refused, changed) is sent SIGTERM (it releases
//   what it holds and exits), SIGKILL 2 s later if it is still there. The shell reverts the table
//   first, so nothing is queued any more by then.
// - The lease is the rule's, not the delayer's: with the agent gone, its delayers die at once and the
//   rules pass packets by bypass until the kernel expires the lease.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.ts';
import { faultKey, normalAction, queueNumber, validateFault, type WantedFault } from './fault.ts';

/** A delayer a fault in force needs: where, which queue, and its arguments (besides --parent-pid). */
export interface DelayerWant { key: string; id: string; netns: string; queue: number; args: string[] }

/** What the shell has running (or starting) now. */
export interface RunningDelayer { key: string; args: string[] }

/** A key's recent exits: how many in a row died within QUICK_EXIT_MS of their start, and when the last did. */
export interface DelayerExits { count: number; lastAt: number }

export interface DelayerPlan {
  start: DelayerWant[];
  /** Keys of the delayers to stop (not wanted, or wanted with other arguments: started again after). */
  stop: string[];
  /** When a delayer held back after exits may be started (absent: none held back). */
  wakeInMs?: number;
}

/** A delayer that ran at least this long before it exited starts its backoff over. */
export const QUICK_EXIT_MS = 10_000;

/** How long after its latest exit a delayer that exited `count` times in a row is started again. */
export const restartBackoffMs = (count: number): number => (count <= 1 ? 0 : Math.min(10_000, 250 * 2 ** (count - 2)));

/** The delayer a wanted fault needs, or undefined when it is not a (valid) delay. */
export function delayerOf(w: WantedFault): DelayerWant | undefined {
  if (validateFault(w)) return undefined;
  const a = normalAction(w.action);
  if (a.kind !== 'delay') return undefined;
  const queue = queueNumber(w.id);
  return {
    key: faultKey(w.target.netns, w.id), id: w.id, netns: w.target.netns, queue,
    args: ['--queue', String(queue), '--latency', `${a.latencyUs}us`, '--jitter', `${a.jitterUs}us`],
  };
}

const sameArgs = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Which delayers to start and stop so that exactly the delay faults in force have one each, with the
 * arguments their specs give; a key that exited recently waits out its backoff.
 */
export function delayersWanted(inForce: WantedFault[], running: RunningDelayer[], exits: ReadonlyMap<string, DelayerExits>, now: number): DelayerPlan {
  const want = new Map<string, DelayerWant>();
  for (const w of inForce) {
    const d = delayerOf(w);
    if (d && !want.has(d.key)) want.set(d.key, d);
  }
  const have = new Map(running.map((r) => [r.key, r]));
  const stop = running.filter((r) => !want.has(r.key) || !sameArgs(want.get(r.key)!.args, r.args)).map((r) => r.key).sort();
  const start: DelayerWant[] = [];
  let wake: number | undefined;
  for (const d of [...want.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const r = have.get(d.key);
    if (r && sameArgs(r.args, d.args)) continue;
    const e = exits.get(d.key);
    const due = e ? e.lastAt + restartBackoffMs(e.count) : now;
    if (due > now) { wake = Math.min(wake ?? Infinity, due - now); continue; }
    start.push(d);
  }
  return { start, stop, ...(wake === undefined ? {} : { wakeInMs: wake }) };
}

// --- the shell -----------------------------------------------------------------------------------------

export interface DelayersOptions {
  /** The chaosrun-delayer binary (a path, or a name on PATH). */
  binary: string;
  log: Logger;
  /** Called when a delayer exits by itself (the agent runs a pass, which starts it again). */
  onExit?: () => void;
}

interface Child {
  child: ChildProcess;
  want: DelayerWant;
  startedAt: number;
  ready: boolean;
  stopping: boolean;
  exited: Promise<void>;
}

const STOP_GRACE_MS = 2000;

export class Delayers {
  private readonly opts: DelayersOptions;
  private readonly children = new Map<string, Child>();
  private readonly exits = new Map<string, DelayerExits>();

  constructor(opts: DelayersOptions) { this.opts = opts; }

  /** What is running (or starting) now. */
  running(): RunningDelayer[] {
    return [...this.children.values()].filter((c) => !c.stopping).map((c) => ({ key: c.want.key, args: c.want.args }));
  }

  /** The delayer of a key: its pid and whether it has bound its queue (for logs and tests). */
  state(key: string): { pid?: number; ready: boolean } | undefined {
    const c = this.children.get(key);
    return c && !c.stopping ? { pid: c.child.pid, ready: c.ready } : undefined;
  }

  /** Starts and stops delayers so the delay faults in force have exactly one each; returns when to come back. */
  async sync(inForce: WantedFault[], now = Date.now()): Promise<{ wakeInMs?: number }> {
    const plan = delayersWanted(inForce, this.running(), this.exits, now);
    await Promise.all(plan.stop.map((key) => this.stop(key)));
    for (const d of plan.start) this.start(d);
    // Exits of keys no longer wanted are forgotten: a fault wanted again later starts without a wait.
    const wanted = new Set(inForce.map((w) => faultKey(w.target.netns, w.id)));
    for (const key of this.exits.keys()) if (!wanted.has(key)) this.exits.delete(key);
    return plan.wakeInMs === undefined ? {} : { wakeInMs: plan.wakeInMs };
  }

  /** Stops every delayer (the agent's SIGTERM, after its tables are reverted). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((key) => this.stop(key)));
  }

  private start(d: DelayerWant): void {
    const { log } = this.opts;
    const child = spawn('nsenter', [`--net=${d.netns}`, '--', this.opts.binary, ...d.args, '--parent-pid', String(process.pid)],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let resolveExited: () => void = () => {};
    const c: Child = { child, want: d, startedAt: Date.now(), ready: false, stopping: false, exited: new Promise((r) => { resolveExited = r; }) };
    this.children.set(d.key, c);
    const where = { netns: d.netns, id: d.id, queue: d.queue, pid: child.pid };
    let lastLine = '';
    let buf = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      buf += text;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        if (/ holding queue \d+/.test(line)) { c.ready = true; log.info(where, line); continue; }
        lastLine = line;
        log.debug(where, line);
      }
    });
    let done = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
      if (done) return;
      done = true;
      if (this.children.get(d.key) === c) this.children.delete(d.key);
      resolveExited();
      if (c.stopping) { log.info({ ...where, code, signal }, lastLine || `delayer stopped (${signal ?? `exit ${code}`})`); return; }
      const now = Date.now();
      const prev = this.exits.get(d.key);
      const count = prev && now - c.startedAt < QUICK_EXIT_MS ? prev.count + 1 : 1;
      this.exits.set(d.key, { count, lastAt: now });
      log.warn({ ...where, code, signal, err, exits: count, restartInMs: restartBackoffMs(count) },
        `delayer exited (${signal ?? `exit ${code}`}): ${lastLine || err?.message || 'no message'}`);
      this.opts.onExit?.();
    };
    child.on('exit', (code, signal) => onEnd(code, signal));
    child.on('error', (err) => onEnd(null, null, err));
  }

  private stop(key: string): Promise<void> {
    const c = this.children.get(key);
    if (!c) return Promise.resolve();
    c.stopping = true;
    c.child.kill('SIGTERM');
    const killer = setTimeout(() => c.child.kill('SIGKILL'), STOP_GRACE_MS);
    return c.exited.finally(() => clearTimeout(killer));
  }
}
