// The ServiceAccount built-in scenarios run as, made to exist in whichever namespace a run lives in,
// right before the run's first built-in step starts.
//
// Why the operator does it: step Jobs run in their ChaosRun's namespace, and a run may be created in
// any namespace the operator watches. Asking users to pre-create an account in each namespace is the
// chore chaos tools are known for; so the operator ensures two things, idempotently:
//   1. the ServiceAccount (default `chaosrun-scenario`) in the run's namespace;
//   2. that account as a subject of the chart's fixed scenario binding(s) (a ClusterRoleBinding, or
//      RoleBindings in the target namespaces), which grant the chart's fixed scenario role.
// Least privilege: the operator may `patch` only those named bindings and `bind` only that named role
// (RBAC `resourceNames`), so it can hand out nothing but the scenario role, which it could already
// exercise by running a step as that account. The account is owned by the binding (a cluster-scoped
// owner), so `helm uninstall` removing the binding lets the garbage collector remove every account
// made this way.
//
// Subjects are added with a JSON patch that tests the binding's resourceVersion, so two namespaces
// ensured at once never overwrite each other's subject. What was ensured is remembered per process;
// after a restart the first step in each namespace pays one GET per object again (level-triggered:
// nothing here is state that cannot be read back).
import { KubeError, isAlreadyExists, isConflict, type KubeClient } from '../kube/client.ts';
import { LABEL_MANAGED_BY, MANAGER } from '../api/constants.ts';

/** A binding the scenario account must be a subject of: `ClusterRoleBinding/NAME` or `RoleBinding/NAMESPACE/NAME`. */
export interface BindingRef { kind: 'ClusterRoleBinding' | 'RoleBinding'; namespace?: string; name: string }

export function parseBindingRef(text: string): BindingRef {
  const parts = text.split('/');
  if (parts[0] === 'ClusterRoleBinding' && parts.length === 2 && parts[1]) return { kind: 'ClusterRoleBinding', name: parts[1] };
  if (parts[0] === 'RoleBinding' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'RoleBinding', namespace: parts[1], name: parts[2] };
  throw new Error(`a scenario binding is ClusterRoleBinding/NAME or RoleBinding/NAMESPACE/NAME, not ${JSON.stringify(text)}`);
}

function bindingPath(ref: BindingRef): string {
  return ref.kind === 'ClusterRoleBinding'
    ? `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ref.name}`
    : `/apis/rbac.authorization.k8s.io/v1/namespaces/${ref.namespace}/rolebindings/${ref.name}`;
}

interface Subject { kind: string; name: string; namespace?: string }
interface Binding { metadata: { uid: string; resourceVersion: string }; subjects?: Subject[] }

const JSON_PATCH = 'application/json-patch+json';

export class ScenarioAccounts {
  private readonly done = new Map<string, Promise<void>>();
  private readonly client: Pick<KubeClient, 'request'>;
  private readonly account: string;
  private readonly bindings: BindingRef[];
  constructor(client: Pick<KubeClient, 'request'>, account: string, bindings: BindingRef[]) {
    this.client = client;
    this.account = account;
    this.bindings = bindings;
  }

  /** Makes the scenario account usable in `namespace`; concurrent callers for one namespace share one attempt. */
  ensure(namespace: string): Promise<void> {
    let p = this.done.get(namespace);
    if (!p) {
      p = this.ensureNow(namespace);
      this.done.set(namespace, p);
      // A failed attempt is forgotten, so the next step in that namespace tries again.
      p.catch(() => this.done.delete(namespace));
    }
    return p;
  }

  private async ensureNow(namespace: string): Promise<void> {
    let owner: Binding | undefined;
    for (const ref of this.bindings) {
      const b = await this.addSubject(ref, namespace);
      if (ref.kind === 'ClusterRoleBinding') owner ??= b;
    }
    const ownerRef = owner && this.bindings[0]?.kind === 'ClusterRoleBinding'
      ? [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: this.bindings[0].name, uid: owner.metadata.uid }]
      : undefined;
    try {
      await this.client.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
        body: {
          apiVersion: 'v1', kind: 'ServiceAccount',
          metadata: { name: this.account, namespace, labels: { [LABEL_MANAGED_BY]: MANAGER }, ...(ownerRef ? { ownerReferences: ownerRef } : {}) },
        },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  private async addSubject(ref: BindingRef, namespace: string): Promise<Binding> {
    const subject: Subject = { kind: 'ServiceAccount', name: this.account, namespace };
    for (let attempt = 0; ; attempt++) {
      const binding = await this.client.request<Binding>('GET', bindingPath(ref));
      const subjects = binding.subjects ?? [];
      if (subjects.some((s) => s.kind === 'ServiceAccount' && s.name === this.account && s.namespace === namespace)) return binding;
      try {
        return await this.client.request<Binding>('PATCH', bindingPath(ref), {
          contentType: JSON_PATCH,
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: binding.metadata.resourceVersion },
            binding.subjects ? { op: 'add', path: '/subjects/-', value: subject } : { op: 'add', path: '/subjects', value: [subject] },
          ],
        });
      } catch (err) {
        // A failed `test` (422) or a conflict: someone changed the binding meanwhile; read it again.
        const raced = isConflict(err) || (err instanceof KubeError && err.status === 422);
        if (!raced || attempt >= 5) throw err;
      }
    }
  }
}
