// The containers on this node as the container runtime itself records them, for the process faults
// (freeze, stress, containerKill): which pod and container each task is, its cgroup and its main
// process. Read from containerd's task bundles (<state>/io.containerd.runtime.v2.task/k8s.io/<id>/):
// config.json is the OCI spec the runtime started the container with (the CRI plugin's annotations
// name the pod uid, the container's name and whether it is the sandbox; linux.cgroupsPath is its
// cgroup, whichever cgroup driver the kubelet uses), and init.pid is its main process in the host's
// PID namespace, the one containerd's own `task kill` signals. Node-local and level-triggered: no API
// call, and a container the kubelet restarts shows up as a new task with a new id at the next read.
//
// cgroupPaths turns a cgroupsPath into the directories of one container's cgroups: cgroup v1 (one
// directory per hierarchy: freezer, cpu, memory, ...) or the unified cgroup v2 tree; the systemd
// driver's "slice:prefix:name" form is expanded as runc expands it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ContainerOnNode {
  /** The runtime's container id (64 hex digits). */
  id: string;
  podUid: string;
  podNamespace?: string;
  podName?: string;
  /** The container's name in the pod spec; absent for the sandbox. */
  name?: string;
  sandbox: boolean;
  /** The OCI spec's linux.cgroupsPath. */
  cgroupsPath: string;
  /** The main process's pid in the host PID namespace; absent when the task has none (yet, or any more). */
  initPid?: number;
}

const CRI = 'io.kubernetes.cri.';

/** One task bundle's container, or undefined when it is not a Kubernetes container. Pure. */
export function parseBundle(id: string, config: unknown, initPid: string | undefined): ContainerOnNode | undefined {
  const c = config as { annotations?: Record<string, string>; linux?: { cgroupsPath?: string } } | undefined;
  const a = c?.annotations ?? {};
  const type = a[`${CRI}container-type`];
  const podUid = a[`${CRI}sandbox-uid`];
  const cgroupsPath = c?.linux?.cgroupsPath;
  if (!type || !podUid || typeof cgroupsPath !== 'string') return undefined;
  const pid = Number(initPid?.trim());
  return {
    id, podUid, sandbox: type === 'sandbox', cgroupsPath,
    ...(a[`${CRI}sandbox-namespace`] ? { podNamespace: a[`${CRI}sandbox-namespace`] } : {}),
    ...(a[`${CRI}sandbox-name`] ? { podName: a[`${CRI}sandbox-name`] } : {}),
    ...(type !== 'sandbox' && a[`${CRI}container-name`] ? { name: a[`${CRI}container-name`] } : {}),
    ...(Number.isInteger(pid) && pid > 0 ? { initPid: pid } : {}),
  };
}

/** Every Kubernetes container with a task on this node (a bundle half written is skipped until the next read). */
export function listContainers(tasksDir: string): ContainerOnNode[] {
  let ids: string[];
  try { ids = readdirSync(tasksDir); } catch { return []; }
  const out: ContainerOnNode[] = [];
  for (const id of ids) {
    let config: unknown;
    let pid: string | undefined;
    try { config = JSON.parse(readFileSync(join(tasksDir, id, 'config.json'), 'utf8')); } catch { continue; }
    try { pid = readFileSync(join(tasksDir, id, 'init.pid'), 'utf8'); } catch { /* not started, or gone */ }
    const c = parseBundle(id, config, pid);
    if (c) out.push(c);
  }
  return out;
}

/**
 * The cgroup a cgroupsPath names, relative to a hierarchy's root. cgroupfs: the path itself
 * (/kubepods/burstable/pod<uid>/<id>). systemd: "kubepods-burstable-pod<uid>.slice:cri-containerd:<id>",
 * which runc places at /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope.
 */
export function cgroupRelative(cgroupsPath: string): string {
  if (cgroupsPath.startsWith('/')) return cgroupsPath;
  const [slice, prefix, name] = cgroupsPath.split(':');
  if (!slice || !slice.endsWith('.slice') || name === undefined) throw new Error(`unreadable cgroupsPath ${JSON.stringify(cgroupsPath)}`);
  // Each dash-separated prefix of the slice's name is a parent slice: a-b-c.slice is under a.slice/a-b.slice.
  const parts = slice.slice(0, -'.slice'.length).split('-');
  const slices = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
  return `/${[...slices, `${prefix ? `${prefix}-` : ''}${name}.scope`].join('/')}`;
}

export interface CgroupLayout {
  /** Where the cgroup filesystems are mounted (/sys/fs/cgroup). */
  root: string;
  /** v1: one hierarchy per controller; v2: the unified tree at root. */
  version: 1 | 2;
}

/** This host's layout: cgroup v1 when a freezer hierarchy is mounted under root, else the unified v2 tree. */
export function cgroupLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  return { root, version: existsSync(join(root, 'freezer')) ? 1 : 2 };
}

/** The file that freezes a container, and what is written to it to freeze and to thaw. */
export function freezerOf(layout: CgroupLayout, cgroupsPath: string): { file: string; frozen: string; thawed: string } {
  const rel = cgroupRelative(cgroupsPath);
  return layout.version === 1
    ? { file: join(layout.root, 'freezer', rel, 'freezer.state'), frozen: 'FROZEN', thawed: 'THAWED' }
    : { file: join(layout.root, rel, 'cgroup.freeze'), frozen: '1', thawed: '0' };
}

/**
 * The cgroup.procs files a stressor is written into so that it is charged to the container: on v1 each
 * resource hierarchy the container has a directory in (never the freezer: a freeze of the target must
 * not freeze the stressor with it, nor a thaw of it be needed to stop one), on v2 the one directory.
 */
export function chargeFiles(layout: CgroupLayout, cgroupsPath: string): string[] {
  return chargeDirs(layout, cgroupsPath).map((d) => join(d, 'cgroup.procs')).filter((f) => existsSync(f));
}

/** The directories of chargeFiles, whether they exist or not (a node-level stress makes them). */
export function chargeDirs(layout: CgroupLayout, cgroupsPath: string): string[] {
  const rel = cgroupRelative(cgroupsPath);
  if (layout.version === 2) return [join(layout.root, rel)];
  let hierarchies: string[];
  try { hierarchies = readdirSync(layout.root); } catch { return []; }
  const resources = ['cpu', 'cpuacct', 'cpu,cpuacct', 'memory', 'pids', 'blkio', 'cpuset'];
  return hierarchies.filter((h) => resources.includes(h)).map((h) => join(layout.root, h, rel));
}
