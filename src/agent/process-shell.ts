// The imperative half of the process faults (process-faults.ts is the pure half): freezes, stressors
// and container signals on this node, and the records that let a restarted agent find its freezes.
//
// What bounds each fault when the agent dies, since only network faults have a kernel lease:
// - stress: each stressor is `setpriv --pdeathsig KILL stress-ng ... --timeout <the step's end>`, so
//   the kernel kills it when the agent's process dies (stress-ng's workers die with their parent), and
//   its own timeout ends it at the step's end even if the agent lives on but stops acting.
// - freeze: the freezer has no lease and a frozen cgroup stays FROZEN with no owner (it even defers a
//   SIGKILL until thawed). So the agent does not freeze a container itself: it starts a *guard* per
//   frozen container, a small shell under `setpriv --pdeathsig TERM` that writes FROZEN, then waits; it
//   thaws when the kernel tells it its parent died, when it is told to (TERM), or at the step's end by
//   its own timer. Before the guard starts, the agent writes a record of the freeze to its state
//   directory on the host (intent before effect), so an agent started again (the DaemonSet's kubelet
//   restarts it) thaws every recorded freeze whose step is not in force, even one whose guard was
//   SIGKILLed with it. Every thaw, and only a thaw of a recorded cgroup, is written by the agent too.
// - containerKill: a signal, nothing to undo.
// A `node: true` stress runs in a node-level cgroup the agent makes (/chaosrun-stress/<holder> in each
// resource hierarchy) and removes once its stressor is gone.
// The agent touches only what it recorded or started: a cgroup it has no record of is never thawed,
// a process without its tag is never killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.ts';
import { chargeDirs, chargeFiles, freezerOf, type CgroupLayout } from './containers.ts';
import { NODE_STRESS_CGROUP, stressArgs, type FoundProcessFault, type ProcessAction, type WantedProcessFault } from './process-faults.ts';

/** The environment variable that tags a stressor with its fault's key (how a restarted agent finds strays). */
export const STRESS_TAG = 'CHAOSRUN_STRESS';

interface FreezeRecord { key: string; file: string; thawed: string; pod: string; container: string; run: string }

// Both scripts first check that their parent is still the agent: setpriv sets the parent-death signal
// only once it runs, so an agent that died before that would never send it; then they leave at once.
const PARENT_CHECK = '[ "$PPID" = "$CHAOSRUN_AGENT_PID" ] || exit 98';

const GUARD = [
  PARENT_CHECK,
  'f=$1; frozen=$2; thawed=$3; seconds=$4; timer=',
  // Thaw on TERM (the agent's revert, or the kernel's parent-death signal), INT or HUP, then leave.
  'trap \'echo "$thawed" > "$f"; [ -n "$timer" ] && kill "$timer" 2>/dev/null; exit 0\' TERM INT HUP',
  'echo "$frozen" > "$f" || exit 3',
  // The timer dies with the guard (a guard SIGKILLed leaves no sleep behind).
  'setpriv --pdeathsig KILL -- sleep "$seconds" & timer=$!',
  'wait "$timer"',
  'echo "$thawed" > "$f"',
].join('\n');

// Joins the container's cgroups, then becomes stress-ng. The CPU and memory ones must take it (exit 97
// names the one that did not); pids, blkio and cpuset are joined where the kernel lets it, since a
// stressor left out of them still loads the container as asked.
const CHARGE = [
  PARENT_CHECK,
  'for f in $CHAOSRUN_CGROUPS; do echo $$ 2>/dev/null > "$f" || { echo "cannot join $f" >&2; exit 97; }; done',
  'for f in $CHAOSRUN_CGROUPS_OPTIONAL; do echo $$ 2>/dev/null > "$f" || echo "left out of $f" >&2; done',
  'exec "$@"',
].join('\n');
/** The hierarchies a stressor must join; the others it joins where it can. */
const REQUIRED = /\/(cpu|cpuacct|cpu,cpuacct|memory)\//;

export interface ProcessShellOptions {
  layout: CgroupLayout;
  /** Where freeze records are kept on the host (the chart mounts it from the node). */
  stateDir: string;
  log: Logger;
  /** Called when a child it started exits (a stressor that died while wanted is started again). */
  onExit?: () => void;
  stressNg?: string;
  setpriv?: string;
}

interface Child { proc: ChildProcess; startedAtMs: number; alive: boolean }

export class ProcessShell {
  private readonly guards = new Map<string, Child>();
  private readonly stressors = new Map<string, Child>();
  private readonly signalled = new Set<string>();
  /** Why a stressor last ended by itself, by key (reported `failing` while it is started again). */
  private readonly failures = new Map<string, string>();
  /** The node-level cgroups of `node: true` stressors, by key: removed when their stressor stops. */
  private readonly nodeLoads = new Map<string, string>();
  private readonly recordsDir: string;
  private readonly o: ProcessShellOptions;

  constructor(o: ProcessShellOptions) {
    this.o = o;
    this.recordsDir = join(o.stateDir, 'frozen');
  }

  /** What is here: the recorded freezes (with whether this agent's guard runs), its stressors, its signals. */
  found(): FoundProcessFault[] {
    const out: FoundProcessFault[] = [];
    for (const r of this.records()) out.push({ key: r.key, kind: 'freeze', alive: this.guards.get(r.key)?.alive ?? false });
    for (const [key, c] of this.stressors) out.push({ key, kind: 'stress', alive: c.alive, startedAtMs: c.startedAtMs });
    for (const key of this.signalled) out.push({ key, kind: 'containerKill', alive: true });
    return out;
  }

  /** Why the stressor of `key` is not running as asked, while it is not (its last exit), or undefined. */
  failureOf(key: string): string | undefined {
    return this.stressors.get(key)?.alive === false ? this.failures.get(key) : undefined;
  }

  /** Forgets what is no longer wanted and gone (dead stressors, signals of ended steps). */
  forget(wanted: WantedProcessFault[]): void {
    const keys = new Set(wanted.map((w) => w.key));
    for (const key of this.failures.keys()) if (!keys.has(key)) this.failures.delete(key);
    for (const [key, c] of this.stressors) if (!c.alive && !keys.has(key)) this.stressors.delete(key);
    for (const key of this.signalled) if (!keys.has(key)) this.signalled.delete(key);
  }

  /** Carries out one action; throws with a one-line reason when it fails. */
  async carryOut(a: ProcessAction): Promise<void> {
    switch (a.kind) {
      case 'thaw': return this.thaw(a.key);
      case 'stop': return this.stop(a.key);
      case 'freeze': return this.freeze(a.fault, a.guardSeconds);
      case 'start': return this.start(a.fault, a.timeoutSeconds);
      case 'signal': {
        try {
          process.kill(a.fault.initPid!, `SIG${a.signal}` as NodeJS.Signals);
        } catch (err) {
          // Already gone: the container ended by itself meanwhile, and the kubelet restarts it all the same.
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
        this.signalled.add(a.fault.key);
        this.o.log.info({ pod: `${a.fault.target.namespace}/${a.fault.target.pod}`, container: a.fault.target.container, pid: a.fault.initPid, signal: a.signal }, 'container signalled');
        return;
      }
      case 'refuse': return;
    }
  }

  private records(): FreezeRecord[] {
    let names: string[];
    try { names = readdirSync(this.recordsDir); } catch { return []; }
    const out: FreezeRecord[] = [];
    for (const n of names.filter((f) => f.endsWith('.json'))) {
      try { out.push(JSON.parse(readFileSync(join(this.recordsDir, n), 'utf8')) as FreezeRecord); } catch { /* half written: its freeze never started */ }
    }
    return out.filter((r) => typeof r.key === 'string' && typeof r.file === 'string' && typeof r.thawed === 'string');
  }

  private recordPath(key: string): string {
    return join(this.recordsDir, `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.json`);
  }

  private async freeze(w: WantedProcessFault, guardSeconds: number): Promise<void> {
    const freezer = freezerOf(this.o.layout, w.cgroupsPath);
    const record: FreezeRecord = { key: w.key, file: freezer.file, thawed: freezer.thawed, pod: `${w.target.namespace}/${w.target.pod}`, container: w.target.container, run: `${w.run.namespace}/${w.run.name}` };
    mkdirSync(this.recordsDir, { recursive: true });
    const path = this.recordPath(w.key);
    writeFileSync(`${path}.tmp`, JSON.stringify(record));
    renameSync(`${path}.tmp`, path);
    this.guards.get(w.key)?.proc.kill('SIGKILL');
    const proc = spawn(this.o.setpriv ?? 'setpriv', ['--pdeathsig', 'TERM', '--', 'sh', '-c', GUARD, 'chaosrun-freeze-guard', freezer.file, freezer.frozen, freezer.thawed, String(guardSeconds)], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CHAOSRUN_AGENT_PID: String(process.pid) },
    });
    const child: Child = { proc, startedAtMs: Date.now(), alive: true };
    this.guards.set(w.key, child);
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-500); });
    proc.on('exit', (code) => {
      child.alive = false;
      if (code) this.o.log.warn({ key: w.key, code, stderr: stderr.trim() }, 'freeze guard exited');
      this.o.onExit?.();
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (err) => { child.alive = false; reject(new Error(`cannot start the freeze guard (${this.o.setpriv ?? 'setpriv'}): ${err.message}`)); });
    });
    this.o.log.info({ pod: record.pod, container: w.target.container, run: record.run, step: w.step, kind: 'freeze' }, 'fault applied');
  }

  private async thaw(key: string): Promise<void> {
    const guard = this.guards.get(key);
    this.guards.delete(key);
    if (guard?.alive) guard.proc.kill('SIGTERM');
    const record = this.records().find((r) => r.key === key);
    if (record) {
      try {
        writeFileSync(record.file, record.thawed);
      } catch (err) {
        // The container (and its cgroup) is gone: nothing is frozen any more.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot thaw ${record.file}: ${(err as Error).message}`);
      }
      rmSync(this.recordPath(key), { force: true });
      this.o.log.info({ pod: record.pod, container: record.container, run: record.run }, 'fault reverted');
    }
  }

  private async start(w: WantedProcessFault, timeoutSeconds: number): Promise<void> {
    if (w.spec.kind !== 'stress') return;
    if (w.spec.node) this.nodeCgroups(w.cgroupsPath, 'make');
    const files = chargeFiles(this.o.layout, w.cgroupsPath);
    if (!files.length) throw new Error(`no cgroup of container ${w.target.container} of ${w.target.namespace}/${w.target.pod} under ${this.o.layout.root}`);
    this.stressors.get(w.key)?.proc.kill('SIGKILL');
    // stress-ng refuses to start without a writable --temp-path (default '.'); the agent's root is read
    // only, so it is a directory of the agent's state directory on the host (the CPU and VM stressors
    // write nothing there).
    const temp = join(this.o.stateDir, 'stress-tmp');
    mkdirSync(temp, { recursive: true });
    const proc = spawn(this.o.setpriv ?? 'setpriv', ['--pdeathsig', 'KILL', '--', 'sh', '-c', CHARGE, 'chaosrun-stress', this.o.stressNg ?? 'stress-ng', ...stressArgs(w.spec, timeoutSeconds), '--temp-path', temp], {
      cwd: temp,
      stdio: ['ignore', 'ignore', 'pipe'], env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [STRESS_TAG]: w.key, CHAOSRUN_AGENT_PID: String(process.pid),
        // On cgroup v2 the one cgroup.procs is the required one.
        CHAOSRUN_CGROUPS: files.filter((f) => this.o.layout.version === 2 || REQUIRED.test(f)).join(' '),
        CHAOSRUN_CGROUPS_OPTIONAL: files.filter((f) => this.o.layout.version === 1 && !REQUIRED.test(f)).join(' '),
      },
    });
    const child: Child = { proc, startedAtMs: Date.now(), alive: true };
    this.stressors.set(w.key, child);
    if (w.spec.node) this.nodeLoads.set(w.key, w.cgroupsPath);
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-500); });
    proc.on('exit', (code, signal) => {
      child.alive = false;
      if (code === 97) {
        const why = stderr.trim().split('\n').filter((l) => l.startsWith('cannot join')).pop() ?? 'cannot join the target\'s cgroups';
        this.failures.set(w.key, `stress-ng ${why}`);
        this.o.log.warn({ key: w.key, why }, 'stressor could not join the target\'s cgroups');
      } else if (code || (signal && signal !== 'SIGKILL')) {
        this.failures.set(w.key, `stress-ng exited (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`);
        this.o.log.warn({ key: w.key, code, signal, stderr: stderr.trim() }, 'stressor exited');
      }
      if (stderr.includes('left out of')) this.o.log.info({ key: w.key, stderr: stderr.trim() }, 'stressor left out of some of the target\'s cgroups');
      this.o.onExit?.();
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (err) => { child.alive = false; reject(new Error(`cannot start stress-ng: ${err.message}`)); });
    });
    this.o.log.info({ pod: `${w.target.namespace}/${w.target.pod}`, container: w.target.container, run: `${w.run.namespace}/${w.run.name}`, step: w.step, kind: 'stress', timeoutSeconds }, 'fault applied');
  }

  private async stop(key: string): Promise<void> {
    const c = this.stressors.get(key);
    if (!c) return;
    if (c.alive) {
      const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
      c.proc.kill('SIGKILL');
      await exited;
    }
    this.stressors.delete(key);
    const path = this.nodeLoads.get(key);
    if (path) {
      this.nodeLoads.delete(key);
      // Its workers die with it (their parent-death signal); the cgroup goes once they have.
      for (let i = 0; i < 20 && !this.nodeCgroups(path, 'remove'); i++) await new Promise((r) => setTimeout(r, 50));
      // And their parent once no other node load is in it (another's keeps it: ENOTEMPTY, left as it is).
      if ([...this.nodeLoads.values()].every((p) => dirname(p) !== dirname(path))) this.nodeCgroups(dirname(path), 'remove');
    }
    this.o.log.info({ key }, 'fault reverted');
  }

  /**
   * Removes the node-level stress cgroups an earlier agent left (its stressors died with it, their
   * cgroups did not). Only empty ones go: rmdir refuses a cgroup with a process in it, so another
   * agent's live load (tests run several on one host) is never touched. Returns how many went.
   */
  sweepNodeCgroups(): number {
    let n = 0;
    const parents = chargeDirs(this.o.layout, NODE_STRESS_CGROUP);
    for (const parent of parents) {
      let names: string[] = [];
      try { names = readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name); } catch { continue; }
      for (const name of names) { try { rmdirSync(join(parent, name)); n++; } catch { /* in use, or not a cgroup dir */ } }
      try { rmdirSync(parent); } catch { /* still in use */ }
    }
    return n;
  }

  /** Makes or removes a node-level stress cgroup in every resource hierarchy; remove says whether all went. */
  private nodeCgroups(path: string, what: 'make' | 'remove'): boolean {
    // Not cpuset: a new cpuset has no CPUs until it is given some, and a stressor could not join it.
    const dirs = chargeDirs(this.o.layout, path).filter((d) => !d.includes('/cpuset/'));
    let all = true;
    for (const d of dirs) {
      try { if (what === 'make') mkdirSync(d, { recursive: true }); else rmdirSync(d); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') all = false;
      }
    }
    return all;
  }

  /** Ends everything this agent holds (its SIGTERM): stressors killed, every recorded freeze thawed. */
  async stopAll(): Promise<number> {
    const keys = new Set([...this.stressors.keys()].filter((k) => this.stressors.get(k)!.alive));
    await Promise.all([...keys].map((k) => this.stop(k)));
    const records = this.records();
    for (const r of records) await this.thaw(r.key).catch((err: unknown) => this.o.log.error({ err, key: r.key }, 'thaw failed'));
    return keys.size + records.length;
  }
}

/**
 * Kills stressors a previous agent left (found by their tag in the host's /proc): their parent-death
 * signal should have ended them already; this is for a stressor whose signal was lost. Returns how many.
 */
export function killStrayStressors(proc: string, log: Logger): number {
  let n = 0;
  let pids: string[];
  try { pids = readdirSync(proc).filter((p) => /^\d+$/.test(p)); } catch { return 0; }
  for (const pid of pids) {
    let env: string;
    try { env = readFileSync(join(proc, pid, 'environ'), 'latin1'); } catch { continue; }
    if (!env.split('\0').some((e) => e.startsWith(`${STRESS_TAG}=`))) continue;
    // A stressor whose parent is an agent (another node's, in tests) or stress-ng (a worker) is not a stray.
    let parentComm = '';
    try {
      const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(join(proc, pid, 'status'), 'utf8'))?.[1];
      parentComm = ppid ? readFileSync(join(proc, ppid, 'comm'), 'utf8').trim() : '';
    } catch { /* the parent is gone: a stray */ }
    if (parentComm === 'node' || parentComm.startsWith('stress-ng')) continue;
    try { process.kill(Number(pid), 'SIGKILL'); n++; } catch { /* gone */ }
  }
  if (n) log.warn({ killed: n }, 'stressors left by an earlier agent killed');
  return n;
}
