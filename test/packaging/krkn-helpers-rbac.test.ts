// The chart's krkn-helpers rights, proven with the operator's own token: it may create a krkn helper
// namespace, delete the pods in it and delete it; the admission policy refuses it any other namespace
// (created or deleted) and the pods of any namespace without the marker, though RBAC alone would allow
// them (namespaces and pods' deletecollection are granted at the cluster scope).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KubeClient, KubeError } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { helperNamespaceObject } from '../../src/scenarios/krkn-helpers.ts';
import { mkRun } from '../helpers/run-fixture.ts';
import { eventually, testEnv, tokenKubeConfig } from '../helpers/env.ts';
import yaml from 'js-yaml';
import { chartDir, helmRunner } from './helm.ts';

const env = await testEnv('pkg-krkn');
const helm = helmRunner(env.state);

async function refusal(p: Promise<unknown>): Promise<string> {
  try { await p; return 'allowed'; } catch (err) { if (err instanceof KubeError) return `${err.status} ${err.message}`; throw err; }
}

test('the chart grants the krkn-helpers rights and no more; without the admission policy it renders no krkn-helpers policy', () => {
  const objs = (on: boolean) => (yaml.loadAll(helm.ok(['template', 'crun', chartDir, '--set', `admissionPolicy.enabled=${on}`])) as Array<{ kind: string; metadata: { name: string }; rules?: unknown }>)
    .filter((o) => o?.metadata?.name === 'crun-chaosrun-operator-krkn-helpers');
  const role = objs(true).find((o) => o.kind === 'ClusterRole');
  assert.deepEqual(role?.rules, [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['create', 'get', 'list', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['deletecollection'] },
  ]);
  assert.deepEqual(objs(true).map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  assert.deepEqual(objs(false).map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding']);
});

test('with the chart\'s RBAC and policy the operator reaches only krkn helper namespaces and their pods', async () => {
  const release = `kh-${randomBytes(3).toString('hex')}`;
  const fullname = `${release}-chaosrun-operator`;
  helm.ok(['install', release, chartDir, '--namespace', env.namespace, '--set', `watchNamespaces={${env.namespace}}`, '--wait', '--timeout', '180s']);
  const cleanup: string[] = [];
  try {
    const token = env.kubectl(['create', 'token', fullname, '-n', env.namespace, '--duration=1h']).trim();
    const operator = new KubeClient(tokenKubeConfig(env.kc, token));
    try {
      const run = mkRun({}, undefined, { uid: `0a1b2c3d-${randomBytes(2).toString('hex')}-4a6b-8c7d-9e0f1a2b3c4d`, namespace: env.namespace });
      const helper = helperNamespaceObject(run, 1, 0);
      const other = await env.createNamespace('pkg-krkn-other');
      const pod = (ns: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cpu-hog-abcde', namespace: ns }, spec: { containers: [{ name: 'c', image: 'x:1' }] } });

      // Allowed: its own helper namespace, the pods in it, and the namespace itself.
      await eventually('the policy in force (its binding is seen by the API server)', async () =>
        (await refusal(operator.request('POST', paths.namespaces(), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `chaosrun-krkn-nolabel-${randomBytes(2).toString('hex')}` } } }))).startsWith('422'), 20_000, 500);
      await operator.request('POST', paths.namespaces(), { body: helper });
      cleanup.push(helper.metadata.name);
      await env.client.request('POST', paths.pods(helper.metadata.name), { body: pod(helper.metadata.name) });
      await env.client.request('POST', paths.pods(other), { body: pod(other) });

      // Refused by the policy, with its message (RBAC alone would allow each).
      assert.match(await refusal(operator.request('POST', paths.namespaces(), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `anything-${randomBytes(2).toString('hex')}`, labels: helper.metadata.labels } } })),
        /^422 .*the operator creates only krkn helper namespaces/);
      assert.match(await refusal(operator.request('DELETE', paths.pods(other), { body: { gracePeriodSeconds: 0 } })), /^422 .*deletes pods only in krkn helper namespaces/);
      assert.match(await refusal(operator.request('DELETE', paths.namespaces(other))), /^422 .*deletes only krkn helper namespaces/);
      assert.notEqual(await refusal(operator.request('DELETE', paths.namespaces('default'))), 'allowed');
      assert.match(await refusal(operator.request('DELETE', paths.pods(other, 'cpu-hog-abcde'))), /^403 /, 'a single pod: not even RBAC');
      assert.equal((await env.client.request<{ items: unknown[] }>('GET', paths.pods(other))).items.length, 1, 'the other namespace\'s pod is there');

      await operator.request('DELETE', paths.pods(helper.metadata.name), { body: { gracePeriodSeconds: 0 } });
      assert.equal((await env.client.request<{ items: unknown[] }>('GET', paths.pods(helper.metadata.name))).items.length, 0);
      await operator.request('DELETE', paths.namespaces(helper.metadata.name));
    } finally {
      operator.close();
    }
  } finally {
    for (const ns of cleanup) await env.client.request('DELETE', paths.namespaces(ns)).catch(() => {});
    helm.ok(['uninstall', release, '--namespace', env.namespace, '--wait', '--timeout', '120s']);
  }
});
