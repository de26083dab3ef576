// The host state a real node creates, in one place: where it lives, what it records before it
// changes anything, and how all of it is removed again.
//
// A real node is not contained in the plane's directory the way etcd or kwok are: containerd, runc and
// the kubelet mount filesystems, create network namespaces, a bridge, iptables chains and cgroups, and
// flip a few sysctls. So there is one real node per machine (a record in /run/chaosrun-node says whose),
// everything it may create is listed here, and `removeHostState` undoes it. It is written to work
// after a run that was SIGKILLed without cleaning up (CI starts right after everything a session left
// running is ended): it reads what is on the host, not what a previous process remembered.
//
// Network: pods live in 198.18.0.0/24 on the bridge crun0 and Services in 198.19.0.0/24, both inside
// 198.18.0.0/15, the range RFC 2544 reserves for benchmark tests, so nothing real is ever shadowed.
// A FORWARD guard drops any pod traffic that would leave that range: pods reach the host and each
// other, never another network.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, rmdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pidAlive } from '../local/pid.ts';

export type Log = (msg: string) => void;

export const NODE_NAME = 'real-node-0';
export const BRIDGE = 'crun0';
export const POD_CIDR = '198.18.0.0/24';
export const NODE_IP = '198.18.0.1';
export const SERVICE_CIDR = '198.19.0.0/24';
/** The first Service IP (the `kubernetes` Service), which the API server's certificate must name. */
export const SERVICE_API_IP = '198.19.0.1';
const TEST_RANGE = '198.18.0.0/15';
/** Pods choose the real node with this label and toleration; a pod with no choice lands on kwok. */
export const NODE_LABEL = { key: 'chaosrun.dev/node', value: 'real' } as const;
export const NODE_TAINT = { key: 'chaosrun.dev/real-node', value: 'true', effect: 'NoSchedule' } as const;

export const hostPaths = {
  lib: '/var/lib/chaosrun-node',
  run: '/run/chaosrun-node',
  podLogs: '/var/log/chaosrun-pods',
};
export const containerdSocket = join(hostPaths.run, 'containerd.sock');
/** containerd's task bundles of the CRI namespace on the real node (its `state` is under hostPaths.run). */
export const containerdTasks = join(hostPaths.run, 'containerd/io.containerd.runtime.v2.task/k8s.io');
/** Where the real node's agent records its freezes: under hostPaths.run, which the teardown removes. */
export const agentStateDir = join(hostPaths.run, 'chaosrun-agent');
const ownerFile = join(hostPaths.run, 'owner.json');
const snapshotFile = '/var/lib/chaosrun-node.host-snapshot.json';

/**
 * Paths that containerd 1.6, runc, the CNI plugins or the kubelet may create outside the directories
 * above whatever they are configured with (shim sockets, network namespaces, kubelet defaults). Each
 * is removed at teardown only if it did not exist before the node first started.
 */
const strayPaths = ['/run/containerd', '/var/run/netns', '/var/lib/kubelet', '/var/log/pods', '/var/log/containers',
  '/etc/kubernetes', '/var/lib/cni', '/run/runc', '/run/containerd-shim'];
/** Sysctls the node changes: ours (ip_forward) and the kubelet's kernel tunables. Restored at teardown. */
const sysctls = ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables', 'net/ipv4/conf/all/route_localnet',
  'vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes'];

interface HostSnapshot { absent: string[]; sysctls: Record<string, string> }
export interface NodeOwner { clusterDir: string; pids: Record<string, number> }


export function readOwner(): NodeOwner | undefined {
  try { return JSON.parse(readFileSync(ownerFile, 'utf8')) as NodeOwner; } catch { return undefined; }
}

export function writeOwner(owner: NodeOwner): void {
  mkdirSync(hostPaths.run, { recursive: true });
  writeFileSync(ownerFile, JSON.stringify(owner, null, 2));
}

/** Is a real node of another plane alive on this machine? */
export function liveOwnerOtherThan(clusterDir: string): NodeOwner | undefined {
  const owner = readOwner();
  if (!owner || owner.clusterDir === clusterDir) return undefined;
  return Object.values(owner.pids).some(pidAlive) ? owner : undefined;
}

/**
 * Records, once per clean host, which stray paths are absent and the sysctls' values, so teardown
 * restores exactly that. A snapshot left by a killed run is kept: it describes the host before that run.
 */
export function snapshotHost(): void {
  if (existsSync(snapshotFile)) return;
  const snap: HostSnapshot = { absent: strayPaths.filter((p) => !existsSync(p)), sysctls: {} };
  for (const s of sysctls) {
    try { snap.sysctls[s] = readFileSync(join('/proc/sys', s), 'utf8').trim(); } catch { /* not on this kernel */ }
  }
  writeFileSync(snapshotFile, JSON.stringify(snap));
}

export function setSysctl(name: string, value: string): void {
  writeFileSync(join('/proc/sys', name), value);
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Brings up the bridge with the node's address (the CNI bridge plugin reuses it) and the forward guard. */
export function setUpNetwork(): void {
  if (!run('ip', ['link', 'show', BRIDGE]).ok) execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  if (!run('ip', ['-4', 'addr', 'show', 'dev', BRIDGE]).out.includes(`${NODE_IP}/`)) execFileSync('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
  execFileSync('ip', ['link', 'set', BRIDGE, 'up']);
  // Anything in the test range that is not the bridge's /24 (kwok's make-believe pod addresses, unused
  // Service addresses) goes nowhere rather than out of the default route.
  if (!run('ip', ['route', 'show', 'type', 'blackhole', TEST_RANGE]).out.trim()) execFileSync('ip', ['route', 'add', 'blackhole', TEST_RANGE]);
  // Service addresses are routed to the bridge, so the host's own connections to a ClusterIP pass the
  // first route lookup; kube-proxy's DNAT then sends them to the pod (or the API server).
  if (!run('ip', ['route', 'show', SERVICE_CIDR]).out.trim()) execFileSync('ip', ['route', 'add', SERVICE_CIDR, 'dev', BRIDGE, 'src', NODE_IP]);
  setSysctl('net/ipv4/ip_forward', '1');
  try { setSysctl('net/bridge/bridge-nf-call-iptables', '1'); } catch { /* br_netfilter absent: same-node Service hairpin needs it */ }
  if (!run('iptables', ['-w', '-L', 'CHAOSRUN-FORWARD', '-n']).ok) execFileSync('iptables', ['-w', '-N', 'CHAOSRUN-FORWARD']);
  execFileSync('iptables', ['-w', '-F', 'CHAOSRUN-FORWARD']);
  execFileSync('iptables', ['-w', '-A', 'CHAOSRUN-FORWARD', '-s', TEST_RANGE, '!', '-d', TEST_RANGE, '-j', 'DROP']);
  execFileSync('iptables', ['-w', '-A', 'CHAOSRUN-FORWARD', '!', '-s', TEST_RANGE, '-d', TEST_RANGE, '-j', 'DROP']);
  if (!run('iptables', ['-w', '-C', 'FORWARD', '-j', 'CHAOSRUN-FORWARD']).ok) execFileSync('iptables', ['-w', '-I', 'FORWARD', '1', '-j', 'CHAOSRUN-FORWARD']);
}

/** Mount points under a prefix, deepest first. */
function mountsUnder(prefixes: string[]): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const points = lines.map((l) => l.split(' ')[4]).filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => prefixes.some((pre) => p === pre || p.startsWith(`${pre}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Deletes every iptables rule and chain the node's parts create (KUBE-*, CNI-*, CHAOSRUN-*), in both families. */
function removeChains(): number {
  let removed = 0;
  for (const bin of ['iptables', 'ip6tables']) {
    const save = run(`${bin}-save`, []);
    if (!save.ok) continue;
    let table = '';
    const ours = /^(KUBE-|CNI-|CHAOSRUN-)/;
    const chains: [string, string][] = [];
    const rules: [string, string][] = [];
    for (const line of save.out.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line.startsWith(':')) { const c = line.slice(1).split(' ')[0]; if (ours.test(c)) chains.push([table, c]); }
      else if (line.startsWith('-A ')) {
        const chain = line.split(' ')[1];
        if (!ours.test(chain) && / -j (KUBE-|CNI-|CHAOSRUN-)\S+/.test(line)) rules.push([table, line]);
      }
    }
    for (const [t, line] of rules) {
      // iptables-save quotes arguments with spaces (comments); hand the rule back through a shell-free split.
      const args = splitRule(line.replace(/^-A /, '-D '));
      if (run(bin, ['-w', '-t', t, ...args]).ok) removed++;
    }
    for (const [t, c] of chains) run(bin, ['-w', '-t', t, '-F', c]);
    for (const [t, c] of chains) if (run(bin, ['-w', '-t', t, '-X', c]).ok) removed++;
  }
  return removed;
}

/** Splits an iptables-save rule line into arguments, honouring double quotes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/** Removes the cgroups the kubelet and runc made (cgroupfs driver), deepest first; they are empty once the pods are gone. */
function removeCgroups(): number {
  let removed = 0;
  const root = '/sys/fs/cgroup';
  const names = ['kubepods', 'kubepods.slice', 'chaosrun-node'];
  const walk = (dir: string): void => {
    let entries: string[] = [];
    try { entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return; }
    for (const e of entries) walk(join(dir, e));
    try { rmdirSync(dir); removed++; } catch { /* busy or not a cgroup we made */ }
  };
  let hierarchies: string[] = [];
  try { hierarchies = readdirSync(root).map((h) => join(root, h)); } catch { return 0; }
  for (const h of [root, ...hierarchies]) for (const n of names) if (existsSync(join(h, n))) walk(join(h, n));
  return removed;
}

export interface Leftovers { mounts: string[]; bridge: boolean; route: boolean; chains: string[]; dirs: string[]; netns: string[]; processes: string[] }

/** What of the node is still on the host (a test asserts that teardown leaves all of it empty). */
export function hostLeftovers(): Leftovers {
  const chains: string[] = [];
  for (const bin of ['iptables', 'ip6tables']) {
    const save = run(`${bin}-save`, []);
    for (const line of save.out.split('\n')) {
      if (/^:(KUBE-|CNI-|CHAOSRUN-)/.test(line)) chains.push(`${bin}:${line.slice(1).split(' ')[0]}`);
    }
  }
  let absent: string[] = [];
  try { absent = (JSON.parse(readFileSync(snapshotFile, 'utf8')) as HostSnapshot).absent; } catch { /* no snapshot: nothing recorded */ }
  const dirs = [...Object.values(hostPaths), snapshotFile, ...absent].filter((p) => existsSync(p));
  const netns = existsSync('/var/run/netns') ? readdirSync('/var/run/netns').filter((n) => n.startsWith('cni-')) : [];
  const processes = run('pgrep', ['-a', '-f', `${hostPaths.run}|containerd-shim-runc-v2 .*-address ${containerdSocket}`]).out
    .split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
  return {
    mounts: nodeMounts(),
    bridge: run('ip', ['link', 'show', BRIDGE]).ok,
    route: run('ip', ['route', 'show', 'type', 'blackhole', TEST_RANGE]).out.trim() !== '',
    chains, dirs, netns, processes,
  };
}

/**
 * The mounts the node made: everything under its own directories, and of the network namespaces only
 * the CNI's (cni-*): a namespace someone else made under /run/netns (a test's, a bench's, `ip netns
 * add` by hand) is not the node's to unmount.
 */
function nodeMounts(): string[] {
  const dirs = ['/var/run/netns', '/run/netns'];
  // ip netns makes its directory a mount of itself: that one goes too, unless others' namespaces are in it.
  const others = dirs.some((d) => existsSync(d) && readdirSync(d).some((n) => !n.startsWith('cni-')));
  const netns = mountsUnder(dirs).filter((m) => basename(m).startsWith('cni-') || (!others && dirs.includes(m)));
  return [...mountsUnder([hostPaths.lib, hostPaths.run, '/run/containerd', '/var/lib/kubelet']), ...netns];
}

/** Kills a process tree member by pid: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

/**
 * Removes everything a real node left on the host: processes, containers, network namespaces,
 * mounts, iptables chains, the bridge, cgroups, directories, and restores the sysctls. Safe to run on
 * a clean host and after a SIGKILLed run. Pods should already have been deleted through the kubelet
 * (that is what runs the CNI teardown); what is left here is killed the hard way.
 */
export async function removeHostState(log: Log = () => {}): Promise<void> {
  const owner = readOwner();
  // The kubelet and kube-proxy first (they would restart what we remove), then containerd.
  for (const name of ['kubelet', 'kube-proxy', 'containerd']) {
    const pid = owner?.pids[name];
    if (pid) await stopPid(pid);
  }
  // Whatever runs under a shim of ours: kill the shims (they take their containers' processes with
  // them when killed with the init), then any process still in a kubepods cgroup.
  for (const l of run('pgrep', ['-f', `containerd-shim-runc-v2 .*-address ${containerdSocket}`]).out.split('\n')) {
    const pid = Number(l.trim());
    if (pid > 0) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  killCgroupProcesses();
  for (const ns of existsSync('/var/run/netns') ? readdirSync('/var/run/netns').filter((n) => n.startsWith('cni-')) : []) {
    run('ip', ['netns', 'delete', ns]);
  }
  const mounts = nodeMounts();
  for (const m of mounts) if (!run('umount', [m]).ok) run('umount', ['-l', m]);
  const chains = removeChains();
  if (run('ip', ['link', 'show', BRIDGE]).ok) run('ip', ['link', 'delete', BRIDGE]);
  if (run('ip', ['route', 'show', 'type', 'blackhole', TEST_RANGE]).out.trim()) run('ip', ['route', 'del', 'blackhole', TEST_RANGE]);
  // Pod veths go with their namespaces; a veth whose namespace was lost is found by its peer name.
  for (const l of run('ip', ['-o', 'link', 'show', 'type', 'veth']).out.split('\n')) {
    const m = /^\d+: (veth[0-9a-f]+)@/.exec(l);
    if (m && l.includes(`master ${BRIDGE}`)) run('ip', ['link', 'delete', m[1]]);
  }
  const cgroups = removeCgroups();
  let snap: HostSnapshot | undefined;
  try { snap = JSON.parse(readFileSync(snapshotFile, 'utf8')) as HostSnapshot; } catch { /* never started */ }
  for (const [name, value] of Object.entries(snap?.sysctls ?? {})) { try { setSysctl(name, value); } catch { /* read-only here */ } }
  for (const p of [...Object.values(hostPaths), ...(snap?.absent ?? [])]) {
    try { rmSync(p, { recursive: true, force: true }); } catch (err) { log(`real node: could not remove ${p}: ${(err as Error).message}`); }
  }
  rmSync(snapshotFile, { force: true });
  log(`real node: host cleaned (${mounts.length} mounts, ${chains} iptables rules/chains, ${cgroups} cgroups)`);
}

/** SIGKILLs every process left in a kubepods cgroup (containers whose shim is already gone). */
function killCgroupProcesses(): void {
  const root = '/sys/fs/cgroup';
  const pids = new Set<number>();
  const walk = (dir: string): void => {
    try { for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (Number(p) > 0) pids.add(Number(p)); } catch { /* not a cgroup dir */ }
    let entries: string[] = [];
    try { entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return; }
    for (const e of entries) walk(join(dir, e));
  };
  let hierarchies: string[] = [];
  try { hierarchies = readdirSync(root).map((h) => join(root, h)); } catch { return; }
  for (const h of [root, ...hierarchies]) if (existsSync(join(h, 'kubepods'))) walk(join(h, 'kubepods'));
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}
