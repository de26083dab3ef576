// What a lasting-fault trial (faults/trials/lasting.ts) or bench section (bench/scenarios/lasting.ts)
// needs on this host besides a control plane: target sandboxes, the node agent as a process, the nft
// state of the sandboxes, and holder pods as src/api/fault-holder.ts describes them.
//
// - Sandboxes: no real pod is involved (test/e2e proves that part on the real node). Each target's
//   sandbox is a real network namespace, and the agent finds it through a stand-in of the host's
//   /proc, as test/agent/agent-shell.test.ts does: one "pause" process per target pod, whose cmdline is
//   /pause, whose cgroup names the pod's uid, and whose ns/net links to the namespace. The namespaces
//   are made as `ip netns add` makes them (a new namespace bind-mounted on a file: `unshare
//   --net=FILE`) but on files in a directory of their own, not in /run/netns: the real node's host
//   cleanup (src/realnode/host.ts) unmounts every mount under /run/netns, which ended a campaign's
//   namespaces mid-trial when another session stopped its real node. Their names carry the caller's
//   prefix and a random suffix.
// - The agent: `chaosrun agent --node N --proc DIR` as a child process (SIGKILLed and started again by
//   the callers), its output kept for reading and, optionally, appended to a log file. For the process
//   faults (freeze, stress) it is given a test/helpers/container-lab.ts lab's task bundles and state
//   directory (--containerd-tasks, --state-dir).
// - nft state: tablesIn() lists the chaosrun_ tables of a namespace with the number of live elements
//   in each lease set (the kernel lists no expired element, while nft's `expires` rounds down to whole
//   seconds and reads 0 for the last second of a live one, so the count is what says "in force"), and
//   NftMonitor streams `nft monitor` events with the time they arrived, for latencies without polling.
// Everything made here is removed by close()/stop(); processes are ended by their own pid only.
import { containerLabPrecondition } from '../test/helpers/container-lab.ts';
import { addPauseProcess } from '../test/helpers/node-lab.ts';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT, type FaultSpec, type FaultTargetRef } from '../src/api/fault-holder.ts';
import { idOfTable } from '../src/agent/fault.ts';
import { nftIn } from '../src/agent/nft.ts';

/** Why lasting faults cannot be exercised here (not root, a tool missing), or undefined when they can. */
export function lastingPrecondition(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and run nft in them';
  for (const tool of ['unshare', 'nft', 'nsenter']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (not found)`; }
  }
  return undefined;
}

/** Why freeze and stress cannot be held here (no cgroup v1 lab, no stress-ng or setpriv), or undefined when they can. */
export function processFaultPrecondition(): string | undefined {
  const why = containerLabPrecondition();
  if (why) return why;
  for (const tool of ['stress-ng', 'setpriv']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (not found)`; }
  }
  return undefined;
}

export interface Sandbox {
  /** The target pod's uid, as the holder's targets name it. */
  uid: string;
  /** A name for reports (<prefix>-<random>-<i>), and the file the namespace is mounted on (what the agent enters). */
  name: string;
  netns: string;
}

/** Real network namespaces behind a stand-in /proc, one per target pod uid. */
export class Sandboxes {
  readonly dir: string;
  readonly proc: string;
  readonly list: Sandbox[] = [];
  private nextPid = 4000;

  private constructor(dir: string) {
    this.dir = dir;
    this.proc = join(dir, 'proc');
    mkdirSync(join(dir, 'netns'), { recursive: true });
  }

  /** `prefix` (a few letters) names the namespaces: <prefix>-<random>-<i>. */
  static create(prefix: string, uids: readonly string[]): Sandboxes {
    const s = new Sandboxes(mkdtempSync(join(tmpdir(), `${prefix}-sandboxes-`)));
    const tag = randomBytes(3).toString('hex');
    try {
      for (const [i, uid] of uids.entries()) s.add(uid, `${prefix}-${tag}-${i}`);
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  private add(uid: string, name: string): void {
    const netns = join(this.dir, 'netns', name);
    writeFileSync(netns, '');
    execFileSync('unshare', [`--net=${netns}`, 'true']);
    this.list.push({ uid, name, netns });
    addPauseProcess(this.proc, this.nextPid++, uid, netns, `0::/kubepods/besteffort/pod${uid}/${randomBytes(6).toString('hex')}`);
  }

  byUid(uid: string): Sandbox | undefined { return this.list.find((s) => s.uid === uid); }

  /** Unmounts the namespaces (they end with their last user, and every table in them) and removes the directory. */
  close(): void {
    for (const s of this.list) {
      try { execFileSync('umount', [s.netns], { stdio: 'ignore' }); } catch {
        try { execFileSync('umount', ['-l', s.netns], { stdio: 'ignore' }); } catch { /* not mounted any more */ }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A chaosrun_ table in one namespace and the live elements of its lease set (0: every one expired). */
export interface TableSeen { id: string; netns: string; leaseElements: number }

/** The chaosrun_ tables of one namespace, from one `nft -j list ruleset`. */
export async function tablesIn(netns: string): Promise<TableSeen[]> {
  return tablesFromRuleset(netns, await nftIn(netns, ['-j', 'list', 'ruleset']));
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pure half of tablesIn: nft's JSON ruleset to our tables and their live lease elements. */
export function tablesFromRuleset(netns: string, json: string): TableSeen[] {
  const doc = JSON.parse(json) as unknown;
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables.filter(isObj) : [];
  const tables = new Map<string, TableSeen>();
  for (const item of items) {
    const t = item.table;
    if (!isObj(t) || t.family !== 'inet' || typeof t.name !== 'string') continue;
    const id = idOfTable(t.name);
    if (id) tables.set(t.name, { id, netns, leaseElements: 0 });
  }
  for (const item of items) {
    const s = item.set;
    if (!isObj(s) || s.family !== 'inet' || s.name !== 'lease' || typeof s.table !== 'string') continue;
    const t = tables.get(s.table);
    if (t) t.leaseElements = Array.isArray(s.elem) ? s.elem.length : 0;
  }
  return [...tables.values()];
}

/** One event of `nft monitor` about a chaosrun_ table, with when this process read it. */
export interface NftEvent { at: number; netns: string; id: string; kind: 'add-table' | 'delete-table' | 'lease-element' }

const MONITOR_LINE = /^(add|delete) (table|element) inet chaosrun_(\S+)(?: lease)?/;

/** The events of one `nft monitor` output line, if it is about one of our tables. */
export function parseMonitorLine(line: string, netns: string, at: number): NftEvent | undefined {
  const m = MONITOR_LINE.exec(line);
  if (!m || !idOfTable(`chaosrun_${m[3]}`)) return undefined;
  if (m[2] === 'table') return { at, netns, id: m[3], kind: m[1] === 'add' ? 'add-table' : 'delete-table' };
  // A renewal deletes and adds the element in one transaction; the add is the renewal.
  return m[1] === 'add' ? { at, netns, id: m[3], kind: 'lease-element' } : undefined;
}

interface EventWaiter { test: (e: NftEvent) => boolean; done: (at: number) => void }

/**
 * `nft monitor` in each of some namespaces, as child processes: every event about a chaosrun_ table,
 * timestamped (performance.now()) when its line arrives. A wait is registered before the action it
 * times, so an event that beats the action's answer is not missed.
 */
export class NftMonitor {
  readonly events: NftEvent[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly waiters = new Set<EventWaiter>();

  static async start(netnses: readonly string[]): Promise<NftMonitor> {
    const m = new NftMonitor();
    await Promise.all(netnses.map((n) => m.startOne(n)));
    return m;
  }

  private async startOne(netns: string): Promise<void> {
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.children.push(child);
    let rest = '';
    let probed: (() => void) | undefined;
    const probe = `benchprobe_${randomBytes(3).toString('hex')}`;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const at = performance.now();
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (probed && line.startsWith(`add table inet ${probe}`)) probed();
        const e = parseMonitorLine(line, netns, at);
        if (!e) continue;
        this.events.push(e);
        for (const w of this.waiters) if (w.test(e)) w.done(at);
      }
    });
    // Ready once it reports a throwaway table of its own (not a chaosrun_ one: the agent's are not ours to touch).
    const ready = new Promise<void>((resolve) => { probed = resolve; });
    const deadline = Date.now() + 10_000;
    for (;;) {
      await nftIn(netns, ['-f', '-'], `table inet ${probe} {}\ndelete table inet ${probe}\n`);
      const seen = await Promise.race([ready.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
      if (seen) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nft monitor in ${netns} did not start`);
    }
  }

  /** Resolves with the time of the next event that passes `test` (or rejects after timeoutMs). */
  next(test: (e: NftEvent) => boolean, timeoutMs: number, what: string | (() => string)): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${typeof what === 'string' ? what : what()}`));
      }, timeoutMs);
      const w: EventWaiter = { test, done: (at) => { clearTimeout(timer); this.waiters.delete(w); resolve(at); } };
      this.waiters.add(w);
    });
  }

  /** Resolves with the time of the event after which every one of `keys` (netns + id) has had a `kind` event. */
  all(kind: NftEvent['kind'], keys: ReadonlyArray<{ netns: string; id: string }>, timeoutMs: number, what: string): Promise<number> {
    const left = new Set(keys.map((k) => `${k.netns} ${k.id}`));
    if (left.size === 0) return Promise.resolve(performance.now());
    return this.next((e) => e.kind === kind && left.delete(`${e.netns} ${e.id}`) && left.size === 0, timeoutMs, () => `${what} (${left.size} of ${keys.length} never did)`);
  }

  stop(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
}

export interface AgentOptions {
  /** The CLI to run: src/cli.ts (type-stripped) or the built dist/cli.js. */
  cli: string;
  kubeconfig: string;
  node: string;
  proc: string;
  /** Appends the agent's output here too. */
  logFile?: string;
  /** Where it watches the kill-switch record (--operator-namespace); absent: as the agent decides (POD_NAMESPACE, else none). */
  operatorNamespace?: string;
  /** For freeze and stress: where the containers' task bundles are and where the agent keeps its freeze records. */
  processFaults?: { containerdTasks: string; stateDir: string };
}

/** `chaosrun agent` as a child process that can be SIGKILLed and started again. */
export class AgentProcess {
  private child: ChildProcess | undefined;
  private out = '';
  private readonly opts: AgentOptions;
  /** Starts so far (1 after the first). */
  starts = 0;

  constructor(opts: AgentOptions) { this.opts = opts; }

  get alive(): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null; }

  /** Everything the agent processes wrote so far (the last 4 MB). */
  output(): string { return this.out; }

  /** Starts it and resolves once its watches have synced ('node agent started'). */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.alive) return;
    const child = spawn(process.execPath, [this.opts.cli, 'agent', '--kubeconfig', this.opts.kubeconfig, '--node', this.opts.node,
      '--proc', this.opts.proc, '--metrics-port', '0', '--log-level', 'info',
      ...(this.opts.operatorNamespace ? ['--operator-namespace', this.opts.operatorNamespace] : []),
      ...(this.opts.processFaults ? ['--containerd-tasks', this.opts.processFaults.containerdTasks, '--state-dir', this.opts.processFaults.stateDir] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    let head = '';
    let started = false;
    const keep = (d: Buffer) => {
      const text = d.toString();
      this.out = (this.out + text).slice(-4_000_000);
      if (!started) { head += text; started = head.includes('"node agent started"'); }
      if (this.opts.logFile) appendFileSync(this.opts.logFile, text);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    while (!started) {
      if (child.exitCode !== null) throw new Error(`the agent exited (code ${child.exitCode}) before it started:\n${head.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`the agent did not start within ${timeoutMs / 1000}s:\n${head.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends `signal` and resolves once the process has exited. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill(signal); });
  }
}

/** A holder pod as a lasting-fault step's Job would make it, placed on `nodeName` (a kwok node: it reports it Running). */
export function holderPod(name: string, run: string, step: string, spec: FaultSpec, nodeName: string, targets?: FaultTargetRef[]) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name,
      labels: { [LABEL_FAULT]: spec.kind, 'chaosrun.dev/run': run, 'chaosrun.dev/step': step },
      annotations: { [ANNOTATION_FAULT]: JSON.stringify(spec), ...(targets ? { [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) } : {}) },
    },
    spec: {
      nodeName, containers: [{ name: 'holder', image: 'busybox' }],
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
    },
  };
}

/** The merge patch a holder writes on its own pod once it has picked its targets. */
export const targetsPatch = (targets: FaultTargetRef[]) => ({ metadata: { annotations: { [ANNOTATION_FAULT_TARGETS]: JSON.stringify(targets) } } });
