// The integration tests' view of the local control plane: a client, kubectl, and a namespace of
// their own (deleted after the file's tests). Never skips: when the plane cannot start, it throws.
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterUp, type ClusterState } from '../../src/local/controlplane.ts';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface TestEnv {
  state: ClusterState;
  kc: KubeConfig;
  client: KubeClient;
  namespace: string;
  kubeconfig: string;
  /** Runs the kubectl built with the plane; throws with its stderr on failure. */
  kubectl(args: string[], input?: string): string;
  /** Creates another namespace, deleted with the file's other resources. */
  createNamespace(prefix: string): Promise<string>;
}

let shared: Promise<ClusterState> | undefined;

async function ensurePlane(): Promise<ClusterState> {
  const dir = process.env.CHAOSRUN_TEST_CLUSTER_DIR ?? join(repoRoot, '.cluster-test');
  shared ??= clusterUp(dir).then((r) => r.state);
  return shared;
}

export async function testEnv(prefix: string): Promise<TestEnv> {
  const state = await ensurePlane();
  const kc = loadKubeConfig(state.kubeconfig);
  const client = new KubeClient(kc);
  const created: string[] = [];
  const createNamespace = async (p: string) => {
    const name = `${p}-${randomBytes(3).toString('hex')}`.toLowerCase().slice(0, 63);
    await client.request('POST', paths.namespaces(), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
    created.push(name);
    return name;
  };
  const namespace = await createNamespace(prefix);
  after(async () => {
    for (const ns of created) await client.request('DELETE', paths.namespaces(ns)).catch(() => {});
    client.close();
  });
  const kubectl = (args: string[], input?: string) => {
    try {
      return execFileSync(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, ...args],
        { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
  return { state, kc, client, namespace, kubeconfig: state.kubeconfig, kubectl, createNamespace };
}

/** Polls `check` until it returns a truthy value, or throws with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A ServiceAccount in `namespace` whose Role allows `verbs` on chaosruns there (no verbs: no Role, so
 * it may do nothing), and a one-hour token for it.
 */
export async function chaosRunAccountToken(client: KubeClient, namespace: string, name: string, verbs: string[]): Promise<string> {
  const accounts = `/api/v1/namespaces/${namespace}/serviceaccounts`;
  await client.request('POST', accounts, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } });
  if (verbs.length) {
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
    await client.request('POST', `${rbac}/roles`, {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules: [{ apiGroups: ['chaosrun.dev'], resources: ['chaosruns'], verbs }] },
    });
    await client.request('POST', `${rbac}/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    });
  }
  const tr = await client.request<{ status: { token: string } }>('POST', `${accounts}/${name}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  return tr.status.token;
}

/** A kubeconfig for the cluster of `kc` that authenticates with nothing but `token` (a ServiceAccount's, say). */
export function tokenKubeConfig(kc: KubeConfig, token: string): KubeConfig {
  const cluster = kc.getCurrentCluster()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ name: 'local', server: cluster.server, caData: cluster.caData }],
    users: [{ name: 'token', token }],
    contexts: [{ name: 'token', cluster: 'local', user: 'token' }],
    currentContext: 'token',
  });
  return out;
}
