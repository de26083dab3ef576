// The local control plane is a real one: version, namespaces, ConfigMaps, CRDs, Jobs run to Complete
// through kube-controller-manager, kube-scheduler and the kwok node, and kubectl works with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, testEnv } from './helpers/env.ts';
import { paths } from '../src/kube/paths.ts';
import { adminGet } from '../src/local/controlplane.ts';

const env = await testEnv('plane');
const { client, namespace } = env;

test('the API server answers /version with the pinned Kubernetes version', async () => {
  const pinned = readFileSync(join(env.state.binDir, '..', 'kubernetes-version'), 'utf8').trim();
  const goMod = readFileSync(join(import.meta.dirname, 'controlplane/kube/go.mod'), 'utf8');
  assert.match(goMod, new RegExp(`k8s.io/kubernetes ${pinned.replace(/\./g, '\\.')}\\b`));
  const version = await client.request<{ gitVersion: string; major: string; minor: string }>('GET', '/version');
  assert.equal(version.gitVersion, pinned);
  assert.equal(`v${version.major}.${version.minor}`, pinned.split('.').slice(0, 2).join('.'));
  const ready = await adminGet(env.state.dir, env.state.server, '/readyz');
  assert.equal(ready.status, 200);
});

test('a ConfigMap can be created and read back', async () => {
  await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { hello: 'world' } },
  });
  const cm = await client.request<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${namespace}/configmaps/cm`);
  assert.deepEqual(cm.data, { hello: 'world' });
});

test('a CRD can be created, becomes Established and serves objects', async () => {
  const group = `plane${Date.now()}.example.com`;
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${group}` },
    spec: {
      group, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
    },
  };
  await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
  try {
    await eventually('the CRD to be Established', async () => {
      const got = await client.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`);
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    const w = await eventually('the new resource to be served', () => client.request<{ spec: { size: number } }>('POST', `/apis/${group}/v1/namespaces/${namespace}/widgets`, {
      body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { size: 3 } },
    }));
    assert.equal(w.spec.size, 3);
  } finally {
    await client.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`);
  }
});

test('a Job runs to Complete through the scheduler, the kwok node and the Job controller', async () => {
  await client.request('POST', paths.jobs(namespace), {
    body: {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'hello' },
      spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } } },
    },
  });
  const job = await eventually('the Job to be Complete', async () => {
    const j = await client.request<{ status?: { succeeded?: number; conditions?: Array<{ type: string; status: string }> } }>('GET', paths.jobs(namespace, 'hello'));
    return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
  }, 60_000);
  assert.equal(job.status?.succeeded, 1);
  const pods = await client.request<{ items: Array<{ spec: { nodeName: string }; status: { phase: string } }> }>('GET', paths.pods(namespace), { query: { labelSelector: 'job-name=hello' } });
  assert.equal(pods.items.length, 1);
  assert.equal(pods.items[0].spec.nodeName, 'kwok-node-0');
  assert.equal(pods.items[0].status.phase, 'Succeeded');
});

test('kubectl works with the kubeconfig and knows the ChaosRun resource', () => {
  const version = JSON.parse(env.kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
  assert.equal(version.serverVersion.gitVersion, env.state.kubernetesVersion);
  const nodes = env.kubectl(['get', 'nodes', '-o', 'name']);
  assert.match(nodes, /node\/kwok-node-0/);
  const resources = env.kubectl(['api-resources', '--api-group=chaosrun.dev', '-o', 'name']);
  assert.match(resources, /chaosruns\.chaosrun\.dev/);
});
