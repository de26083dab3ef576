// Starting the operator for integration tests: in-process (fast, inspectable) or as a real child
// process (so it can be SIGKILLed), always scoped to the test's own namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ChaosRun, ChaosRunSpec, Scenario } from '../../src/api/types.ts';
import { paths } from '../../src/kube/paths.ts';
import { MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import { startController, type ControllerOptions, type RunningController } from '../../src/controller/manager.ts';
import { createLogger } from '../../src/log.ts';
import { eventually, repoRoot, type TestEnv } from './env.ts';

export const quietLog = () => createLogger('test', process.env.TEST_LOG_LEVEL ?? 'warn');

export async function inProcessController(env: TestEnv, extra: Partial<ControllerOptions> = {}): Promise<RunningController> {
  return startController({ kubeconfig: env.kc, namespaces: [env.namespace], log: quietLog(), ...extra });
}

/** `chaosrun controller` as a child process (stdout/stderr kept for diagnosis). */
export function spawnController(env: Pick<TestEnv, 'kubeconfig' | 'namespace'>, args: string[] = [], kubeconfig = env.kubeconfig): ChildProcess & { output: () => string } {
  const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'controller',
    '--kubeconfig', kubeconfig, '--namespaces', env.namespace, '--metrics-port', '0', '--log-level', 'info', ...args],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  return Object.assign(child, { output: () => out });
}

/** A `job` step whose pod the kwok node runs for `seconds`, then succeeds (or fails). */
export function kwokStep(name: string, seconds = 1, outcome: 'succeed' | 'fail' = 'succeed', extra: Partial<Scenario> = {}): Scenario {
  const annotation = outcome === 'succeed' ? 'pod-complete.stage.kwok.x-k8s.io/delay' : 'pod-fail.stage.kwok.x-k8s.io/delay';
  return { name, ...extra, job: { image: 'busybox:1.36', command: ['true'], podMetadata: { annotations: { [annotation]: `${seconds}s` } } } };
}

export async function createRun(client: KubeClient, namespace: string, name: string, spec: Partial<ChaosRunSpec> & { scenarios: Scenario[] }): Promise<ChaosRun> {
  return client.request<ChaosRun>('POST', paths.chaosRuns(namespace), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name }, spec },
  });
}

export const getRun = (client: KubeClient, namespace: string, name: string) => client.request<ChaosRun>('GET', paths.chaosRuns(namespace, name));

/** What `kubectl patch crun NAME --type merge -p '{"spec":{"signalState":…}}'` does. */
export const signal = (client: KubeClient, namespace: string, name: string, signalState: 'RUN' | 'PAUSE' | 'STOP') =>
  client.request<ChaosRun>('PATCH', paths.chaosRuns(namespace, name), { body: { spec: { signalState } }, contentType: MERGE_PATCH });

export interface JobView { name: string; iteration: number; step: string; created: number; active: boolean; deleting: boolean }

export async function listJobs(client: KubeClient, namespace: string, run: string): Promise<JobView[]> {
  const list = await client.request<{ items: Array<{ metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string; labels: Record<string, string> }; status?: { active?: number; conditions?: Array<{ type: string; status: string }> } }> }>(
    'GET', paths.jobs(namespace), { query: { labelSelector: `chaosrun.dev/run=${run}` } });
  return list.items.map((j) => ({
    name: j.metadata.name,
    iteration: Number(j.metadata.labels['chaosrun.dev/iteration']),
    step: j.metadata.labels['chaosrun.dev/step'],
    created: Date.parse(j.metadata.creationTimestamp),
    active: !j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'),
    deleting: Boolean(j.metadata.deletionTimestamp),
  })).sort((a, b) => a.iteration - b.iteration || a.created - b.created || a.name.localeCompare(b.name));
}

export function waitForPhase(client: KubeClient, namespace: string, name: string, phases: string[], timeoutMs = 60_000): Promise<ChaosRun> {
  return eventually(`run ${name} in phase ${phases.join('|')}`, async () => {
    const r = await getRun(client, namespace, name);
    return phases.includes(r.status?.phase ?? '') ? r : undefined;
  }, timeoutMs);
}
