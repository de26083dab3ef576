// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a kwok
// node, built from the official Go modules by test/controlplane/build.sh and started on loopback;
// optionally a real node beside it (src/realnode: containerd + kubelet + kube-proxy, needs root).
// Every process is detached and recorded by pid in <dir>/state.json so `cluster up` can return and
// `cluster down` (or a test's teardown) can stop exactly what was started.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { request } from 'node:https';
import { freePort } from './free-port.ts';
import { pidAlive } from './pid.ts';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePki } from './pki.ts';
import { runBuildScript, setupStep } from './setup-step.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { applyCrds } from '../kube/crds.ts';
import { NODE_IP, SERVICE_CIDR, readOwner, removeHostState } from '../realnode/host.ts';
import { buildImages, type BuiltImage } from '../realnode/images.ts';
import { ensureKrknImages, importKrknImages } from '../realnode/krkn-images.ts';
import {
  buildNodeBinaries, ensurePackages, realNodePrecondition, startRealNode, stopRealNode, type RealNodeState,
} from '../realnode/node.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const defaultClusterDir = join(repoRoot, '.cluster');

export const componentOrder = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type ComponentName = (typeof componentOrder)[number];

interface Component { argv: string[]; pid: number; log: string }
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  binDir: string;
  kubernetesVersion: string;
  components: Record<ComponentName, Component>;
  /** The real node, when the plane was started with one. */
  realNode?: RealNodeState & { binDir: string; operatorImage: string; agentImage: string; krkn?: { archive: string; images: string[] } };
}

type Log = (msg: string) => void;

/** Runs the build script (a no-op when the cache is warm) and returns the directory of the binaries. */
export function buildBinaries(log: Log = () => {}): string {
  const started = Date.now();
  const bin = runBuildScript(join(repoRoot, 'test/controlplane/build.sh'), 'building the control plane binaries', 'controlplane-build');
  log(`control plane binaries ready in ${bin} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return bin;
}

function statePath(dir: string): string { return join(dir, 'state.json'); }

export function readState(dir = defaultClusterDir): ClusterState | undefined {
  try { return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState; } catch { return undefined; }
}

function writeState(state: ClusterState): void {
  writeFileSync(statePath(state.dir), JSON.stringify(state, null, 2));
}


export { freePort };

function spawnComponent(binDir: string, name: ComponentName, args: string[], dir: string): Component {
  const log = join(dir, 'logs', `${name}.log`);
  const fd = openSync(log, 'a');
  const argv = [join(binDir, name), ...args];
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return { argv, pid: child.pid, log };
}

/** GET a path on the API server with the admin client certificate; resolves with the status code and body. */
export function adminGet(dir: string, server: string, path: string): Promise<{ status: number; body: string }> {
  const pki = join(dir, 'pki');
  return new Promise((ok, fail) => {
    const req = request(new URL(path, server), {
      ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')),
      timeout: 2000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, watchPid?: { pid: number; log: string }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (watchPid && !pidAlive(watchPid.pid)) {
      throw new Error(`${what}: the process exited; last lines of ${watchPid.log}:\n${tail(watchPid.log)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string, lines = 15): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
}

function kubeconfigYaml(server: string, pki: string): string {
  const b64 = (f: string) => readFileSync(join(pki, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: chaosrun-local
  cluster:
    server: ${server}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: admin
  user:
    client-certificate-data: ${b64('admin.crt')}
    client-key-data: ${b64('admin.key')}
contexts:
- name: chaosrun-local
  context: {cluster: chaosrun-local, user: admin}
current-context: chaosrun-local
`;
}

/** Is the cluster in `dir` up (every recorded process alive and the API server ready)? */
export async function isRunning(dir = defaultClusterDir): Promise<ClusterState | undefined> {
  const state = readState(dir);
  if (!state) return undefined;
  if (!componentOrder.every((c) => pidAlive(state.components[c]?.pid ?? -1))) return undefined;
  if (state.realNode && !Object.values(state.realNode.pids).every(pidAlive)) return undefined;
  const ready = await adminGet(dir, state.server, '/readyz').then((r) => r.status === 200, () => false);
  return ready ? state : undefined;
}

const kwokNode = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name,
    annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
    labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
  },
  status: {
    allocatable: { cpu: '64', memory: '256Gi', pods: '5000' },
    capacity: { cpu: '64', memory: '256Gi', pods: '5000' },
  },
});

function kubectl(state: Pick<ClusterState, 'binDir' | 'kubeconfig'>, args: string[], input?: string): string {
  return execFileSync(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, ...args],
    { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Starts one component again from its recorded argv (used by `up` and by fault tests that restart the API server). */
export function restartComponent(state: ClusterState, name: ComponentName): void {
  const c = state.components[name];
  const [, ...args] = c.argv;
  state.components[name] = spawnComponent(state.binDir, name, args, state.dir);
  writeState(state);
}

export async function stopComponent(state: ClusterState, name: ComponentName, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = state.components[name]?.pid;
  if (!pid || !pidAlive(pid)) return;
  try { process.kill(pid, signal); } catch { return; }
  const deadline = Date.now() + 10_000;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
}

export async function waitApiReady(state: ClusterState, timeoutMs = 60_000): Promise<void> {
  await waitFor('kube-apiserver /readyz', timeoutMs,
    async () => (await adminGet(state.dir, state.server, '/readyz')).status === 200, state.components['kube-apiserver']);
}

export interface UpResult { state: ClusterState; alreadyRunning: boolean }
export interface UpOptions {
  /** Add a real node (containerd + kubelet + kube-proxy) beside the kwok node; needs root. */
  realNode?: boolean;
  /** With realNode: build krkn's images from krkn's sources (src/realnode/krkn-images.ts) and import them into the node. */
  krkn?: boolean;
}

/** Builds if needed and starts the control plane in `dir`; reuses it when it is already up. */
export async function clusterUp(dir = defaultClusterDir, log: Log = () => {}, options: UpOptions = {}): Promise<UpResult> {
  if (options.krkn && !options.realNode) throw new Error('--krkn needs --real-node: krkn\'s images are imported into the real node');
  if (options.realNode) {
    const why = realNodePrecondition();
    if (why) throw new Error(why);
  }
  const running = await isRunning(dir);
  if (running && options.realNode && !running.realNode) {
    throw new Error(`the local control plane in ${dir} runs without a real node; stop it first (chaosrun cluster down${dir === defaultClusterDir ? '' : ` --dir ${dir}`})`);
  }
  if (running) {
    // The CRDs may have changed since the plane started; applying them again is cheap and idempotent.
    await installCrds(running.kubeconfig);
    if (options.krkn && running.realNode) {
      await setupStep("importing krkn's images into the running real node", 'cluster-up', async () => {
        const built = await ensureKrknImages(log, { kubectl: join(running.binDir, 'kubectl') });
        running.realNode!.krkn = { archive: built[0].archive, images: importKrknImages(built, log) };
        writeState(running);
      });
    }
    return { state: running, alreadyRunning: true };
  }
  return setupStep(`starting the local control plane in ${dir}`, 'cluster-up', () => startPlane(dir, log, options));
}

async function startPlane(dir: string, log: Log, options: UpOptions): Promise<UpResult> {
  if (readState(dir)) {
    log('found a stale local control plane; cleaning it up');
    await clusterDown(dir);
  }
  const binDir = buildBinaries(log);
  // Everything the real node needs is made before any process starts, so a failed build leaves nothing running.
  let nodeBinDir = '';
  let images: { operator: BuiltImage; agent: BuiltImage } | undefined;
  let krknImages: BuiltImage[] | undefined;
  if (options.realNode) {
    ensurePackages(log);
    nodeBinDir = buildNodeBinaries(repoRoot, log);
    // The operator's image and the node agent's, both from the Dockerfile, imported into the node beside its own.
    const started = Date.now();
    images = buildImages(log);
    const built = [images.operator, images.agent].filter((i) => !i.cached).map((i) => i.name);
    log(`images: operator and agent images ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${built.length ? `built ${built.join(', ')}` : 'both cached'})`);
    if (options.krkn) krknImages = await ensureKrknImages(log, { kubectl: join(binDir, 'kubectl') });
  }
  const started = Date.now();
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const pki = join(dir, 'pki');
  ensurePki(pki);
  const [etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort] =
    await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(server, pki), { mode: 0o600 });
  const kubernetesVersion = readFileSync(join(binDir, '..', 'kubernetes-version'), 'utf8').trim();
  const p = (f: string) => join(pki, f);
  const components = {} as Record<ComponentName, Component>;
  const state: ClusterState = { dir, kubeconfig, server, binDir, kubernetesVersion, components };

  components.etcd = spawnComponent(binDir, 'etcd', [
    `--data-dir=${join(dir, 'etcd')}`, '--name=default',
    `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
    // A throwaway test store: durability is not worth the fsync latency here.
    '--unsafe-no-fsync', '--log-level=warn',
  ], dir);
  writeState(state);
  components['kube-apiserver'] = spawnComponent(binDir, 'kube-apiserver', [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    // With a real node, pods reach the API server through the `kubernetes` Service, which points at
    // the node's bridge address; without one it stays on loopback.
    ...(options.realNode ? ['--bind-address=0.0.0.0', `--advertise-address=${NODE_IP}`] : ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1']),
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`, `--client-ca-file=${p('ca.crt')}`,
    `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
    `--service-cluster-ip-range=${SERVICE_CIDR}`, '--allow-privileged=true',
    `--kubelet-client-certificate=${p('kubelet-client.crt')}`, `--kubelet-client-key=${p('kubelet-client.key')}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--cert-dir=${join(dir, 'apiserver-certs')}`, '--profiling=false', '--v=0',
  ], dir);
  writeState(state);
  await waitApiReady(state);
  // The default client rate limit (20 requests/s) makes the Job controller the bottleneck of a
  // thousand-run test; a loopback plane can take far more.
  const common = [`--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false', '--bind-address=127.0.0.1', '--kube-api-qps=300', '--kube-api-burst=600'];
  components['kube-controller-manager'] = spawnComponent(binDir, 'kube-controller-manager', [
    ...common, `--secure-port=${kcmPort}`,
    `--service-account-private-key-file=${p('sa.key')}`, `--root-ca-file=${p('ca.crt')}`,
    '--use-service-account-credentials=false', '--controllers=*,-nodeipam',
  ], dir);
  components['kube-scheduler'] = spawnComponent(binDir, 'kube-scheduler', [...common, `--secure-port=${schedPort}`], dir);
  const stages = join(repoRoot, 'src/local/kwok-stages.yaml');
  components.kwok = spawnComponent(binDir, 'kwok', [
    `--kubeconfig=${kubeconfig}`, `--config=${stages}`,
    '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    '--manage-nodes-with-label-selector=', '--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom',
    '--disregard-status-with-label-selector=', `--server-address=127.0.0.1:${kwokPort}`,
    // kwok's pod addresses are never reached; they sit in the same test range as the real node's pods.
    '--cidr=198.18.128.1/17', '--node-ip=198.18.128.1', '--node-lease-duration-seconds=40',
  ], dir);
  writeState(state);
  kubectl(state, ['apply', '-f', '-'], JSON.stringify(kwokNode('kwok-node-0')));
  await waitFor('the kwok node to be Ready', 60_000, async () =>
    kubectl(state, ['get', 'node', 'kwok-node-0', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True',
  components.kwok);
  await waitFor('the default ServiceAccount (kube-controller-manager)', 60_000, async () => {
    kubectl(state, ['get', 'serviceaccount', 'default', '-n', 'default']);
    return true;
  }, components['kube-controller-manager']);
  await installCrds(kubeconfig);
  if (options.realNode) {
    const node = await startRealNode({
      clusterDir: dir, server, pkiDir: pki, nodeBinDir, log, extraImages: images ? [images.operator, images.agent] : [],
      kubectl: (args) => kubectl(state, args),
    });
    state.realNode = { ...node, binDir: nodeBinDir, operatorImage: images!.operator.name, agentImage: images!.agent.name };
    writeState(state);
    if (krknImages) {
      state.realNode.krkn = { archive: krknImages[0].archive, images: importKrknImages(krknImages, log) };
      writeState(state);
    }
  }
  log(`control plane ${kubernetesVersion} up in ${((Date.now() - started) / 1000).toFixed(1)}s at ${server}`);
  return { state, alreadyRunning: false };
}

/** Applies the project's CRDs to the cluster of a kubeconfig and waits until they are served. */
export async function installCrds(kubeconfig: string): Promise<string[]> {
  const client = new KubeClient(loadKubeConfig(kubeconfig));
  try { return await applyCrds(client, join(repoRoot, 'crds')); } finally { client.close(); }
}

/** Stops every recorded process (newest first) and removes the cluster's state. */
export async function clusterDown(dir = defaultClusterDir, log: Log = () => {}): Promise<number> {
  const state = readState(dir);
  let stopped = 0;
  if (state?.realNode) {
    // Through the API while it is still up, so the kubelet stops the pods and tears their network down.
    const apiUp = pidAlive(state.components['kube-apiserver']?.pid ?? -1);
    await stopRealNode({ kubectl: apiUp ? (args) => kubectl(state, args) : undefined, nodeBinDir: state.realNode.binDir, log });
    stopped += 3;
  } else if (readOwner()?.clusterDir === dir) {
    // A node this plane started but never recorded (killed during startup).
    await removeHostState(log);
  }
  if (state) {
    for (const name of [...componentOrder].reverse()) {
      if (state.components[name] && pidAlive(state.components[name].pid)) {
        await stopComponent(state, name);
        stopped++;
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return stopped;
}

