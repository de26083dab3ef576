// What every `kubectl chaosrun` verb starts with, by kubectl's conventions: the kubeconfig kubectl
// would use (--kubeconfig, else KUBECONFIG, else ~/.kube/config), --context, and the namespace from
// -n/--namespace, else the context's, else "default"; -A for every namespace.
import type { ChaosRun } from '../api/types.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';
import type { OptionSpecs } from '../options.ts';

export const PROGRAM = 'kubectl chaosrun';

export const kubeOptions = {
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, else ~/.kube/config, as kubectl)' },
  context: { type: 'string', value: 'NAME', help: 'the kubeconfig context to use (default: its current context)' },
  namespace: { type: 'string', short: 'n', value: 'NS', help: 'the namespace (default: the context\'s, else default)' },
} as const satisfies OptionSpecs;

export const listOptions = {
  'all-namespaces': { type: 'boolean', short: 'A', help: 'every namespace' },
  selector: { type: 'string', short: 'l', value: 'SEL', help: 'only runs with these labels, e.g. team=sre,env!=prod' },
} as const satisfies OptionSpecs;

export interface Connection {
  client: KubeClient;
  namespace: string;
  close(): void;
}

export function connect(values: { kubeconfig?: string; context?: string; namespace?: string }): Connection {
  const kc = loadKubeConfig(values.kubeconfig);
  if (values.context) {
    if (!kc.getContextObject(values.context)) throw new Error(`context ${JSON.stringify(values.context)} not found in the kubeconfig`);
    kc.setCurrentContext(values.context);
  }
  const namespace = values.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  const client = new KubeClient(kc, { timeoutMs: 30_000 });
  return { client, namespace, close: () => client.close() };
}

/** The user the API server knows this kubeconfig as (SelfSubjectReview), for the signal's Event. */
export async function whoAmI(client: KubeClient): Promise<string> {
  try {
    const review = await client.request<{ status?: { userInfo?: { username?: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    return review.status?.userInfo?.username ?? client.userName;
  } catch {
    // An API server without the API, or a user not allowed to ask: the kubeconfig's name for the user.
    return client.userName;
  }
}

/** Whether this user may `verb` the run (SelfSubjectAccessReview), so a broadcast is all or nothing. */
export async function mayI(client: KubeClient, verb: string, run: ChaosRun): Promise<boolean> {
  const review = await client.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { group: 'chaosrun.dev', resource: 'chaosruns', verb, namespace: run.metadata.namespace, name: run.metadata.name } },
    },
  });
  return review.status?.allowed === true;
}

export async function getRun(client: KubeClient, namespace: string, name: string): Promise<ChaosRun> {
  return client.request<ChaosRun>('GET', paths.chaosRuns(namespace, name));
}

/** The runs of one namespace, or of all (`-A`), with these labels, sorted as kubectl lists them. */
export async function listRuns(client: KubeClient, namespace: string | undefined, labelSelector?: string): Promise<ChaosRun[]> {
  const list = await client.request<{ items: ChaosRun[] }>('GET', paths.chaosRuns(namespace), { query: { labelSelector } });
  return list.items.sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
}

/** An API refusal as kubectl words it: the API server's own message names the verb, resource and user. */
export function describeError(err: unknown): string {
  if (err instanceof KubeError) {
    if (err.status === 0) return `the Kubernetes API server is unreachable: ${err.message}`;
    return `Error from server (${err.reason}): ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
