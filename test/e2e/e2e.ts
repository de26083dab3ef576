// What the end-to-end tests share: the plane's real node, the operator installed by `helm install`
// from the chart with the images built from the Dockerfile (the operator's and the node agent's, already
// imported into the node by `cluster up --real-node`), and small helpers to read what the node really does.
//
// The release watches every namespace, so test/run-tests.ts runs these files after the others and
// one at a time. Every pod here (the operator's, the step pods, the test workloads) is placed on the
// real node with its label and toleration; a pod with no choice would land on the kwok node.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import yaml from 'js-yaml';
import { testEnv, eventually, repoRoot, type TestEnv } from '../helpers/env.ts';
import { helmRunner } from '../packaging/helm.ts';
import { chartDir } from '../packaging/helm.ts';
import { importImage, realNodePlacement } from '../../src/realnode/node.ts';
import { buildImages } from '../../src/realnode/images.ts';
export { pidAlive } from '../../src/local/pid.ts';
import type { ChaosRun } from '../../src/api/types.ts';

export { eventually };

export interface Release {
  name: string;
  namespace: string;
  /** `helm` against the plane (throws on failure). */
  helm: ReturnType<typeof helmRunner>;
  /** The operator pods, newest first. */
  pods(): Pod[];
  /** The node agent's pods (one per node it runs on). */
  agentPods(): Pod[];
  /** The Service's ClusterIP (reached through kube-proxy). */
  serviceIp(): string;
  leaseHolder(): string | undefined;
  uninstall(): void;
}

export interface Pod {
  metadata: { name: string; namespace: string; uid: string; creationTimestamp: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { name: string; securityContext?: Record<string, unknown> }[]; securityContext?: Record<string, unknown> };
  status: { phase: string; podIP?: string; containerStatuses?: { name: string; ready: boolean; restartCount: number; state?: Record<string, unknown> }[] };
}

export async function e2eEnv(prefix: string): Promise<TestEnv> {
  const env = await testEnv(prefix);
  // The file's client sits idle while helm installs; a pooled socket the server has closed meanwhile
  // fails the next call with "socket hang up" before it reaches the server, so that one is retried.
  const create = env.createNamespace;
  env.createNamespace = async (p) => {
    try { return await create(p); } catch (err) {
      if ((err as { status?: number }).status !== 0) throw err;
      return create(p);
    }
  };
  if (!env.state.realNode) throw new Error('the e2e tests need the plane\'s real node; run them with test/run-tests.ts as root');
  // A plane kept between runs (CHAOSRUN_KEEP_CLUSTER) may hold images of older sources: the images
  // under test are always the ones the current Dockerfile and sources build.
  const images = buildImages((m) => console.error(m));
  for (const [which, image] of Object.entries(images)) {
    const marker = join(env.state.dir, 'node', `${which}-image`);
    if (!existsSync(marker) || readFileSync(marker, 'utf8') !== image.archive) {
      if (!image.cached || existsSync(marker)) importImage(image.archive);
      writeFileSync(marker, image.archive);
    }
  }
  return env;
}

/**
 * Helm values that put the operator, its node agent and every step pod on the real node: the very file
 * the docs give users (charts/real-node-values.yaml), so the two cannot drift apart.
 */
export function realNodeValues(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const values = yaml.load(readFileSync(join(repoRoot, 'charts/real-node-values.yaml'), 'utf8')) as Record<string, unknown>;
  return { ...values, ...extra };
}

/** The label selector of a release's operator pods (the node agent's pods carry their own name). */
export const operatorSelector = (release: string) => `app.kubernetes.io/name=chaosrun-operator,app.kubernetes.io/instance=${release}`;
/** The label selector of a release's node agent pods. */
export const agentSelector = (release: string) => `app.kubernetes.io/name=chaosrun-operator-agent,app.kubernetes.io/instance=${release}`;

export function installOperator(env: TestEnv, values: Record<string, unknown> = {}): Release {
  const name = `crun-${randomBytes(2).toString('hex')}`;
  const namespace = `${name}-system`;
  const helm = helmRunner(env.state);
  const file = helm.valuesFile('e2e', realNodeValues(values));
  helm.ok(['install', name, chartDir, '--namespace', namespace, '--create-namespace', '-f', file, '--wait', '--timeout', '180s']);
  // Leave evidence when a test fails: the operator's logs, copied next to the plane's.
  after(() => {
    try {
      for (const c of ['controller', 'signal-server']) {
        const logs = env.kubectl(['logs', '-n', namespace, '-l', operatorSelector(name), '-c', c, '--tail=-1', '--prefix']);
        writeFileSync(join(env.state.dir, 'logs', `e2e-${name}-${c}.log`), logs);
      }
      const agents = env.kubectl(['logs', '-n', namespace, '-l', agentSelector(name), '-c', 'agent', '--tail=-1', '--prefix']);
      writeFileSync(join(env.state.dir, 'logs', `e2e-${name}-agent.log`), agents);
    } catch { /* gone already */ }
  });
  const release: Release = {
    name, namespace, helm,
    pods: () => (JSON.parse(env.kubectl(['get', 'pods', '-n', namespace, '-l', operatorSelector(name), '-o', 'json'])).items as Pod[])
      .sort((a, b) => b.metadata.creationTimestamp.localeCompare(a.metadata.creationTimestamp)),
    agentPods: () => JSON.parse(env.kubectl(['get', 'pods', '-n', namespace, '-l', agentSelector(name), '-o', 'json'])).items as Pod[],
    serviceIp: () => env.kubectl(['get', 'svc', '-n', namespace, '-l', operatorSelector(name), '-o', 'jsonpath={.items[0].spec.clusterIP}']),
    leaseHolder: () => {
      // The chart names the Lease after the full release name (release + chart name).
      try { return env.kubectl(['get', 'lease', '-n', namespace, `${name}-chaosrun-operator`, '-o', 'jsonpath={.spec.holderIdentity}']) || undefined; } catch { return undefined; }
    },
    uninstall: () => { helm.ok(['uninstall', name, '--namespace', namespace, '--wait', '--timeout', '180s']); },
  };
  let uninstalled = false;
  const origUninstall = release.uninstall;
  release.uninstall = () => { origUninstall(); uninstalled = true; };
  after(() => {
    if (!uninstalled) { try { origUninstall(); } catch { /* the test already failed; leave the plane to teardown */ } }
    spawnSync(env.state.binDir + '/kubectl', ['--kubeconfig', env.state.kubeconfig, 'delete', 'namespace', namespace, '--wait=false'], { stdio: 'ignore' });
  });
  return release;
}

/** A ChaosRun manifest with the defaults most tests want. */
export function chaosRun(namespace: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
    metadata: { name, namespace },
    spec: { iterations: 1, waitDuration: '0s', ...spec },
  };
}

export function getRun(env: TestEnv, namespace: string, name: string): ChaosRun {
  return JSON.parse(env.kubectl(['get', 'chaosrun', '-n', namespace, name, '-o', 'json'])) as ChaosRun;
}

/** Host processes whose command line contains `marker` (the real node's containers are host processes). */
export function hostPids(marker: string): number[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.split('\n').map(Number).filter((n) => n > 0 && n !== process.pid);
}

/** A bearer token for a ServiceAccount (kubectl create token). */
export function token(env: TestEnv, namespace: string, serviceAccount: string): string {
  return env.kubectl(['create', 'token', '-n', namespace, serviceAccount, '--duration', '1h']).trim();
}

/** curl from the host; the body goes to a file so the status code and the body stay apart. */
export function curl(args: string[]): { code: number; status: number; body: string } {
  const out = join(mkdtempSync(join(tmpdir(), 'chaosrun-curl-')), 'body');
  const r = spawnSync('curl', ['-sS', '-m', '10', '-o', out, '-w', '%{http_code}', ...args], { encoding: 'utf8' });
  const body = existsSync(out) ? readFileSync(out, 'utf8') : '';
  return { code: r.status ?? 1, status: Number(r.stdout || 0), body: body || r.stderr };
}

export const placement = realNodePlacement;

/** Waits until a run reaches one of `phases`; returns it. */
export async function runInPhase(env: TestEnv, namespace: string, name: string, phases: string[], timeoutMs = 120_000): Promise<ChaosRun> {
  return eventually(`${namespace}/${name} to reach ${phases.join(' or ')}`, () => {
    const run = getRun(env, namespace, name);
    return phases.includes(run.status?.phase ?? '') ? run : undefined;
  }, timeoutMs, 250);
}

export interface OperatorDown {
  /** Controller processes found on the node, and how many of them the SIGKILL reached (the rest had exited on the scale-down's SIGTERM). */
  listed: number;
  killed: number;
  /** When they were killed. */
  killedAt: number;
}

/**
 * Runs `body` with no operator at all: the release's Deployment scaled to 0 (so nothing replaces a
 * pod) and every controller process on the node SIGKILLed at once (no drain, no last write). The
 * Deployment is scaled back to its replicas afterwards, whatever `body` did, so the next test has an
 * operator. The node agent (a DaemonSet) is not touched.
 */
export async function withoutOperator<T>(env: TestEnv, release: Release, body: (down: OperatorDown) => Promise<T>): Promise<T> {
  const deployment = env.kubectl(['get', 'deploy', '-n', release.namespace, '-l', operatorSelector(release.name), '-o', 'jsonpath={.items[0].metadata.name}']);
  const replicas = env.kubectl(['get', 'deploy', '-n', release.namespace, deployment, '-o', 'jsonpath={.spec.replicas}']) || '1';
  // Listed before the scale-down: its SIGTERM may end them before a list made after it (seen on a
  // fresh machine's CI: 'no controller process on the node to kill').
  const controllers = hostPids('/nodejs/bin/node dist/cli.js controller');
  if (controllers.length === 0) throw new Error('no controller process on the node to kill');
  env.kubectl(['scale', 'deploy', '-n', release.namespace, deployment, '--replicas=0']);
  try {
    // The scale-down has sent them SIGTERM: one may have drained and exited since it was listed (ESRCH).
    let killed = 0;
    for (const pid of controllers) {
      try { process.kill(pid, 'SIGKILL'); killed++; } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; }
    }
    return await body({ listed: controllers.length, killed, killedAt: Date.now() });
  } finally {
    env.kubectl(['scale', 'deploy', '-n', release.namespace, deployment, `--replicas=${replicas}`]);
  }
}
