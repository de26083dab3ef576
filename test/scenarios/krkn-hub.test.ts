// krknHub and podKill steps render to Jobs that the real API server accepts (dryRun=All: the
// krkn-hub images are not pulled on the kwok node, and nothing needs to run to check the shape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import { repoRoot, testEnv } from '../helpers/env.ts';
import { paths } from '../../src/kube/paths.ts';
import { API_VERSION, KIND } from '../../src/api/constants.ts';
import type { ChaosRun, Scenario } from '../../src/api/types.ts';
import { renderJob } from '../../src/controller/render-job.ts';
import { KRKN_HOG_IMAGE } from '../../src/scenarios/kinds/krkn-hub.ts';

const env = await testEnv('krknhub');
const { client, namespace } = env;
const ctx = { operatorImage: 'ghcr.io/chaosrun/chaosrun-operator:test', scenarioServiceAccount: 'chaosrun-scenario' };

function run(scenarios: Scenario[]): ChaosRun {
  return {
    apiVersion: API_VERSION, kind: KIND,
    metadata: { name: 'hub', namespace, uid: '6f1f7c2e-0000-4000-8000-000000000001' },
    spec: { signalState: 'RUN', iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus: true, failurePolicy: 'Continue', historyLimit: 50, scenarios },
  };
}

const dryRun = (job: V1Job) => client.request<V1Job>('POST', paths.jobs(namespace), { body: job, query: { dryRun: 'All' } });

test('a krknHub step runs the krkn-hub image with its env and the kubeconfig Secret at /home/krkn/.kube/config', async () => {
  const job = renderJob(run([{
    name: 'pods',
    krknHub: {
      scenario: 'pod-scenarios', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub',
      env: { NAMESPACE: '^shop$', POD_LABEL: 'app=web', DISRUPTION_COUNT: '1', EXPECTED_RECOVERY_TIME: '60' },
      kubeconfigSecret: 'krkn-kubeconfig', serviceAccountName: 'krkn', resources: { limits: { memory: '512Mi' } },
      podMetadata: { labels: { team: 'sre' }, annotations: { 'sidecar.istio.io/inject': 'false' } },
    },
  }]), 'hub-1-0-pods', 1, 0, ctx);
  const accepted = await dryRun(job);
  const pod = accepted.spec!.template.spec!;
  const [c] = pod.containers;
  assert.equal(c.image, 'quay.io/krkn-chaos/krkn-hub:pod-scenarios');
  assert.deepEqual(c.env, [
    { name: 'NAMESPACE', value: '^shop$' }, { name: 'POD_LABEL', value: 'app=web' },
    { name: 'DISRUPTION_COUNT', value: '1' }, { name: 'EXPECTED_RECOVERY_TIME', value: '60' },
  ]);
  assert.deepEqual(c.volumeMounts, [{ name: 'kubeconfig', mountPath: '/home/krkn/.kube/config', subPath: 'config', readOnly: true }]);
  assert.equal(pod.volumes?.[0].name, 'kubeconfig');
  assert.equal(pod.volumes?.[0].secret?.secretName, 'krkn-kubeconfig');
  assert.equal(pod.serviceAccountName, 'krkn');
  assert.equal(c.resources?.limits?.memory, '512Mi');
  assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
  assert.equal(accepted.spec!.template.metadata!.labels!.team, 'sre');
  assert.equal(accepted.spec!.template.metadata!.annotations!['sidecar.istio.io/inject'], 'false');
});

test('registry, repository and tag override the image; no Secret means no volume', async () => {
  const job = renderJob(run([{
    name: 'cpu', krknHub: { scenario: 'node-cpu-hog', registry: 'registry.example.com/mirror', repository: 'krkn', tag: 'v4.0.1' },
  }]), 'hub-1-0-cpu', 1, 0, ctx);
  const accepted = await dryRun(job);
  const pod = accepted.spec!.template.spec!;
  assert.equal(pod.containers[0].image, 'registry.example.com/mirror/krkn:v4.0.1');
  assert.equal(pod.volumes, undefined);
  assert.equal(pod.containers[0].volumeMounts, undefined);
  // A hog step: the operator sets NAMESPACE (the step's own helper namespace) and a tagged IMAGE.
  assert.deepEqual(pod.containers[0].env, [
    { name: 'IMAGE', value: KRKN_HOG_IMAGE }, { name: 'NAMESPACE', value: 'chaosrun-krkn-6f1f7c2e000040008000000000000001-1-0' },
  ]);
  assert.equal(pod.terminationGracePeriodSeconds, 60);
  const plain = renderJob(run([{ name: 'pods', krknHub: { scenario: 'pod-scenarios', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', env: { NAMESPACE: '^a$' } } }]), 'hub-1-0-pods', 1, 0, ctx);
  assert.deepEqual(plain.spec!.template.spec!.containers[0].env, [{ name: 'NAMESPACE', value: '^a$' }], 'pod-scenarios: the env as given');
});

test('a network-chaos step reaches the API server only through the krkn API proxy, a native sidecar that moves namespace default into its helper namespace', async () => {
  const job = renderJob(run([{
    name: 'net',
    krknHub: { scenario: 'network-chaos', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub', env: { NODE_NAME: 'node-1', DURATION: '60' }, kubeconfigSecret: 'krkn-kubeconfig' },
  }]), 'hub-1-0-net', 1, 0, ctx);
  const accepted = await dryRun(job);
  const pod = accepted.spec!.template.spec!;
  const helpers = 'chaosrun-krkn-6f1f7c2e000040008000000000000001-1-0';
  const [proxy] = pod.initContainers ?? [];
  assert.equal(proxy?.restartPolicy, 'Always', 'a native sidecar: it runs beside krkn and stops after it');
  assert.equal(proxy.image, ctx.operatorImage);
  assert.deepEqual(proxy.args, ['krkn-proxy', '--to', helpers, '--from', 'default', '--port', '8001', '--write-kubeconfig', '/chaosrun-krkn-api/config', '--kubeconfig', '/chaosrun-krkn-credentials/config']);
  assert.ok(proxy.startupProbe?.exec, 'krkn starts only once the proxy has written its kubeconfig');
  const [krkn] = pod.containers;
  assert.deepEqual(krkn.env, [
    { name: 'NODE_NAME', value: 'node-1' }, { name: 'DURATION', value: '60' }, { name: 'KRKN_KUBE_CONFIG', value: '/chaosrun-krkn-api/config' },
  ]);
  // krkn gets the proxy's kubeconfig, never the Secret: no way to the API server around the proxy.
  assert.deepEqual(krkn.volumeMounts, [{ name: 'krkn-api', mountPath: '/chaosrun-krkn-api', readOnly: true }]);
  assert.deepEqual(pod.volumes?.map((v) => v.name), ['kubeconfig', 'krkn-api']);
  const hog = renderJob(run([{ name: 'cpu', krknHub: { scenario: 'node-cpu-hog', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub' } }]), 'hub-1-0-cpu', 1, 0, ctx);
  assert.equal(hog.spec!.template.spec!.initContainers, undefined, 'a hog step needs no proxy: krkn takes its NAMESPACE');
});

test('the CRD refuses krknHub steps whose krkn-hub defaults aim at nothing off OpenShift, naming the variable to set', () => {
  const apply = (krknHub: object) => env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], JSON.stringify({
    apiVersion: API_VERSION, kind: KIND, metadata: { name: 'bad' }, spec: { scenarios: [{ name: 'x', krknHub }] },
  }));
  const ok = (krknHub: object) => assert.match(apply(krknHub), /created \(server dry run\)/, JSON.stringify(krknHub));
  assert.throws(() => apply({ scenario: 'pod-scenarios' }), /krknHub pod-scenarios needs env NAMESPACE .*openshift-\.\* matches nothing off OpenShift/);
  assert.throws(() => apply({ scenario: 'pod-scenarios', env: { NAMESPACE: '^a$', POD_LABEL: 'app=web', NAME_PATTERN: '^web-' } }),
    /krknHub pod-scenarios takes POD_LABEL or NAME_PATTERN, not both: krkn-hub uses NAME_PATTERN only when POD_LABEL is empty/);
  ok({ scenario: 'pod-scenarios', env: { NAMESPACE: '^a$', NAME_PATTERN: '^web-' } });
  ok({ scenario: 'pod-scenarios', env: { NAMESPACE: '^a$', POD_LABEL: 'app=web', EXCLUDE_LABEL: 'keep=true', NODE_LABEL_SELECTOR: 'zone=a' } });
  assert.throws(() => apply({ scenario: 'container-scenarios', env: { NAMESPACE: 'shop' } }), /krknHub container-scenarios needs env NAMESPACE and LABEL_SELECTOR/);
  ok({ scenario: 'container-scenarios', env: { NAMESPACE: 'shop', LABEL_SELECTOR: 'app=web', CONTAINER_NAME: 'web' } });
  assert.throws(() => apply({ scenario: 'network-chaos' }), /krknHub network-chaos needs env LABEL_SELECTOR or NODE_NAME/);
  ok({ scenario: 'network-chaos', env: { NODE_NAME: 'node-1' } });
  assert.throws(() => apply({ scenario: 'node-cpu-hog', env: { NAMESPACE: 'default' } }), /krknHub hog scenarios take no env NAMESPACE: the operator runs krkn's hog pod in the step's own namespace/);
  assert.throws(() => apply({ scenario: 'node-memory-hog', env: { NODE_SELECTOR: 'worker' } }), /NODE_SELECTOR must be key=value: krkn ignores any other selector and hogs every node/);
  ok({ scenario: 'node-memory-hog', env: { NODE_SELECTOR: 'kubernetes.io/hostname=node-1', IMAGE: 'registry.local:5000/krkn-hog:v1' } });
  assert.throws(() => apply({ scenario: 'node-cpu-hog', env: { IMAGE: 'quay.io/krkn-chaos/krkn-hog' } }), /krknHub env IMAGE needs a tag or digest/);
  assert.throws(() => apply({ scenario: 'node-cpu-hog', env: { IMAGE: 'registry.local:5000/krkn-hog' } }), /krknHub env IMAGE needs a tag or digest/);
  ok({ scenario: 'node-cpu-hog' });
});

test('a podKill step runs `chaosrun scenario pod-kill` in the operator image as the scenario ServiceAccount', async () => {
  const job = renderJob(run([{
    name: 'kill', podKill: { namespace: 'shop', labelSelector: 'app=web', count: 2, gracePeriodSeconds: 0, recovery: { timeout: '90s' } },
  }]), 'hub-1-0-kill', 1, 0, ctx);
  const accepted = await dryRun(job);
  const pod = accepted.spec!.template.spec!;
  assert.equal(pod.serviceAccountName, 'chaosrun-scenario');
  assert.equal(pod.containers[0].image, ctx.operatorImage);
  assert.deepEqual(pod.containers[0].args, [
    'scenario', 'pod-kill', '--namespace=shop', '--label-selector=app=web', '--count=2', '--grace-period-seconds=0', '--recovery-timeout=90s',
  ]);
});

test('the examples are accepted by the API server (CRD schema and CEL rules included)', () => {
  for (const file of ['pod-kill.yaml', 'krkn-hub.yaml']) {
    const out = env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], readFileSync(join(repoRoot, 'examples', file), 'utf8'));
    assert.match(out, /chaosrun\.chaosrun\.dev\/\S+ created \(server dry run\)/, file);
  }
});

test('the CRD refuses a podKill without a target and a scenario with two bodies', () => {
  const apply = (scenario: object) => env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], JSON.stringify({
    apiVersion: API_VERSION, kind: KIND, metadata: { name: 'bad' }, spec: { scenarios: [{ name: 'x', ...scenario }] },
  }));
  assert.throws(() => apply({ podKill: { namespace: 'a' } }), /podKill needs labelSelector, namePattern or both/);
  assert.throws(() => apply({ podKill: { namespace: 'a', namespacePattern: 'b', namePattern: 'c' } }), /exactly one of namespace or namespacePattern/);
  assert.throws(() => apply({ podKill: { namespace: 'a', namePattern: 'c' }, krknHub: { scenario: 'pod-scenarios' } }), /exactly one body/);
});
