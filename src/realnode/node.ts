// The real node of the local plane: Debian's containerd and runc, the CNI plugins, and a kubelet and
// kube-proxy built from the pinned k8s.io/kubernetes module, joined to the plane's API server.
//
// kwok's node runs no container; this one does, so "works in a pod" is proven here: the operator's
// image, its probes and security context, Services through kube-proxy, chaos that kills processes.
// The kwok node stays (scale tests need it). The real node is tainted, so a pod with no choice of
// node lands on kwok as before; a pod chooses the real node with NODE_LABEL and NODE_TAINT's
// toleration (`realNodePlacement`).
//
// Startup order: host checks and the record of who owns the node, the bridge and forward guard,
// containerd (own config, root, state and socket), the images, the kubelet (node identity
// system:node:NAME), kube-proxy (iptables mode); then wait for the node to be Ready. Every process is
// detached and recorded by pid, like the plane's other components; `stopRealNode` drains the node
// through the kubelet and then removes all host state (host.ts).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../local/free-port.ts';
import { pidAlive } from '../local/pid.ts';
import { SetupError, lastLine, runBuildScript, setupLog } from '../local/setup-step.ts';
import {
  BRIDGE, NODE_IP, NODE_LABEL, NODE_NAME, NODE_TAINT, POD_CIDR, containerdSocket, hostPaths, liveOwnerOtherThan,
  removeHostState, setUpNetwork, snapshotHost, stopPid, writeOwner, type Log,
} from './host.ts';
import { nodeImageArchives, type BuiltImage } from './images.ts';

/** Debian packages the real node needs, by a command each one provides. */
export const requiredPackages: Record<string, string> = {
  containerd: 'containerd', runc: 'runc', '/usr/lib/cni/bridge': 'containernetworking-plugins', iptables: 'iptables',
  conntrack: 'conntrack', '/bin/busybox': 'busybox-static', buildah: 'buildah', mmdebstrap: 'mmdebstrap', ip: 'iproute2',
  pgrep: 'procps', cc: 'gcc', nft: 'nftables', nsenter: 'util-linux',
  // The host's agent under `chaosrun local --real-node`, and the agent's process-fault tests, run stress-ng.
  'stress-ng': 'stress-ng', setpriv: 'util-linux',
};

export interface RealNodeState {
  name: string;
  ip: string;
  pids: Record<'containerd' | 'kubelet' | 'kube-proxy', number>;
  logs: Record<'containerd' | 'kubelet' | 'kube-proxy', string>;
  images: string[];
}

/** Why a real node cannot start here, as one line; undefined when it can. */
export function realNodePrecondition(): string | undefined {
  if (process.platform !== 'linux') return `--real-node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) {
    return '--real-node needs root: it starts containerd and a kubelet, which create network namespaces, a bridge, iptables chains, mounts and cgroups';
  }
  return undefined;
}

function has(probe: string): boolean {
  if (probe.startsWith('/')) return existsSync(probe);
  return spawnSync('sh', ['-c', `command -v ${probe}`], { stdio: 'ignore' }).status === 0;
}

/** How long apt-get waits for another apt-get's lock before it fails. */
export const APT_LOCK_WAIT_SECONDS = 600;

/** Installs the Debian packages the node needs that are missing (apt-get; its output goes to a log). */
export function ensurePackages(log: Log): void {
  const missing = [...new Set(Object.entries(requiredPackages).filter(([probe]) => !has(probe)).map(([, pkg]) => pkg))];
  if (!missing.length) return;
  const what = `installing the real node's Debian packages (${missing.join(' ')})`;
  const logFile = setupLog('apt');
  if (!has('apt-get')) throw new SetupError(what, 'there is no apt-get here to install them', logFile);
  const started = Date.now();
  log(`real node: installing Debian packages: ${missing.join(' ')} ...`);
  writeFileSync(logFile, '');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt-get (a test installing chromium, a second plane's set-up) may hold dpkg's lock: wait for it.
  const wait = ['-o', `DPkg::Lock::Timeout=${APT_LOCK_WAIT_SECONDS}`];
  for (const args of [[...wait, 'update', '-q'], [...wait, 'install', '-y', '-q', '--no-install-recommends', ...missing]]) {
    const fd = openSync(logFile, 'a');
    const r = spawnSync('apt-get', args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    if (r.status !== 0) throw new SetupError(what, `apt-get ${args[2]} failed: ${lastLine(readFileSync(logFile, 'utf8'))}`, logFile);
  }
  log(`real node: packages installed (${((Date.now() - started) / 1000).toFixed(0)}s)`);
}

/** Builds kubelet, kube-proxy and pause (a no-op when cached) and returns their directory. */
export function buildNodeBinaries(repoRoot: string, log: Log): string {
  const started = Date.now();
  const bin = runBuildScript(join(repoRoot, 'test/controlplane/build-node.sh'), "building the real node's binaries", 'node-build');
  log(`real node: binaries ready in ${bin} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return bin;
}

/** The node selector and toleration a pod needs to run on the real node. */
export const realNodePlacement = {
  nodeSelector: { [NODE_LABEL.key]: NODE_LABEL.value },
  tolerations: [{ key: NODE_TAINT.key, operator: 'Equal', value: NODE_TAINT.value, effect: NODE_TAINT.effect }],
};

function detached(cmd: string, args: string[], log: string): number {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  return child.pid;
}

function tail(file: string, lines = 20): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, proc?: { pid: number; log: string }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (proc && !pidAlive(proc.pid)) throw new Error(`${what}: the process exited; last lines of ${proc.log}:\n${tail(proc.log)}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${proc ? `; last lines of ${proc.log}:\n${tail(proc.log)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function containerdConfig(): string {
  const cri = '"io.containerd.grpc.v1.cri"';
  return `# Written by chaosrun's local plane: a containerd of its own, nothing shared with a system one.
version = 2
root = "${hostPaths.lib}/containerd"
state = "${hostPaths.run}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${containerdSocket}"
[ttrpc]
  address = "${containerdSocket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${hostPaths.lib}/opt"
[plugins.${cri}]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This VM withholds CAP_SYS_RESOURCE from root: without this every sandbox fails in runc with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins.${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins.${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${hostPaths.lib}/cni/net.d"
`;
}

function cniConfig(): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'chaosrun',
    plugins: [
      {
        type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: `${hostPaths.lib}/cni/ipam` },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

function kubeconfigFor(server: string, caFile: string, certFile: string, keyFile: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "${server}", certificate-authority: "${caFile}"}
users:
- name: node
  user: {client-certificate: "${certFile}", client-key: "${keyFile}"}
contexts:
- name: local
  context: {cluster: local, user: node}
current-context: local
`;
}

export interface StartRealNodeOptions {
  clusterDir: string;
  /** The API server as seen from the host (the kubelet and kube-proxy run there). */
  server: string;
  pkiDir: string;
  nodeBinDir: string;
  /** The kubectl binary and an admin kubeconfig, to wait for the node and to label it. */
  kubectl: (args: string[]) => string;
  /** More images to import (e.g. the operator's, built from the Dockerfile). */
  extraImages?: BuiltImage[];
  log: Log;
}

/**
 * Starts the real node and waits until it is Ready. Cleans up first what an earlier run on this host
 * left behind; refuses (one line) while another plane's node is alive.
 */
export async function startRealNode(opts: StartRealNodeOptions): Promise<RealNodeState> {
  const { clusterDir, log } = opts;
  const other = liveOwnerOtherThan(clusterDir);
  if (other) throw new Error(`a real node of another local plane (${other.clusterDir}) is running on this machine; stop it first (chaosrun cluster down --dir ${other.clusterDir})`);
  await removeHostState(log);
  snapshotHost();
  const started = Date.now();
  for (const d of [hostPaths.lib, hostPaths.run, hostPaths.podLogs, join(hostPaths.lib, 'cni/net.d'), join(clusterDir, 'node')]) mkdirSync(d, { recursive: true });
  const logs = {
    containerd: join(clusterDir, 'logs', 'containerd.log'),
    kubelet: join(clusterDir, 'logs', 'kubelet.log'),
    'kube-proxy': join(clusterDir, 'logs', 'kube-proxy.log'),
  };
  const pids = { containerd: 0, kubelet: 0, 'kube-proxy': 0 };
  const record = () => writeOwner({ clusterDir, pids: { ...pids } });
  record();
  setUpNetwork();

  writeFileSync(join(clusterDir, 'node', 'containerd.toml'), containerdConfig());
  pids.containerd = detached('containerd', ['--config', join(clusterDir, 'node', 'containerd.toml')], logs.containerd);
  record();
  await waitFor('containerd', 30_000, () => spawnSync('ctr', ['--address', containerdSocket, 'version'], { stdio: 'ignore' }).status === 0,
    { pid: pids.containerd, log: logs.containerd });

  const archives = [...nodeImageArchives(opts.nodeBinDir, log), ...(opts.extraImages ?? []).map((i) => i.archive)];
  const imported = Date.now();
  for (const a of archives) {
    execFileSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', a], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  const images = execFileSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'ls', '-q'], { encoding: 'utf8' })
    .split('\n').filter((l) => l && !l.startsWith('sha256:'));
  log(`real node: imported ${archives.length} images in ${((Date.now() - imported) / 1000).toFixed(1)}s (${images.join(', ')})`);

  // CNI last before the kubelet: containerd reports the network ready once a config is there.
  writeFileSync(join(hostPaths.lib, 'cni/net.d/10-chaosrun.conflist'), cniConfig());

  const pki = opts.pkiDir;
  const kubeletKubeconfig = join(clusterDir, 'node', 'kubelet.kubeconfig');
  writeFileSync(kubeletKubeconfig, kubeconfigFor(opts.server, join(pki, 'ca.crt'), join(pki, 'node.crt'), join(pki, 'node.key')), { mode: 0o600 });
  const [kubeletPort, healthzPort, proxyHealthz, proxyMetrics] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const kubeletConfig = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(pki, 'ca.crt') } },
    authorization: { mode: 'Webhook' },
    address: NODE_IP,
    port: kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    containerRuntimeEndpoint: `unix://${containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    // This machine has cgroup v1, which Kubernetes 1.35 refuses unless told otherwise.
    failCgroupV1: false,
    failSwapOn: false,
    podCIDR: POD_CIDR,
    podLogsDir: hostPaths.podLogs,
    registerWithTaints: [NODE_TAINT],
    // Locally imported images cannot be pulled again: never collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    serializeImagePulls: false,
    resolvConf: '/etc/resolv.conf',
    clusterDomain: 'cluster.local',
    hairpinMode: 'hairpin-veth',
    rotateCertificates: false,
    maxPods: 110,
  };
  const kubeletConfigFile = join(clusterDir, 'node', 'kubelet.yaml');
  writeFileSync(kubeletConfigFile, JSON.stringify(kubeletConfig, null, 2));
  pids.kubelet = detached(join(opts.nodeBinDir, 'kubelet'), [
    `--config=${kubeletConfigFile}`, `--kubeconfig=${kubeletKubeconfig}`, `--root-dir=${hostPaths.lib}/kubelet`,
    `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`, `--node-labels=${NODE_LABEL.key}=${NODE_LABEL.value}`, '--v=1',
  ], logs.kubelet);
  record();

  const proxyKubeconfig = join(clusterDir, 'node', 'kube-proxy.kubeconfig');
  writeFileSync(proxyKubeconfig, kubeconfigFor(opts.server, join(pki, 'ca.crt'), join(pki, 'kube-proxy.crt'), join(pki, 'kube-proxy.key')), { mode: 0o600 });
  const proxyConfigFile = join(clusterDir, 'node', 'kube-proxy.yaml');
  writeFileSync(proxyConfigFile, JSON.stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: proxyKubeconfig },
    mode: 'iptables',
    clusterCIDR: POD_CIDR,
    hostnameOverride: NODE_NAME,
    healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
    // Leave the host's conntrack table size and timeouts alone, and do not route localnet.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { localhostNodePorts: false },
    nodePortAddresses: [`${NODE_IP}/32`],
  }, null, 2));
  pids['kube-proxy'] = detached(join(opts.nodeBinDir, 'kube-proxy'), [`--config=${proxyConfigFile}`, '--v=1'], logs['kube-proxy']);
  record();

  await waitFor(`the real node ${NODE_NAME} to be Ready`, 120_000, () =>
    opts.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True',
  { pid: pids.kubelet, log: logs.kubelet });
  log(`real node: ${NODE_NAME} Ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pods ${POD_CIDR}, kubelet :${kubeletPort})`);
  return { name: NODE_NAME, ip: NODE_IP, pids, logs, images };
}

/** Imports an image archive into the running node's containerd (e.g. a freshly built operator image). */
export function importImage(archive: string): void {
  execFileSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', archive], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Stops the real node: cordon it and delete its pods through the API so the kubelet stops them and
 * runs the CNI teardown, then stop kube-proxy (removing its rules), the kubelet and containerd, and
 * remove every trace on the host. With the API server already gone it goes straight to the host.
 */
export async function stopRealNode(opts: { kubectl?: (args: string[]) => string; nodeBinDir?: string; log?: Log }): Promise<void> {
  const log = opts.log ?? (() => {});
  if (opts.kubectl) {
    try {
      opts.kubectl(['cordon', NODE_NAME]);
      opts.kubectl(['delete', 'pods', '--all-namespaces', '--field-selector', `spec.nodeName=${NODE_NAME}`, '--grace-period=1', '--wait=true', '--timeout=60s']);
    } catch (err) {
      log(`real node: could not drain through the API (${(err as Error).message.split('\n')[0]}); removing its pods on the host`);
    }
  }
  if (opts.nodeBinDir && existsSync(join(opts.nodeBinDir, 'kube-proxy'))) {
    spawnSync(join(opts.nodeBinDir, 'kube-proxy'), ['--cleanup'], { stdio: 'ignore', timeout: 30_000 });
  }
  await removeHostState(log);
}

export { stopPid };
