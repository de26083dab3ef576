// Containers as the node agent's process faults see them, on this host without a kubelet: real
// processes in real cgroups (cgroup v1 hierarchies freezer, cpu, cpuacct, memory and pids, under a
// directory of the lab's own), and containerd task bundles naming them (config.json with the CRI
// annotations and linux.cgroupsPath, init.pid), which is all src/agent/containers.ts reads. The
// real node's tests (test/e2e/process-faults.test.ts) prove the same with containerd and the kubelet.
// What the agent did to them is read from the host, never from the agent: a freezer's state, the
// processes tagged as stressors (STRESS_TAG in their environment) in a container's cgroup or anywhere,
// the freeze records in the lab's state directory (the fault campaign's lasting trial and bench 10 read
// these). close() kills the lab's processes and removes its cgroups and bundles.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STRESS_TAG } from '../../src/agent/process-shell.ts';

const ROOT = '/sys/fs/cgroup';
const HIERARCHIES = ['freezer', 'cpu', 'cpuacct', 'memory', 'pids'];

/** Why the lab cannot run here (root and cgroup v1 with these hierarchies), or undefined. */
export function containerLabPrecondition(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to make cgroups';
  const missing = HIERARCHIES.filter((h) => !existsSync(join(ROOT, h, 'cgroup.procs')));
  return missing.length ? `needs the cgroup v1 hierarchies ${missing.join(', ')} under ${ROOT}` : undefined;
}

export interface LabContainer { id: string; podUid: string; name: string; cgroupsPath: string; proc: ChildProcess; pid: number }

/** A process tagged as a stressor: its pid and its tag's value (the fault's key, <holder id>/<container id>). */
export interface TaggedStressor { pid: number; key: string }

/** The stressor tag in /proc/<pid>/environ, or undefined (no such process, no tag). */
export function stressTagOf(pid: number | string): string | undefined {
  let env: string;
  try { env = readFileSync(`/proc/${pid}/environ`, 'latin1'); } catch { return undefined; }
  return env.split('\0').find((e) => e.startsWith(`${STRESS_TAG}=`))?.slice(STRESS_TAG.length + 1);
}

export class ContainerLab {
  readonly prefix = `chaosrun-lab-${randomBytes(3).toString('hex')}`;
  readonly tasksDir = mkdtempSync(join(tmpdir(), 'lab-tasks-'));
  readonly stateDir = mkdtempSync(join(tmpdir(), 'lab-state-'));
  private readonly containers: LabContainer[] = [];

  /** Starts `command` as container `name` of pod `podUid`, in cgroups of its own; limits as the kubelet would set them. */
  async add(podUid: string, name: string, command: string[], limits: { cpuQuotaUs?: number; memoryBytes?: number } = {}): Promise<LabContainer> {
    const id = randomBytes(32).toString('hex');
    const cgroupsPath = `/${this.prefix}/pod${podUid}/${id}`;
    for (const h of HIERARCHIES) mkdirSync(join(ROOT, h, cgroupsPath), { recursive: true });
    if (limits.cpuQuotaUs) writeFileSync(join(ROOT, 'cpu', cgroupsPath, 'cpu.cfs_quota_us'), String(limits.cpuQuotaUs));
    if (limits.memoryBytes) writeFileSync(join(ROOT, 'memory', cgroupsPath, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    const proc = spawn(command[0], command.slice(1), { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => { proc.once('spawn', () => resolve()); proc.once('error', reject); });
    const pid = proc.pid!;
    for (const h of HIERARCHIES) writeFileSync(join(ROOT, h, cgroupsPath, 'cgroup.procs'), String(pid));
    const bundle = join(this.tasksDir, id);
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': name,
        'io.kubernetes.cri.sandbox-uid': podUid, 'io.kubernetes.cri.sandbox-namespace': 'shop', 'io.kubernetes.cri.sandbox-name': `pod-${podUid.slice(0, 6)}`,
      },
      linux: { cgroupsPath },
    }));
    writeFileSync(join(bundle, 'init.pid'), String(pid));
    const c = { id, podUid, name, cgroupsPath, proc, pid };
    this.containers.push(c);
    return c;
  }

  /** The container's task ends as containerd ends it: its bundle goes. */
  removeTask(c: LabContainer): void {
    rmSync(join(this.tasksDir, c.id), { recursive: true, force: true });
  }

  read(c: LabContainer, hierarchy: string, file: string): string {
    return readFileSync(join(ROOT, hierarchy, c.cgroupsPath, file), 'utf8').trim();
  }

  freezerState(c: LabContainer): string { return this.read(c, 'freezer', 'freezer.state'); }
  /** CPU time used by the container's cgroup so far, in nanoseconds. */
  cpuUsageNs(c: LabContainer): number { return Number(this.read(c, 'cpuacct', 'cpuacct.usage')); }
  memoryUsage(c: LabContainer): number { return Number(this.read(c, 'memory', 'memory.usage_in_bytes')); }
  /** The cgroup's OOM kills so far (memory.oom_control's oom_kill line). */
  oomKills(c: LabContainer): number { return Number(/oom_kill (\d+)/.exec(this.read(c, 'memory', 'memory.oom_control'))?.[1] ?? 0); }
  pids(c: LabContainer): number[] { return this.read(c, 'pids', 'cgroup.procs').split('\n').filter(Boolean).map(Number); }

  /** The containers made so far. */
  list(): readonly LabContainer[] { return this.containers; }

  /** The tagged stressors charged to the container's cgroup (the pids hierarchy, which each stressor joins). */
  stressorsIn(c: LabContainer): TaggedStressor[] {
    let pids: number[];
    try { pids = this.pids(c); } catch { return []; }
    return pids.filter((p) => p !== c.pid).flatMap((pid) => { const key = stressTagOf(pid); return key ? [{ pid, key }] : []; });
  }

  /** Every tagged stressor on the host whose tag names one of the lab's containers, in its cgroup or not. */
  strayStressors(): TaggedStressor[] {
    const ids = new Set(this.containers.map((c) => c.id));
    return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
      const key = stressTagOf(p);
      return key && ids.has(key.split('/').at(-1)!) ? [{ pid: Number(p), key }] : [];
    });
  }

  /** The keys of the freeze records an agent keeps in the lab's state directory (<holder id>/<container id>). */
  freezeRecords(): string[] {
    const dir = join(this.stateDir, 'frozen');
    let names: string[];
    try { names = readdirSync(dir); } catch { return []; }
    return names.filter((n) => n.endsWith('.json')).flatMap((n) => {
      try { return [String((JSON.parse(readFileSync(join(dir, n), 'utf8')) as { key?: unknown }).key)]; } catch { return [`${n} (unreadable)`]; }
    });
  }

  close(): void {
    for (const c of this.containers) {
      // A frozen process dies only once thawed.
      try { writeFileSync(join(ROOT, 'freezer', c.cgroupsPath, 'freezer.state'), 'THAWED'); } catch { /* gone */ }
      for (const h of HIERARCHIES) {
        try { for (const p of readFileSync(join(ROOT, h, c.cgroupsPath, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
      }
    }
    const deadline = Date.now() + 5000;
    for (const c of this.containers) {
      for (const h of HIERARCHIES) {
        for (const dir of [join(ROOT, h, c.cgroupsPath), join(ROOT, h, this.prefix, `pod${c.podUid}`)]) {
          while (existsSync(dir)) {
            try { rmdirSync(dir); } catch { if (Date.now() > deadline) break; }
          }
        }
      }
    }
    for (const h of HIERARCHIES) { try { rmdirSync(join(ROOT, h, this.prefix)); } catch { /* busy or gone */ } }
    rmSync(this.tasksDir, { recursive: true, force: true });
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
