// The chart's ValidatingAdmissionPolicy on the real kube-apiserver: a ChaosRun grants no more than its
// author has. Authors are ServiceAccounts with tokens and Roles of their own (no impersonation), each
// holding `create chaosruns` plus exactly the rights a case needs; the admin is the plane's
// system:masters certificate. The operator, in-process with its chart Role's token, runs a run whose
// steps it could not have authored itself: its writes (finalizer, status, the timed pause's RUN) pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ChaosRunSpec, Gate, Scenario } from '../../src/api/types.ts';
import { KubeClient, KubeError, MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { startController } from '../../src/controller/manager.ts';
import { eventually, testEnv, tokenKubeConfig as tokenKubeConfigFor } from '../helpers/env.ts';
import { getRun, kwokStep, listJobs, quietLog } from '../helpers/operator.ts';
import { chartDir, helmRunner, parseObjects } from './helm.ts';
import type { AuthorRight, BodyField, BodyOf } from '../../src/scenarios/kind.ts';
import { SCENARIO_KINDS } from '../../src/scenarios/registry.ts';
import { lockPlane } from '../helpers/plane-lock.ts';

const env = await testEnv('pkg-vap');
const helm = helmRunner(env.state);
const runNs = env.namespace;
const otherNs = await env.createNamespace('pkg-vap-other');
const release = `vap-${randomBytes(3).toString('hex')}`;
const policyName = `${release}-chaosrun-operator-author-rights`;
const clients: KubeClient[] = [];

/** A kubeconfig for this plane that authenticates with nothing but `token`. */
const tokenKubeConfig = (token: string): KubeConfig => tokenKubeConfigFor(env.kc, token);

function tokenClient(token: string): KubeClient {
  const client = new KubeClient(tokenKubeConfig(token));
  clients.push(client);
  return client;
}

/** A ServiceAccount in the run namespace with `create/update/patch chaosruns` there, plus `extra` bindings. */
function author(name: string, extra: Array<{ namespace?: string; verbs: string; resource: string; resourceName?: string }> = []) {
  env.kubectl(['create', 'serviceaccount', name, '-n', runNs]);
  const grant = (ns: string | undefined, verbs: string, resource: string, resourceName?: string) => {
    // A role's name is a DNS subdomain: pods/exec becomes pods-exec.
    const role = `${name}-${resource.split('.')[0].replace('/', '-')}-${verbs.replace(/,/g, '')}${resourceName ? `-${resourceName}` : ''}`.slice(0, 63);
    const subject = `--serviceaccount=${runNs}:${name}`;
    const names = resourceName ? [`--resource-name=${resourceName}`] : [];
    if (ns) {
      env.kubectl(['create', 'role', role, '-n', ns, `--verb=${verbs}`, `--resource=${resource}`, ...names]);
      env.kubectl(['create', 'rolebinding', role, '-n', ns, `--role=${role}`, subject]);
    } else {
      const cluster = `${release}-${role}`;
      env.kubectl(['create', 'clusterrole', cluster, `--verb=${verbs}`, `--resource=${resource}`]);
      env.kubectl(['create', 'clusterrolebinding', cluster, `--clusterrole=${cluster}`, subject]);
    }
  };
  grant(runNs, 'get,create,update,patch', 'chaosruns.chaosrun.dev');
  for (const g of extra) grant(g.namespace, g.verbs, g.resource, g.resourceName);
  return { user: `system:serviceaccount:${runNs}:${name}`, client: tokenClient(env.kubectl(['create', 'token', name, '-n', runNs, '--duration=1h']).trim()) };
}

type Spec = Partial<ChaosRunSpec> & { scenarios: Scenario[] };
const body = (name: string, spec: Spec) => ({ apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name }, spec });

/** Creates a run as `client` and returns 201 or the refusal's status and message. */
async function create(client: KubeClient, name: string, spec: Spec, { dryRun = false, namespace = runNs } = {}): Promise<{ status: number; message: string }> {
  try {
    await client.request('POST', paths.chaosRuns(namespace), { body: body(name, spec), query: dryRun ? { dryRun: 'All' } : {} });
    return { status: 201, message: '' };
  } catch (err) {
    if (err instanceof KubeError) return { status: err.status, message: err.message };
    throw err;
  }
}

async function patch(client: KubeClient, name: string, spec: object): Promise<{ status: number; message: string }> {
  try {
    await client.request('PATCH', paths.chaosRuns(runNs, name), { body: { spec }, contentType: MERGE_PATCH });
    return { status: 200, message: '' };
  } catch (err) {
    if (err instanceof KubeError) return { status: err.status, message: err.message };
    throw err;
  }
}

const job: Scenario = { name: 'shell', job: { image: 'busybox:1.36', command: ['true'] } };
const hub: Scenario = { name: 'hub', krknHub: { scenario: 'pod-scenarios', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', env: { NAMESPACE: '^shop$' } } };
const kill = (name: string, namespace: string, extra: object = {}): Scenario =>
  ({ name, podKill: { namespace, labelSelector: 'app=web', count: 1, ...extra } });
const pattern: Scenario = { name: 'everywhere', podKill: { namespacePattern: '^shop-', labelSelector: 'app=web', count: 1 } };
const tokenGate = (name: string, secret: string): Gate =>
  ({ name, prometheus: { url: 'http://prometheus.invalid:9090', query: 'up', comparison: '== 0', interval: '15s', onError: 'Hold', bearerTokenSecret: { name: secret, key: 'token' } } });

const forbidden = (user: string, verb: string, resource: string, group: string, where: string) =>
  `User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`;

let plain: ReturnType<typeof author>;

let unlock = () => {};

before(async () => {
  // This file's policy is bound cluster-wide; no other cluster-wide one may refuse beside it.
  unlock = await lockPlane(env.state.dir, 'cluster-wide-admission-policy');
  const rendered = helm.ok(['template', release, chartDir, '--namespace', runNs, '--kube-version', env.state.kubernetesVersion,
    '--show-only', 'templates/admission-policy.yaml']);
  const objs = parseObjects(rendered);
  assert.deepEqual(objs.map((o) => o.kind), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  env.kubectl(['apply', '--server-side', '--field-manager=chaosrun-vap-test', '-f', '-'], rendered);
  plain = author('plain');
  // The API server loads a new policy asynchronously: wait until it refuses (dry run: nothing is stored).
  await eventually('the policy to be enforced', async () => {
    const r = await create(plain.client, 'probe', { scenarios: [job] }, { dryRun: true });
    return r.status === 403 && r.message.includes(`'${policyName}'`);
  }, 60_000, 250);
});

after(() => {
  for (const c of clients) c.close();
  env.kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policyName, '--ignore-not-found']);
  const leftovers = env.kubectl(['get', 'clusterrole,clusterrolebinding', '-o', 'name']).split('\n').filter((n) => n.includes(`/${release}-`));
  if (leftovers.length) env.kubectl(['delete', ...leftovers, '--ignore-not-found']);
  unlock();
});

test('an author with only create chaosruns can run neither a job, a krknHub nor a podKill anywhere', async () => {
  const jobsHere = forbidden(plain.user, 'create', 'jobs', 'batch', `in the namespace "${runNs}"`);
  let r = await create(plain.client, 'a', { scenarios: [job] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`step "shell": ${jobsHere}`), r.message);
  assert.match(r.message, new RegExp(`ValidatingAdmissionPolicy '${policyName}'`));

  r = await create(plain.client, 'b', { scenarios: [hub, { ...job, name: 'shell-2' }] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`steps "hub", "shell-2": ${jobsHere}`), r.message);

  r = await create(plain.client, 'c', { scenarios: [kill('kill-here', runNs)] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`step "kill-here": ${forbidden(plain.user, 'delete', 'pods', '', `in the namespace "${runNs}"`)}`), r.message);

  r = await create(plain.client, 'd', { scenarios: [pattern] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`step "everywhere": ${forbidden(plain.user, 'delete', 'pods', '', 'at the cluster scope')}`), r.message);

  const list = await env.client.request<{ items: unknown[] }>('GET', paths.chaosRuns(runNs));
  assert.equal(list.items.length, 0, 'nothing refused was stored');
});

test('a podKill is admitted where its author may delete pods, and refused elsewhere, naming the namespace', async () => {
  const killer = author('killer', [{ namespace: otherNs, verbs: 'delete', resource: 'pods' }]);
  assert.equal((await create(killer.client, 'kill-other', { scenarios: [kill('k1', otherNs), kill('k2', otherNs)] })).status, 201);

  const third = `pkg-vap-nowhere-${randomBytes(3).toString('hex')}`;
  let r = await create(killer.client, 'kill-third', { scenarios: [kill('k1', otherNs), kill('k2', third), kill('k3', third)] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`steps "k2", "k3": ${forbidden(killer.user, 'delete', 'pods', '', `in the namespace "${third}"`)}`), r.message);

  r = await create(killer.client, 'kill-pattern', { scenarios: [kill('k1', otherNs), pattern] });
  assert.equal(r.status, 403, r.message);
  assert.match(r.message, /step "everywhere": .* at the cluster scope/);

  // A podKill that picks its own image or ServiceAccount runs a pod of its author's choosing: a job.
  for (const extra of [{ image: 'attacker/image:1' }, { serviceAccountName: 'default' }]) {
    r = await create(killer.client, 'kill-own-pod', { scenarios: [kill('k1', otherNs, extra)] });
    assert.equal(r.status, 403, `${JSON.stringify(extra)}: ${r.message}`);
    assert.ok(r.message.includes(`step "k1": ${forbidden(killer.user, 'create', 'jobs', 'batch', `in the namespace "${runNs}"`)}`), r.message);
  }
});

test('an author who may create Jobs runs job and krknHub steps; one who may get a Secret uses it in a gate', async () => {
  const jobs = { namespace: runNs, verbs: 'create', resource: 'jobs.batch' };
  const builder = author('builder', [jobs]);
  assert.equal((await create(builder.client, 'build', { scenarios: [job, hub] })).status, 201);
  const gated = await create(builder.client, 'gated-0', { scenarios: [kwokStep('ok', 1)], gates: { pauseWhen: [tokenGate('error-rate', 'prom-token')] } });
  assert.equal(gated.status, 403, gated.message);
  assert.ok(gated.message.includes(`gate "error-rate": ${forbidden(builder.user, 'get', 'secrets', '', `in the namespace "${runNs}"`)} (the Secret "prom-token"`), gated.message);

  const reader = author('reader', [jobs, { namespace: runNs, verbs: 'get', resource: 'secrets', resourceName: 'prom-token' }]);
  assert.equal((await create(reader.client, 'gated', { scenarios: [kwokStep('ok', 1)], gates: { stopWhen: [tokenGate('g1', 'prom-token'), tokenGate('g2', 'prom-token')] } })).status, 201);
  const r = await create(reader.client, 'gated-2', { scenarios: [kwokStep('ok', 1)], gates: { stopWhen: [tokenGate('g1', 'prom-token'), tokenGate('g2', 'other-token')] } });
  assert.equal(r.status, 403, r.message);
  assert.match(r.message, /gate "g2": User ".*" cannot get resource "secrets" .*\(the Secret "other-token"/);
});

test('updates are checked when they change the steps or gates, and signals are not', async () => {
  // The admin's run aims where plain may not act; plain may still steer it and change other fields.
  assert.equal((await create(env.client, 'steered', { scenarios: [kill('k1', otherNs), job] })).status, 201);
  assert.equal((await patch(plain.client, 'steered', { signalState: 'PAUSE', pauseUntil: new Date(Date.now() + 60_000).toISOString() })).status, 200);
  assert.equal((await patch(plain.client, 'steered', { iterations: 3 })).status, 200);
  const r = await patch(plain.client, 'steered', { scenarios: [kill('k1', runNs)] });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`step "k1": ${forbidden(plain.user, 'delete', 'pods', '', `in the namespace "${runNs}"`)}`), r.message);
  const g = await patch(plain.client, 'steered', { gates: { pauseWhen: [tokenGate('g', 'prom-token')] } });
  assert.equal(g.status, 403, g.message);
  const run = await getRun(env.client, runNs, 'steered');
  assert.equal(run.spec.signalState, 'PAUSE');
  assert.equal(run.spec.iterations, 3);
  assert.deepEqual(run.spec.scenarios.map((s) => s.name), ['k1', 'shell']);
});

test('the admin may do everything, including more podKill namespaces than the policy checks one by one', async () => {
  const many = Array.from({ length: 12 }, (_, i) => kill(`k${i}`, `ns-${i}`));
  const r = await create(env.client, 'admin-all', { scenarios: [job, hub, pattern, ...many], gates: { pauseWhen: [tokenGate('g', 'prom-token')] } });
  assert.equal(r.status, 201, r.message);
});

test('the most the policy checks one by one fits CEL\'s budget; a ninth namespace needs delete pods cluster-wide', async () => {
  const namespaces = [runNs, otherNs];
  while (namespaces.length < 9) namespaces.push(await env.createNamespace('pkg-vap-n'));
  const secrets = ['t0', 't1', 't2', 't3'];
  const wide = author('wide', [
    ...namespaces.map((namespace) => ({ namespace, verbs: 'delete', resource: 'pods' })),
    { namespace: runNs, verbs: 'create', resource: 'jobs.batch' },
    ...secrets.map((resourceName) => ({ namespace: runNs, verbs: 'get', resource: 'secrets', resourceName })),
  ]);
  // The most the policy checks one by one, within CEL's cost budget: the Jobs, the cluster scope (no),
  // 8 namespaces and 4 Secrets, with the most steps a run may have (100, so the pairwise dedup is at its dearest).
  const most: Spec = {
    scenarios: [job, ...Array.from({ length: 99 }, (_, i) => kill(`k${i}`, namespaces[i % 8]))],
    gates: { pauseWhen: secrets.map((t, i) => tokenGate(`g${i}`, t)), stopWhen: secrets.map((t, i) => tokenGate(`s${i}`, t)) },
  };
  const r8 = await create(wide.client, 'eight', most);
  assert.equal(r8.status, 201, r8.message);
  const r = await create(wide.client, 'nine', { scenarios: namespaces.map((ns, i) => kill(`k${i}`, ns)) });
  assert.equal(r.status, 403, r.message);
  assert.ok(r.message.includes(`podKill steps aim at 9 namespaces, more than the 8 the API server can check one by one: ${forbidden(wide.user, 'delete', 'pods', '', 'at the cluster scope')}`), r.message);
});

test('the operator\'s own writes pass: finalizer, status, the timed pause\'s RUN and its Jobs', async () => {
  // The chart's namespaced operator RBAC for a namespace of its own, and a token for its ServiceAccount.
  const opNs = await env.createNamespace('pkg-vap-op');
  const rbac = helm.ok(['template', release, chartDir, '--namespace', opNs, '--set', `watchNamespaces={${opNs}}`,
    '--set', 'scenarioServiceAccount.create=false', '--set', 'leaderElection.enabled=false', '--set', 'signalServer.auth=none',
    '--show-only', 'templates/rbac.yaml', '--show-only', 'templates/serviceaccount.yaml']);
  env.kubectl(['apply', '-f', '-'], rbac);
  const operatorSa = `${release}-chaosrun-operator`;
  const operatorKc = tokenKubeConfig(env.kubectl(['create', 'token', operatorSa, '-n', opNs, '--duration=1h']).trim());
  const operator = new KubeClient(operatorKc);
  clients.push(operator);
  // The operator may delete pods nowhere: were its writes checked as an author's, they would be refused.
  assert.equal((await create(operator, 'probe', { scenarios: [kill('k', otherNs)] }, { dryRun: true, namespace: opNs })).status, 403);

  // Created by the admin: a podKill aimed at another namespace, paused until shortly from now.
  const until = new Date(Date.now() + 3000).toISOString();
  const spec: Spec = { signalState: 'PAUSE', pauseUntil: until, scenarios: [kwokStep('first', 30), kill('k', otherNs)] };
  assert.equal((await create(env.client, 'operated', spec, { namespace: opNs })).status, 201);
  const controller = await startController({ kubeconfig: operatorKc, namespaces: [opNs], log: quietLog() });
  try {
    const resumed = await eventually('the timed pause to end with RUN, written by the operator', async () => {
      const run = await getRun(env.client, opNs, 'operated');
      return run.spec.signalState === 'RUN' && run.spec.pauseUntil === undefined ? run : undefined;
    }, 30_000, 200);
    assert.ok(resumed.metadata.finalizers?.length, 'the operator added its finalizer');
    await eventually('the first step\'s Job', async () => (await listJobs(env.client, opNs, 'operated')).length === 1, 30_000);
    const running = await eventually('the step recorded in status', async () => {
      const run = await getRun(env.client, opNs, 'operated');
      return run.status?.phase === 'Running' && run.status.history?.length ? run : undefined;
    }, 30_000);
    assert.equal(running.status?.step?.name, 'first');
  } finally {
    await controller.stop();
    await env.client.request('DELETE', paths.chaosRuns(opNs, 'operated')).catch(() => {});
  }
});

test('every registered kind: an author holding exactly its authorRights is admitted, one lacking any of them is refused for it', async () => {
  // Bodies of each kind (a new kind does not compile here until it has some), aimed where nobody may act by default.
  const samples: { [F in BodyField]: Array<BodyOf<F>> } = {
    job: [job.job!],
    podKill: [
      kill('k', otherNs).podKill!, pattern.podKill!,
      kill('k', otherNs, { image: 'attacker/image:1' }).podKill!, { ...pattern.podKill!, serviceAccountName: 'default' },
    ],
    krknHub: [hub.krknHub!],
    network: [
      { namespace: otherNs, labelSelector: 'app=web', direction: 'both', partition: {}, leaseSeconds: 4 },
      { namespacePattern: '^shop-', labelSelector: 'app=web', direction: 'egress', loss: { percent: 30 }, leaseSeconds: 4 },
      { namespace: otherNs, labelSelector: 'app=web', direction: 'both', partition: {}, leaseSeconds: 4, serviceAccountName: 'default' },
    ],
    freeze: [{ namespace: otherNs, labelSelector: 'app=web' }, { namespacePattern: '^shop-', labelSelector: 'app=web', image: 'attacker/image:1' }],
    stress: [{ namespace: otherNs, labelSelector: 'app=web', cpu: { workers: 1, load: 50 } }],
    containerKill: [{ namespace: otherNs, labelSelector: 'app=web', signal: 'KILL', serviceAccountName: 'default' }],
    nodeCordon: [{ labelSelector: 'pool=web' }],
    nodeDrain: [{ names: ['web-1'], evictionTimeout: '30s' }],
  };
  const grants = (rights: AuthorRight[]) => rights.map((r) => ({
    namespace: r.namespace, verbs: r.verb, resource: `${r.resource}${r.group ? `.${r.group}` : ''}${r.subresource ? `/${r.subresource}` : ''}`,
  }));
  const where = (r: AuthorRight) => (r.namespace === undefined ? 'at the cluster scope' : `in the namespace "${r.namespace}"`);
  let n = 0;
  for (const kind of SCENARIO_KINDS) {
    for (const b of samples[kind.field] as Array<BodyOf<BodyField>>) {
      // A duration for the lasting kinds (the CRD asks for one); the others ignore it.
      const spec: Spec = { scenarios: [{ name: 'step', duration: '10s', [kind.field]: b }] };
      const rights = kind.authorRights(b, runNs);
      const holder = author(`kind-${n++}`, grants(rights));
      const ok = await create(holder.client, 'kind', spec, { dryRun: true });
      assert.equal(ok.status, 201, `${kind.field} ${JSON.stringify(b)} with ${JSON.stringify(rights)}: ${ok.message}`);
      for (const missing of rights) {
        const lacking = author(`kind-${n++}`, grants(rights.filter((r) => r !== missing)));
        const r = await create(lacking.client, 'kind', spec, { dryRun: true });
        assert.equal(r.status, 403, `${kind.field} ${JSON.stringify(b)} without ${JSON.stringify(missing)}: ${r.message}`);
        const resource = `${missing.resource}${missing.subresource ? `/${missing.subresource}` : ''}`;
        assert.ok(r.message.includes(`step "step": ${forbidden(lacking.user, missing.verb, resource, missing.group, where(missing))}`), r.message);
      }
    }
  }
});
