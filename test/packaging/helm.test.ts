// The Helm chart: lint and render with the default and a namespaced value set, bad values refused by
// the schema, and a real install, upgrade and uninstall on the local control plane (whose kwok node
// makes the operator pods Running and Ready).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, repoRoot, testEnv } from '../helpers/env.ts';
import { chartDir, helmRunner, parseObjects, type K8sObject } from './helm.ts';
import { lockPlane } from '../helpers/plane-lock.ts';

const env = await testEnv('pkg-helm');
const helm = helmRunner(env.state);
const kubeVersion = env.state.kubernetesVersion;

const namespacedValues = {
  watchNamespaces: ['team-a', 'team-b'],
  replicas: 2,
  signalServer: { tls: { secretName: 'chaosrun-signal-tls' } },
  serviceMonitor: { enabled: false },
  networkPolicy: { enabled: true, signalFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } } }] },
};
const valueSets = { default: [] as string[], namespaced: ['-f', helm.valuesFile('namespaced', namespacedValues)] };

function render(args: string[]): K8sObject[] {
  return parseObjects(helm.ok(['template', 'crun', chartDir, '--namespace', 'chaosrun-system', '--kube-version', kubeVersion, ...args]));
}
const find = (objs: K8sObject[], kind: string, name?: string, namespace?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && (namespace === undefined || o.metadata.namespace === namespace));

interface Container {
  name: string; args: string[]; env?: Array<{ name: string; value?: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string; scheme?: string } };
  readinessProbe: { httpGet: { path: string; port: string; scheme?: string } };
  securityContext: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface Deployment extends K8sObject {
  spec: { replicas: number; template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Container[]; volumes?: unknown[] } } };
}
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

/** "group/resource" -> verbs, for comparing rules regardless of how they are grouped. */
function grants(rules: Rule[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) {
    const key = `${g || 'core'}/${res}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`;
    out[key] = [...(out[key] ?? []), ...r.verbs].sort();
  }
  return out;
}

const operatorGrants = {
  'chaosrun.dev/chaosruns': ['get', 'list', 'patch', 'update', 'watch'],
  'chaosrun.dev/chaosruns/status': ['get', 'patch', 'update'],
  'chaosrun.dev/chaosruns/finalizers': ['update'],
  'batch/jobs': ['create', 'delete', 'get', 'list', 'patch', 'watch'],
  'core/pods': ['get', 'list', 'watch'],
  'core/pods/log': ['get'],
  'core/events': ['create', 'list', 'patch'],
  'apps/deployments': ['list', 'watch'],
  'apps/statefulsets': ['list', 'watch'],
  'apps/daemonsets': ['list', 'watch'],
};

for (const [name, args] of Object.entries(valueSets)) {
  test(`helm lint --strict passes with the ${name} values`, () => {
    const out = helm.ok(['lint', '--strict', chartDir, ...args]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
}

test('the default values render a cluster-wide operator with a hardened pod and least-privilege RBAC', () => {
  const objs = render([]);
  const [dep] = find(objs, 'Deployment', 'crun-chaosrun-operator') as Deployment[];
  assert.ok(dep, 'a Deployment');
  assert.equal(dep.spec.replicas, 1);
  const pod = dep.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'crun-chaosrun-operator');
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.deepEqual(pod.containers.map((c) => c.name), ['controller', 'signal-server']);
  for (const c of pod.containers) {
    assert.equal(c.securityContext.runAsNonRoot, true, c.name);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] }, c.name);
    assert.deepEqual(c.securityContext.seccompProfile, { type: 'RuntimeDefault' }, c.name);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz', c.name);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz', c.name);
  }
  const [controller, signal] = pod.containers;
  assert.equal(controller.args[0], 'controller');
  assert.ok(controller.args.includes('--leader-elect'));
  assert.ok(controller.args.includes('--lease-name=crun-chaosrun-operator'));
  assert.ok(controller.args.includes('--metrics-port=8080'));
  assert.ok(!controller.args.some((a) => a.startsWith('--namespaces')), 'all namespaces');
  assert.deepEqual(controller.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(signal.args, ['signal-server', '--port=8081', '--auth=kubernetes']);
  assert.deepEqual(signal.ports, [{ name: 'signal', containerPort: 8081, protocol: 'TCP' }]);

  const [svc] = find(objs, 'Service') as Array<K8sObject & { spec: { ports: Array<{ name: string; port: number }> } }>;
  assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port]), [['signal', 8081], ['metrics', 8080]]);
  assert.equal(find(objs, 'PodDisruptionBudget').length, 0);
  assert.equal(find(objs, 'ServiceMonitor').length, 0);
  assert.equal(find(objs, 'NetworkPolicy').length, 0);

  const role = (kind: string, n: string) => grants((find(objs, kind, n)[0] as unknown as { rules: Rule[] }).rules);
  assert.deepEqual(role('ClusterRole', 'crun-chaosrun-operator'), operatorGrants);
  assert.deepEqual(role('ClusterRole', 'crun-chaosrun-operator-auth'),
    { 'authentication.k8s.io/tokenreviews': ['create'], 'authorization.k8s.io/subjectaccessreviews': ['create'] });
  assert.deepEqual(role('Role', 'crun-chaosrun-operator-leader-election'),
    { 'coordination.k8s.io/leases': ['create'], 'coordination.k8s.io/leases[crun-chaosrun-operator]': ['get', 'update'] });
  assert.deepEqual(role('ClusterRole', 'crun-chaosrun-operator-scenario'),
    { 'core/pods': ['delete', 'get', 'list', 'patch', 'watch'], 'core/namespaces': ['get', 'list'], 'core/nodes': ['get', 'list'] });
  // nodeCordon and nodeDrain: the controller cordons (patch nodes), watches the nodes it marked, lists a
  // drained node's pods anywhere and evicts them; the holders (the scenario account) only list nodes.
  assert.deepEqual(role('ClusterRole', 'crun-chaosrun-operator-node-faults'),
    { 'core/nodes': ['get', 'list', 'patch', 'watch'], 'core/pods': ['list'], 'core/pods/eviction': ['create'] });
  const [scenarioSa] = find(objs, 'ServiceAccount', 'chaosrun-scenario');
  assert.equal(scenarioSa.metadata.namespace, 'chaosrun-system');
  // The kill-switch record, created empty (RBAC cannot limit create by name): the signal server may
  // patch that one ConfigMap and nothing else there; the agents may read it and nothing else there.
  const [record] = find(objs, 'ConfigMap', 'chaosrun-kill-switch', 'chaosrun-system') as Array<K8sObject & { data?: unknown }>;
  assert.ok(record, 'the kill-switch ConfigMap');
  assert.equal(record.data, undefined, 'empty: no record until the switch is thrown');
  assert.equal(find(objs, 'ConfigMap').length, 1);
  assert.deepEqual(role('Role', 'crun-chaosrun-operator-kill-switch'), { 'core/configmaps[chaosrun-kill-switch]': ['patch'] });
  assert.deepEqual(role('Role', 'crun-chaosrun-operator-agent-kill-switch'), { 'core/configmaps[chaosrun-kill-switch]': ['get', 'list', 'watch'] });
  const subjects = (n: string) => (find(objs, 'RoleBinding', n)[0] as unknown as { subjects: unknown[]; roleRef: { name: string } });
  assert.deepEqual(subjects('crun-chaosrun-operator-kill-switch').subjects, [{ kind: 'ServiceAccount', name: 'crun-chaosrun-operator', namespace: 'chaosrun-system' }]);
  assert.deepEqual(subjects('crun-chaosrun-operator-agent-kill-switch').subjects, [{ kind: 'ServiceAccount', name: 'crun-chaosrun-operator-agent', namespace: 'chaosrun-system' }]);
  for (const n of ['crun-chaosrun-operator-kill-switch', 'crun-chaosrun-operator-agent-kill-switch']) {
    assert.equal(subjects(n).roleRef.name, n);
    assert.equal(find(objs, 'Role', n)[0].metadata.namespace, 'chaosrun-system', 'the release\'s namespace only');
  }
  // Nothing else: every object's kind is accounted for.
  assert.deepEqual([...new Set(objs.map((o) => o.kind))].sort(),
    ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Deployment', 'Job', 'Role', 'RoleBinding', 'Service', 'ServiceAccount',
      'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  // One replica: no anti-affinity to speak of.
  assert.equal((pod as { affinity?: unknown }).affinity, undefined);
});

interface AgentDaemonSet extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName: string; hostPID?: boolean; hostNetwork?: boolean; securityContext: Record<string, unknown>;
        nodeSelector?: Record<string, string>; tolerations?: unknown[]; terminationGracePeriodSeconds: number;
        containers: Array<Container & { image: string; imagePullPolicy: string; env: Array<{ name: string; value?: string; valueFrom?: unknown }>; resources: unknown }>;
        volumes?: unknown[];
      };
    };
  };
}

test('the node agent: a DaemonSet on the host PID namespace, root with exactly NET_ADMIN, SYS_ADMIN, SYS_PTRACE and KILL, a read-only role', () => {
  const objs = render([]);
  const [ds] = find(objs, 'DaemonSet', 'crun-chaosrun-operator-agent') as AgentDaemonSet[];
  assert.ok(ds, 'a DaemonSet');
  // Its pods carry their own name: the operator's Deployment, Service and NetworkPolicy never select them.
  assert.deepEqual(ds.spec.selector.matchLabels,
    { 'app.kubernetes.io/name': 'chaosrun-operator-agent', 'app.kubernetes.io/instance': 'crun', 'app.kubernetes.io/component': 'agent' });
  assert.deepEqual(ds.spec.template.metadata.labels, ds.spec.selector.matchLabels);
  const [svc] = find(objs, 'Service') as Array<K8sObject & { spec: { selector: Record<string, string> } }>;
  assert.ok(Object.entries(svc.spec.selector).some(([k, v]) => ds.spec.template.metadata.labels[k] !== v), 'the Service does not select agent pods');
  const pod = ds.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'crun-chaosrun-operator-agent');
  assert.equal(pod.hostPID, true, 'the node\'s /proc, to find the sandboxes\' pause processes');
  assert.equal(pod.hostNetwork, false);
  // Three host paths, each for the process faults: containerd's task bundles (read only), the cgroups,
  // and its records of its freezes.
  assert.deepEqual(pod.volumes, [
    { name: 'containerd-tasks', hostPath: { path: '/run/containerd/io.containerd.runtime.v2.task/k8s.io', type: 'DirectoryOrCreate' } },
    { name: 'cgroup', hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } },
    { name: 'state', hostPath: { path: '/run/chaosrun-agent', type: 'DirectoryOrCreate' } },
  ]);
  assert.deepEqual(pod.securityContext, { runAsNonRoot: false, runAsUser: 0, runAsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } });
  assert.equal(pod.containers.length, 1);
  const [c] = pod.containers;
  assert.equal(c.image, 'ghcr.io/chaosrun/chaosrun-agent:0.1.0');
  assert.deepEqual(c.args, ['--metrics-port=8082', '--containerd-tasks=/host/containerd-tasks', '--cgroup-root=/host/cgroup', '--state-dir=/host/state']);
  assert.deepEqual((c as unknown as { volumeMounts: unknown[] }).volumeMounts, [
    { name: 'containerd-tasks', mountPath: '/host/containerd-tasks', readOnly: true },
    { name: 'cgroup', mountPath: '/host/cgroup' },
    { name: 'state', mountPath: '/host/state' },
  ]);
  assert.deepEqual(c.env.find((e) => e.name === 'NODE_NAME'), { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8082, protocol: 'TCP' }]);
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
  // Exactly these powers, and no other: not privileged, no other capability, a read-only root.
  assert.deepEqual(c.securityContext, {
    runAsNonRoot: false, runAsUser: 0, runAsGroup: 0, privileged: false, readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: true,
    capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE', 'KILL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(c.resources, { requests: { cpu: '10m', memory: '128Mi' }, limits: { memory: '256Mi' } });
  assert.deepEqual(c.env.find((e) => e.name === 'NODE_OPTIONS'), { name: 'NODE_OPTIONS', value: '--max-semi-space-size=4' });
  // Read-only API rights, bound to its own ServiceAccount only.
  const [role] = find(objs, 'ClusterRole', 'crun-chaosrun-operator-agent') as unknown as Array<{ rules: Rule[] }>;
  assert.deepEqual(grants(role.rules), { 'core/pods': ['get', 'list', 'watch'], 'chaosrun.dev/chaosruns': ['get', 'list', 'watch'] });
  const [binding] = find(objs, 'ClusterRoleBinding', 'crun-chaosrun-operator-agent') as unknown as Array<{ roleRef: { name: string }; subjects: unknown[] }>;
  assert.equal(binding.roleRef.name, 'crun-chaosrun-operator-agent');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'crun-chaosrun-operator-agent', namespace: 'chaosrun-system' }]);
  assert.equal(find(objs, 'ServiceAccount', 'crun-chaosrun-operator-agent', 'chaosrun-system').length, 1);
  // No other binding names the agent's account but the kill-switch record's reader (tested above).
  const bindings = [...find(objs, 'ClusterRoleBinding'), ...find(objs, 'RoleBinding')] as unknown as Array<{ metadata: { name: string }; subjects?: Array<{ name: string }> }>;
  assert.deepEqual(bindings.filter((b) => b.subjects?.some((sub) => sub.name === 'crun-chaosrun-operator-agent')).map((b) => b.metadata.name),
    ['crun-chaosrun-operator-agent', 'crun-chaosrun-operator-agent-kill-switch']);
});

test('agent values: placement, image digest, and agent.enabled=false renders none of it', () => {
  const digest = `sha256:${'cd'.repeat(32)}`;
  const placed = render(['-f', helm.valuesFile('agent', {
    agent: {
      image: { digest, pullPolicy: 'Never' }, nodeSelector: { pool: 'chaos' }, tolerations: [{ operator: 'Exists' }], metricsPort: 9092,
      containerdState: '/run/k3s/containerd', stateDir: '/var/run/chaos-agent',
    },
  })]);
  const [ds] = find(placed, 'DaemonSet') as AgentDaemonSet[];
  const pod = ds.spec.template.spec;
  assert.equal(pod.containers[0].image, `ghcr.io/chaosrun/chaosrun-agent@${digest}`);
  assert.equal(pod.containers[0].imagePullPolicy, 'Never');
  assert.deepEqual(pod.nodeSelector, { pool: 'chaos' });
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  assert.deepEqual(pod.containers[0].args, ['--metrics-port=9092', '--containerd-tasks=/host/containerd-tasks', '--cgroup-root=/host/cgroup', '--state-dir=/host/state']);
  // A node whose containerd keeps its state elsewhere (k3s), and another place for the freeze records.
  assert.deepEqual((pod.volumes as Array<{ name: string; hostPath: { path: string } }>).map((v) => [v.name, v.hostPath.path]), [
    ['containerd-tasks', '/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io'], ['cgroup', '/sys/fs/cgroup'], ['state', '/var/run/chaos-agent'],
  ]);
  assert.throws(() => render(['--set', 'agent.stateDir=relative/dir']), /stateDir/, 'a relative host path is refused by the values schema');
  const off = render(['--set', 'agent.enabled=false']);
  assert.deepEqual(off.filter((o) => o.metadata.name.includes('-agent')).map((o) => `${o.kind}/${o.metadata.name}`), []);
  assert.equal(find(off, 'DaemonSet').length, 0);
});

interface Policy extends K8sObject {
  spec: {
    failurePolicy: string; validations: Array<{ expression: string; messageExpression: string; reason: string }>;
    matchConstraints: { resourceRules: Array<{ apiGroups: string[]; resources: string[]; operations: string[] }> };
    matchConditions: Array<{ expression: string }>;
  };
}

test('the admission policy and its binding: chaosruns only (never status), failing closed, denying', () => {
  const objs = render([]);
  const [policy] = find(objs, 'ValidatingAdmissionPolicy', 'crun-chaosrun-operator-author-rights') as Policy[];
  const [binding] = find(objs, 'ValidatingAdmissionPolicyBinding', 'crun-chaosrun-operator-author-rights') as unknown as Array<{ spec: { policyName: string; validationActions: string[] } }>;
  assert.ok(policy && binding);
  assert.deepEqual(binding.spec, { policyName: 'crun-chaosrun-operator-author-rights', validationActions: ['Deny'] }, 'cluster-wide: every namespace');
  // Watching some namespaces, the release checks runs there only: others are other releases' to check.
  const [scoped] = find(render(['--set', 'watchNamespaces={team-a,team-b}']), 'ValidatingAdmissionPolicyBinding', 'crun-chaosrun-operator-author-rights') as unknown as Array<{ spec: object }>;
  assert.deepEqual(scoped.spec, {
    policyName: 'crun-chaosrun-operator-author-rights', validationActions: ['Deny'],
    matchResources: { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a', 'team-b'] }] } },
  });
  assert.equal(policy.spec.failurePolicy, 'Fail');
  assert.deepEqual(policy.spec.matchConstraints.resourceRules,
    [{ apiGroups: ['chaosrun.dev'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['chaosruns'] }]);
  assert.ok(policy.spec.validations.every((v) => v.reason === 'Forbidden' && v.messageExpression.includes('request.userInfo.username')));
  // 1 (jobs) + podKill: 1 (pattern) + 8 namespaces + 1 (more namespaces) + network: the same 10 for
  // pods/exec + 4 Secrets + 1 (more Secrets) + node faults: patch nodes, and pods/eviction for a drain.
  assert.equal(policy.spec.validations.length, 28);
  assert.equal(policy.spec.matchConditions.length, 1);
});

test('the admission policy needs Kubernetes 1.30: the chart says so, and installs without it only when told', () => {
  const r = helm.run(['template', 'crun', chartDir, '--kube-version', '1.29.0']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /admissionPolicy.enabled needs the ValidatingAdmissionPolicy API \(admissionregistration.k8s.io\/v1, Kubernetes 1.30 or newer\); this cluster \(v1.29.0\) does not serve it/);
  assert.match(r.stderr, /set admissionPolicy.enabled=false and grant `create chaosruns` only to those who may already create Jobs/);
  const objs = parseObjects(helm.ok(['template', 'crun', chartDir, '--kube-version', '1.29.0', '--set', 'admissionPolicy.enabled=false']));
  assert.equal(find(objs, 'ValidatingAdmissionPolicy').length + find(objs, 'ValidatingAdmissionPolicyBinding').length, 0);
  assert.equal(find(objs, 'Deployment').length, 1);
});

test('image.digest pins the operator containers and the scenario Jobs to repository@digest', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const [dep] = find(render(['--set', `image.digest=${digest}`, '--set', 'image.tag=ignored']), 'Deployment') as Deployment[];
  const expected = `ghcr.io/chaosrun/chaosrun-operator@${digest}`;
  const containers = dep.spec.template.spec.containers as Array<Container & { image: string }>;
  assert.deepEqual(containers.map((c) => c.image), [expected, expected]);
  assert.equal(containers[0].env?.find((e) => e.name === 'OPERATOR_IMAGE')?.value, expected, 'built-in scenario Jobs');
  const [plain] = find(render([]), 'Deployment') as Deployment[];
  assert.equal((plain.spec.template.spec.containers[0] as Container & { image: string }).image, 'ghcr.io/chaosrun/chaosrun-operator:0.1.0');
});

test('more than one replica without an affinity spreads over nodes; a given affinity is kept as it is', () => {
  type WithAffinity = Deployment & { spec: { template: { spec: { affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution: Array<{ weight: number; podAffinityTerm: { topologyKey: string; labelSelector: unknown } }> } } } } } };
  const [spread] = find(render(['--set', 'replicas=3']), 'Deployment') as WithAffinity[];
  assert.deepEqual(spread.spec.template.spec.affinity, {
    podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: {
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'chaosrun-operator', 'app.kubernetes.io/instance': 'crun' } },
    } }] },
  });
  const mine = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['ops'] }] }] } } };
  const [given] = find(render(['--set', 'replicas=3', '-f', helm.valuesFile('affinity', { affinity: mine })]), 'Deployment') as WithAffinity[];
  assert.deepEqual(given.spec.template.spec.affinity, mine);
});

test('a NetworkPolicy with a ServiceMonitor needs metricsFrom, whose peers then reach both scraped ports', () => {
  const r = helm.run(['template', 'crun', chartDir, '--kube-version', kubeVersion, '--set', 'networkPolicy.enabled=true', '--set', 'serviceMonitor.enabled=true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /serviceMonitor.enabled with networkPolicy.enabled needs networkPolicy.metricsFrom: the NetworkPolicy would drop Prometheus's scrapes/);
  const prometheus = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
  type Np = K8sObject & { spec: { ingress: Array<{ ports: Array<{ port: string }>; from: unknown[] }> } };
  const values = (sm: boolean) => ['-f', helm.valuesFile(`np-${sm}`, { serviceMonitor: { enabled: sm }, networkPolicy: { enabled: true, metricsFrom: [prometheus] } })];
  const [np] = find(render(values(true)), 'NetworkPolicy') as Np[];
  assert.deepEqual(np.spec.ingress, [{ ports: [{ port: 'metrics', protocol: 'TCP' }, { port: 'signal', protocol: 'TCP' }], from: [prometheus] }]);
  const [noSm] = find(render(values(false)), 'NetworkPolicy') as Np[];
  assert.deepEqual(noSm.spec.ingress, [{ ports: [{ port: 'metrics', protocol: 'TCP' }], from: [prometheus] }], 'no ServiceMonitor: the metrics port only');
});

test('gates.readSecrets: every namespace\'s Secrets cluster-wide, only the named ones with secretNames, Roles with watchNamespaces', () => {
  const rules = (objs: K8sObject[], kind: string, ns?: string) => grants((find(objs, kind, 'crun-chaosrun-operator', ns)[0] as unknown as { rules: Rule[] }).rules);
  assert.deepEqual(rules(render(['--set', 'gates.readSecrets=true']), 'ClusterRole'), { ...operatorGrants, 'core/secrets': ['get'] });
  assert.deepEqual(rules(render(['--set', 'gates.readSecrets=true', '--set', 'gates.secretNames={prom-token,alerts-token}']), 'ClusterRole'),
    { ...operatorGrants, 'core/secrets[prom-token,alerts-token]': ['get'] });
  const namespaced = render(['--set', 'gates.readSecrets=true', '--set', 'watchNamespaces={team-a}']);
  assert.equal(find(namespaced, 'ClusterRole', 'crun-chaosrun-operator').length, 0);
  assert.deepEqual(rules(namespaced, 'Role', 'team-a'), { ...operatorGrants, 'core/secrets': ['get'] });
});

test('the namespaced, 2-replica, TLS value set renders Roles per namespace, a PodDisruptionBudget and HTTPS', () => {
  const objs = render(valueSets.namespaced);
  assert.equal(find(objs, 'ClusterRole', 'crun-chaosrun-operator').length, 0, 'no cluster-wide operator role');
  for (const ns of ['team-a', 'team-b']) {
    const [role] = find(objs, 'Role', 'crun-chaosrun-operator', ns) as unknown as Array<{ rules: Rule[] }>;
    assert.deepEqual(grants(role.rules), operatorGrants, ns);
    assert.equal(find(objs, 'RoleBinding', 'crun-chaosrun-operator', ns).length, 1, ns);
    assert.equal(find(objs, 'ServiceAccount', 'chaosrun-scenario', ns).length, 1, `scenario ServiceAccount in ${ns}`);
  }
  const [dep] = find(objs, 'Deployment') as Deployment[];
  assert.equal(dep.spec.replicas, 2);
  const [controller, signal] = dep.spec.template.spec.containers;
  assert.ok(controller.args.includes('--namespaces=team-a,team-b'));
  assert.ok(signal.args.includes('--namespaces=team-a,team-b'));
  assert.ok(signal.args.includes('--tls-cert=/etc/chaosrun/tls/tls.crt'));
  assert.ok(signal.args.includes('--tls-key=/etc/chaosrun/tls/tls.key'));
  assert.equal(signal.livenessProbe.httpGet.scheme, 'HTTPS');
  assert.deepEqual(signal.volumeMounts, [{ name: 'tls', mountPath: '/etc/chaosrun/tls', readOnly: true }]);
  assert.deepEqual(dep.spec.template.spec.volumes, [{ name: 'tls', secret: { secretName: 'chaosrun-signal-tls' } }]);
  assert.equal(find(objs, 'PodDisruptionBudget').length, 1);
  assert.equal(find(objs, 'ServiceMonitor').length, 0);
  const [np] = find(objs, 'NetworkPolicy') as unknown as Array<{ spec: { ingress: Array<{ ports: Array<{ port: string }> }> } }>;
  assert.deepEqual(np.spec.ingress.map((r) => r.ports[0].port), ['signal'], 'only the signal port, only from team-a');
});

test('the optional ServiceMonitor scrapes both containers', () => {
  const objs = render(['--set', 'serviceMonitor.enabled=true']);
  const [sm] = find(objs, 'ServiceMonitor') as unknown as Array<{ spec: { endpoints: Array<{ port: string; path: string }> } }>;
  assert.deepEqual(sm.spec.endpoints.map((e) => [e.port, e.path]), [['metrics', '/metrics'], ['signal', '/metrics']]);
});

test('bad values fail with the schema\'s message', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'replicas=-1'], /at '\/replicas': minimum: got -1, want 0/],
    [['--set', 'signalServer.auth=basic'], /at '\/signalServer\/auth': value must be one of 'kubernetes', 'none'/],
    [['--set', 'replicaCount=2'], /additional properties 'replicaCount' not allowed/],
    [['--set', 'leaderElection.leaseDuration=15'], /at '\/leaderElection\/leaseDuration': got number, want string/],
    [['--set', 'replicas=2', '--set', 'leaderElection.enabled=false'], /replicas > 1 needs leaderElection.enabled=true/],
    [['--set', 'image.digest=latest'], /at '\/image\/digest': '.*' does not match pattern/],
    [['--set', 'admissionPolicy.enabled=yes'], /at '\/admissionPolicy\/enabled': got string, want boolean/],
    [['--set', 'agent.privileged=true'], /additional properties 'privileged' not allowed/],
    [['--set', 'agent.metricsPort=0'], /at '\/agent\/metricsPort': minimum: got 0, want 1/],
  ];
  for (const [args, message] of cases) {
    const r = helm.run(['template', 'crun', chartDir, '--kube-version', kubeVersion, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('the install notes warn when the admission policy is off and when Secrets are readable everywhere', () => {
  const notes = (args: string[]) => helm.ok(['install', 'crun', chartDir, '--dry-run=client', ...args]).replace(/^[\s\S]*\nNOTES:\n/, '');
  const defaults = notes([]);
  assert.doesNotMatch(defaults, /WARNING/);
  assert.match(defaults, /the ValidatingAdmissionPolicy crun-chaosrun-operator-author-rights/);
  const open = notes(['--set', 'admissionPolicy.enabled=false', '--set', 'gates.readSecrets=true']);
  assert.match(open, /WARNING: admissionPolicy.enabled is false. Anyone who may create ChaosRuns can run any image/);
  assert.match(open, /WARNING: gates.readSecrets without watchNamespaces or gates.secretNames lets the operator get every\s+Secret in every namespace/);
  assert.doesNotMatch(notes(['--set', 'gates.readSecrets=true', '--set', 'gates.secretNames={prom-token}']), /WARNING/);
  assert.doesNotMatch(notes(['--set', 'gates.readSecrets=true', '--set', 'watchNamespaces={team-a}']), /WARNING/);
});

test('the chart\'s CRDs are identical to the top-level crds/', () => {
  const top = readdirSync(join(repoRoot, 'crds')).sort();
  assert.deepEqual(readdirSync(join(chartDir, 'crds')).sort(), top);
  for (const f of top) {
    assert.equal(readFileSync(join(chartDir, 'crds', f), 'utf8'), readFileSync(join(repoRoot, 'crds', f), 'utf8'),
      `charts/chaosrun-operator/crds/${f} differs from crds/${f}; run npm run deploy:render`);
  }
});

test('helm install, upgrade and uninstall on the local control plane', async () => {
  const ns = env.namespace;
  const release = `crun-${randomBytes(3).toString('hex')}`;
  const fullname = `${release}-chaosrun-operator`;
  // The default install binds its admission policy cluster-wide (test/helpers/plane-lock.ts says why).
  const unlock = await lockPlane(env.state.dir, 'cluster-wide-admission-policy');
  const install = helm.ok(['install', release, chartDir, '--namespace', ns, '--wait', '--timeout', '180s']);
  try {
    // NOTES.txt: the exact lines for this release.
    assert.match(install, /kubectl get crun --all-namespaces/);
    assert.match(install, /kubectl patch crun RUN_NAME -n RUN_NAMESPACE --type merge -p '\{"spec":\{"signalState":"PAUSE"\}\}'/);
    assert.match(install, new RegExp(`kubectl port-forward -n ${ns} svc/${fullname} 8081:8081`));
    assert.match(install, /curl -sS -X POST -H "Authorization: Bearer \$TOKEN" http:\/\/localhost:8081\/runs\/RUN_NAMESPACE\/RUN_NAME\/PAUSE/);
    assert.match(install, new RegExp(`the ValidatingAdmissionPolicy ${fullname}-author-rights\\s+checks each author's own RBAC`));

    const crd = JSON.parse(env.kubectl(['get', 'crd', 'chaosruns.chaosrun.dev', '-o', 'json'])) as { status: { conditions: Array<{ type: string; status: string }> } };
    assert.ok(crd.status.conditions.some((c) => c.type === 'Established' && c.status === 'True'));
    env.kubectl(['wait', '--for=condition=Available', `deployment/${fullname}`, '-n', ns, '--timeout=120s']);
    const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/name=chaosrun-operator,app.kubernetes.io/instance=${release}`, '-o', 'json'])) as { items: Array<{ spec: { nodeName: string }; status: { phase: string } }> };
    assert.equal(pods.items.length, 1);
    assert.equal(pods.items[0].spec.nodeName, 'kwok-node-0');
    assert.equal(pods.items[0].status.phase, 'Running');
    // The node agent: one pod on each node it may run on (the untainted kwok node here; kwok runs no
    // container, test/e2e/agent.test.ts runs the real one).
    const agents = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/name=chaosrun-operator-agent,app.kubernetes.io/instance=${release}`, '-o', 'json'])) as typeof pods;
    assert.deepEqual(agents.items.map((p) => [p.spec.nodeName, p.status.phase]), [['kwok-node-0', 'Running']]);
    const svc = JSON.parse(env.kubectl(['get', 'service', fullname, '-n', ns, '-o', 'json'])) as { spec: { ports: Array<{ name: string; port: number }> } };
    assert.ok(svc.spec.ports.some((p) => p.name === 'signal' && p.port === 8081));
    // The admission policy, cluster-scoped, with its binding (test/packaging/admission-policy.test.ts tests what it does).
    env.kubectl(['get', 'validatingadmissionpolicy,validatingadmissionpolicybinding', `${fullname}-author-rights`]);

    // What the installed ServiceAccounts may do, asked of the API server's authorizer.
    const can = (sa: string, ...args: string[]) => {
      try { return env.kubectl(['auth', 'can-i', `--as=system:serviceaccount:${sa}`, ...args]).trim(); } catch { return 'no'; }
    };
    const operator = `${ns}:${fullname}`;
    assert.equal(can(operator, 'patch', 'chaosruns.chaosrun.dev', '--all-namespaces'), 'yes');
    assert.equal(can(operator, 'create', 'jobs.batch', '-n', 'default'), 'yes');
    assert.equal(can(operator, 'create', 'tokenreviews.authentication.k8s.io'), 'yes');
    assert.equal(can(operator, 'update', `leases.coordination.k8s.io/${fullname}`, '-n', ns), 'yes');
    assert.equal(can(operator, 'update', 'leases.coordination.k8s.io/other', '-n', ns), 'no');
    assert.equal(can(operator, 'list', 'secrets', '--all-namespaces'), 'no');
    assert.equal(can(operator, 'delete', 'pods', '-n', 'default'), 'no');
    assert.equal(can(operator, 'delete', 'chaosruns.chaosrun.dev', '-n', 'default'), 'no');
    // The kill-switch record: the operator may patch that one ConfigMap in its namespace, nothing else there.
    assert.equal(can(operator, 'patch', 'configmaps/chaosrun-kill-switch', '-n', ns), 'yes');
    assert.equal(can(operator, 'patch', 'configmaps/other', '-n', ns), 'no');
    assert.equal(can(operator, 'create', 'configmaps', '-n', ns), 'no');
    assert.equal(can(operator, 'get', 'configmaps/chaosrun-kill-switch', '-n', ns), 'no');
    assert.equal(can(operator, 'patch', 'configmaps/chaosrun-kill-switch', '-n', 'default'), 'no');
    // The agent's account reads pods, runs and that one ConfigMap, and may do nothing else.
    const agent = `${ns}:${fullname}-agent`;
    for (const verb of ['get', 'list', 'watch']) assert.equal(can(agent, verb, 'configmaps/chaosrun-kill-switch', '-n', ns), 'yes', `agent ${verb} the record`);
    for (const [verb, what] of [['get', 'configmaps/other'], ['list', 'configmaps'], ['patch', 'configmaps/chaosrun-kill-switch']]) {
      assert.equal(can(agent, verb, what, '-n', ns), 'no', `agent ${verb} ${what}`);
    }
    // A record written since install outlives an upgrade (Helm's three-way merge keeps data it never set).
    env.kubectl(['patch', 'configmap', 'chaosrun-kill-switch', '-n', ns, '--type', 'merge', '-p', '{"data":{"stoppedAt":"2026-03-01T10:00:05.250Z","runs":"shop/a\\n"}}']);
    for (const verb of ['get', 'list', 'watch']) {
      assert.equal(can(agent, verb, 'pods', '--all-namespaces'), 'yes', `agent ${verb} pods`);
      assert.equal(can(agent, verb, 'chaosruns.chaosrun.dev', '--all-namespaces'), 'yes', `agent ${verb} chaosruns`);
    }
    for (const [verb, resource] of [['delete', 'pods'], ['patch', 'pods'], ['create', 'pods/exec'], ['patch', 'chaosruns.chaosrun.dev'],
      ['update', 'chaosruns.chaosrun.dev/status'], ['list', 'secrets'], ['get', 'nodes'], ['create', 'events'], ['list', 'jobs.batch']]) {
      assert.equal(can(agent, verb, resource, '--all-namespaces'), 'no', `agent ${verb} ${resource}`);
    }
    const scenario = `${ns}:chaosrun-scenario`;
    assert.equal(can(scenario, 'delete', 'pods', '-n', 'default'), 'yes');
    assert.equal(can(scenario, 'list', 'namespaces'), 'yes');
    assert.equal(can(scenario, 'list', 'secrets', '-n', 'default'), 'no');

    helm.ok(['upgrade', release, chartDir, '--namespace', ns, '--set', 'replicas=2', '--set', 'logLevel=debug', '--wait', '--timeout', '180s']);
    const dep = JSON.parse(env.kubectl(['get', 'deployment', fullname, '-n', ns, '-o', 'json'])) as Deployment & { status: { availableReplicas?: number } };
    assert.equal(dep.spec.replicas, 2);
    assert.equal(dep.status.availableReplicas, 2);
    assert.ok(dep.spec.template.spec.containers.every((c) => c.env?.some((e) => e.name === 'LOG_LEVEL' && e.value === 'debug')));
    env.kubectl(['get', 'poddisruptionbudget', fullname, '-n', ns]);
    const record = JSON.parse(env.kubectl(['get', 'configmap', 'chaosrun-kill-switch', '-n', ns, '-o', 'json'])) as { data?: Record<string, string> };
    assert.deepEqual(record.data, { stoppedAt: '2026-03-01T10:00:05.250Z', runs: 'shop/a\n' }, 'the record kept through the upgrade');
  } finally {
    helm.ok(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '120s']);
    unlock();
  }
  await eventually('the release\'s objects to be gone', () =>
    env.kubectl(['get', 'deployment,daemonset,service,serviceaccount,pods', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name']).trim() === '' &&
    env.kubectl(['get', 'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name']).trim() === '', 60_000, 500);
  // Helm never deletes CRDs: the runs users made outlive the release.
  env.kubectl(['get', 'crd', 'chaosruns.chaosrun.dev']);
});
