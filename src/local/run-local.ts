// `chaosrun local` (`npm run local`): the main job on the embedded default. Without KUBECONFIG it
// starts the local control plane; it installs the CRDs, then runs the controller and the signal
// server as two processes, exactly as they run in the operator pod, until Ctrl-C. With --real-node a
// third process is the node agent of the real node (`chaosrun agent --node real-node-0`): this host
// *is* that node, so its /proc is the node's and the agent finds the pods' sandboxes there, as the
// DaemonSet's pod does with hostPID. Without a real node there is no agent: kwok's pods have no sandbox.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterUp, installCrds } from './controlplane.ts';
import { NODE_LABEL, NODE_NAME, NODE_TAINT, agentStateDir, containerdTasks } from '../realnode/host.ts';
import { KubeClient, isAlreadyExists, loadKubeConfig } from '../kube/client.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface LocalOptions {
  port: number;
  bind: string;
  metricsPort?: number;
  /** Where both processes' output goes (default: this terminal); the bench sends it to a file. */
  stdio?: StdioOptions;
  /** Start the local plane with a real node; step pods run there. */
  realNode?: boolean;
  /**
   * The CLI both processes run: the sources (default; what you edit is what runs) or the compiled
   * JavaScript of `npm run build` (BUILT_CLI), as the image runs it; the bench measures that.
   */
  cli?: string;
}

export const SOURCE_CLI = join(repoRoot, 'src/cli.ts');
export const BUILT_CLI = join(repoRoot, 'dist/cli.js');

export async function resolveKubeconfig(realNode = false): Promise<string> {
  if (process.env.KUBECONFIG) {
    if (realNode) throw new Error('--real-node starts a local plane; it cannot be used with KUBECONFIG set');
    return process.env.KUBECONFIG;
  }
  const { state, alreadyRunning } = await clusterUp(undefined, (m) => console.error(m), { realNode });
  console.error(alreadyRunning ? `using the running local control plane at ${state.server}` : `started the local control plane at ${state.server}`);
  return state.kubeconfig;
}

/** Starts `chaosrun controller` and `chaosrun signal-server` as child processes. */
/**
 * V8's young generation grows to 3 × 16 MiB under a steady stream of watch events, most of it garbage
 * kept for speed; 4 MiB semi-spaces cost a few more scavenges (on a synthetic stream of Job objects
 * with the controller's modules loaded: RSS 127 → 114 MiB; not yet measured by the bench at scale).
 * The chart sets the same in NODE_OPTIONS (charts/chaosrun-operator/templates/deployment.yaml).
 */
export const CONTROLLER_NODE_OPTIONS = '--max-semi-space-size=4';

const spawnCli = (options: Pick<LocalOptions, 'cli' | 'stdio'>, args: string[], node: string[] = []) =>
  spawn(process.execPath, [...node, options.cli ?? SOURCE_CLI, ...args], { stdio: options.stdio ?? 'inherit' });

/** Starts `chaosrun controller` alone (the bench restarts it this way after a SIGKILL). */
export function spawnController(kubeconfig: string, options: Pick<LocalOptions, 'cli' | 'stdio' | 'metricsPort'>, extraArgs: string[] = []): ChildProcess {
  // As the chart runs it (NODE_OPTIONS): a smaller young generation keeps the controller's RSS down.
  return spawnCli(options, ['controller', '--kubeconfig', kubeconfig, '--metrics-bind', '127.0.0.1', '--metrics-port', String(options.metricsPort ?? 8080), ...extraArgs], [CONTROLLER_NODE_OPTIONS]);
}

/** The metrics port of the node agent that `chaosrun local --real-node` runs (the chart's default). */
export const LOCAL_AGENT_METRICS_PORT = 8082;

/** Starts `chaosrun agent` for the real node, on this host (which is that node). */
export function spawnAgent(kubeconfig: string, options: Pick<LocalOptions, 'cli' | 'stdio'>): ChildProcess {
  return spawnCli(options, ['agent', '--kubeconfig', kubeconfig, '--node', NODE_NAME, '--metrics-bind', '127.0.0.1', '--metrics-port', String(LOCAL_AGENT_METRICS_PORT),
    '--containerd-tasks', containerdTasks, '--state-dir', agentStateDir]);
}

export function spawnOperator(kubeconfig: string, options: LocalOptions, extraControllerArgs: string[] = []): ChildProcess[] {
  return [
    spawnController(kubeconfig, options, extraControllerArgs),
    spawnCli(options, ['signal-server', '--kubeconfig', kubeconfig, '--auth', 'none', '--bind', options.bind, '--port', String(options.port)]),
  ];
}

export async function runLocal(options: LocalOptions): Promise<number> {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new Error(`--port must be 1-65535 (got ${options.port})`);
  const kubeconfig = await resolveKubeconfig(options.realNode);
  const crds = await installCrds(kubeconfig);
  console.error(`installed CRDs: ${crds.join(', ')}`);
  console.error([
    '',
    `  export KUBECONFIG=${kubeconfig}`,
    '  kubectl apply -f examples/chaosrun.yaml && kubectl get crun -w',
    `  curl -X POST http://${options.bind}:${options.port}/PAUSE      # or kubectl patch crun example --type merge -p '{"spec":{"signalState":"PAUSE"}}'`,
    `  curl http://${options.bind}:${options.port}/`,
    '',
  ].join('\n'));
  // On a real node, step pods choose it (the node is tainted, a pod with no choice lands on kwok).
  const placement = options.realNode
    ? ['--step-node-selector', `${NODE_LABEL.key}=${NODE_LABEL.value}`, '--step-tolerations', `${NODE_TAINT.key}=${NODE_TAINT.value}:${NODE_TAINT.effect}`,
      '--scenario-bindings', 'ClusterRoleBinding/chaosrun-local-scenario',
      // The agent runs on the host, not as a pod: the controller reads its fault reports here.
      '--agent-endpoints', `${NODE_NAME}=http://127.0.0.1:${LOCAL_AGENT_METRICS_PORT}`]
    : [];
  if (options.realNode) await ensureLocalScenarioRbac(kubeconfig);
  const children = spawnOperator(kubeconfig, options, placement);
  // The real node's agent holds lasting faults (network steps) in its pods' sandboxes.
  if (options.realNode) children.push(spawnAgent(kubeconfig, options));
  return new Promise<number>((done) => {
    let stopping = false;
    const stopAll = (code: number) => {
      if (stopping) return;
      stopping = true;
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      let left = children.filter((c) => c.exitCode === null).length;
      if (left === 0) done(code);
      for (const c of children) c.once('exit', () => { if (--left === 0) done(code); });
    };
    process.once('SIGINT', () => stopAll(0));
    process.once('SIGTERM', () => stopAll(0));
    for (const c of children) {
      c.once('exit', (code) => {
        if (!stopping) console.error(`chaosrun local: a process exited (code ${code}); stopping the others`);
        stopAll(stopping ? 0 : code || 1);
      });
    }
  });
}

/**
 * The scenario role for `chaosrun local --real-node`: what the chart installs for built-in scenarios
 * (podKill lists, watches and deletes pods; a network step's holder patches its own pod with its
 * targets; both read namespaces), bound to nobody yet. The controller adds each run namespace's
 * scenario ServiceAccount to the binding (--scenario-bindings), as in a cluster. A role left by an
 * older checkout is brought up to these rules.
 */
async function ensureLocalScenarioRbac(kubeconfig: string): Promise<void> {
  const client = new KubeClient(loadKubeConfig(kubeconfig));
  const name = 'chaosrun-local-scenario';
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  try {
    for (const [path, body] of [
      [`${rbac}/clusterroles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete', 'patch'] }, { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }] }],
      [`${rbac}/clusterrolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [] }],
    ] as const) {
      await client.request('POST', path, { body }).catch(async (err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
        // The role's rules follow this checkout; the binding's subjects are the controller's to keep.
        if (body.kind === 'ClusterRole') await client.request('PUT', `${path}/${name}`, { body });
      });
    }
  } finally { client.close(); }
}
