// The krkn API proxy against the real API server: what a client makes in namespace `default` through it
// is made in the step's helper namespace instead, found there by the same client, and never in
// `default`; everything about other namespaces and the cluster scope is as without it; an API server it
// cannot reach is a Kubernetes Status (503), not a hung or reset connection. (Exec over WebSocket, which
// krkn's network-chaos uses on its helper pod, is proven on the real node: test/e2e/krkn-steps.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKrknProxy, type RunningKrknProxy } from '../../src/krkn-proxy/server.ts';
import { createLogger } from '../../src/log.ts';
import { paths } from '../../src/kube/paths.ts';
import { testEnv } from '../helpers/env.ts';

const env = await testEnv('krkn-proxy');
const helpers = await env.createNamespace('krkn-proxy-helpers');
const dir = mkdtempSync(join(tmpdir(), 'krkn-proxy-'));
const proxyKubeconfig = join(dir, 'config');
let proxy: RunningKrknProxy;

/** kubectl as krkn would be: the proxy's kubeconfig only (asynchronous: the proxy runs in this process). */
function viaProxy(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(join(env.state.binDir, 'kubectl'), ['--kubeconfig', proxyKubeconfig, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')} (through the proxy) failed: ${stderr || err.message}`)); else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

const names = (list: { items: { metadata?: { name?: string } }[] }) => list.items.map((i) => i.metadata?.name);

before(async () => {
  proxy = await startKrknProxy({ kubeconfig: env.kubeconfig, from: 'default', to: helpers, host: '127.0.0.1', port: 0, kubeconfigOut: proxyKubeconfig, log: createLogger('krkn-proxy-test', 'warn') });
});
after(async () => {
  await proxy?.close();
  for (const [kind, name] of [['pods', 'fedtools-4242'], ['jobs', 'chaos-latency12345']] as const) {
    // Whatever the proxy may have let through to `default` (it must not): gone after the test.
    await env.client.request('DELETE', kind === 'pods' ? paths.pods('default', name) : paths.jobs('default', name), { query: { gracePeriodSeconds: 0 } }).catch(() => {});
  }
});

test('the kubeconfig it writes names the proxy on loopback and holds no credentials', () => {
  const text = readFileSync(proxyKubeconfig, 'utf8');
  assert.match(text, new RegExp(`server: ${proxy.url.replace(/[.]/g, '\\.')}`));
  assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.doesNotMatch(text, /token|client-key|client-certificate|password/);
});

test('a pod and a Job made in namespace default through it are made in the helper namespace, and found there through it', async () => {
  // krkn's network-chaos helpers as its templates make them (no namespace in the body for the Job,
  // `default` in the pod's, which the proxy moves too).
  await viaProxy(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fedtools-4242', namespace: 'default' },
    spec: { containers: [{ name: 'fedtools', image: 'quay.io/krkn-chaos/krkn:tools', command: ['/bin/sh', '-c', 'sleep infinity'] }] },
  }));
  await viaProxy(['create', '-n', 'default', '-f', '-'], JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'chaos-latency12345' },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'networkchaos', image: 'quay.io/krkn-chaos/krkn:tools', command: ['/bin/sh', '-c', 'sleep 1'] }] } } },
  }));

  const helperPods = await env.client.request<{ items: { metadata?: { name?: string } }[] }>('GET', paths.pods(helpers));
  assert.ok(names(helperPods).includes('fedtools-4242'), `the pod is in ${helpers}: ${names(helperPods).join(', ')}`);
  const helperJobs = await env.client.request<{ items: { metadata?: { name?: string } }[] }>('GET', paths.jobs(helpers));
  assert.deepEqual(names(helperJobs), ['chaos-latency12345']);

  // Nothing of it in `default`, as the API server (not the proxy) says.
  const defaultPods = await env.client.request<{ items: { metadata?: { name?: string } }[] }>('GET', paths.pods('default'));
  assert.ok(!names(defaultPods).includes('fedtools-4242'));
  const defaultJobs = await env.client.request<{ items: { metadata?: { name?: string } }[] }>('GET', paths.jobs('default'));
  assert.ok(!names(defaultJobs).includes('chaos-latency12345'));

  // Through the proxy, krkn finds what it made where it thinks it is: get, label-selected list, delete.
  // (The answers say `default`, where krkn believes it works; the API server above said where it is.)
  assert.equal(await viaProxy(['get', 'pod', 'fedtools-4242', '-n', 'default', '-o', 'jsonpath={.metadata.namespace}']), 'default');
  // A watch through it sees what happens in the helper namespace, as events in `default`.
  const watching = viaProxy(['get', 'configmaps', '-n', 'default', '--watch-only', '-o', 'jsonpath={.metadata.name}{" "}{.metadata.namespace}{"\\n"}', '--request-timeout=4s'])
    .catch((err: Error) => err.message);
  await new Promise((r) => setTimeout(r, 1500));
  await env.client.request('POST', paths.configMaps(helpers), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched' } } });
  assert.match(await watching, /^watched default$/m, 'the watch saw the ConfigMap made in the helper namespace, in default');
  const uid = await viaProxy(['get', 'job', 'chaos-latency12345', '-n', 'default', '-o', 'jsonpath={.metadata.uid}']);
  assert.match(await viaProxy(['get', 'pods', '-n', 'default', '-l', `controller-uid=${uid}`, '-o', 'name']), /^(pod\/chaos-latency12345-\w+\n)?$/);
  await viaProxy(['delete', 'pod', 'fedtools-4242', '-n', 'default', '--grace-period=0', '--force', '--wait=false']);
  const after = await env.client.request<{ items: { metadata?: { name?: string; deletionTimestamp?: string } }[] }>('GET', paths.pods(helpers));
  assert.ok(!after.items.some((p) => p.metadata?.name === 'fedtools-4242' && !p.metadata.deletionTimestamp), 'the delete reached the helper namespace');
});

test('other namespaces and the cluster scope are as without it', async () => {
  await viaProxy(['create', 'configmap', 'beside', '-n', env.namespace, '--from-literal=a=b']);
  assert.equal(env.kubectl(['get', 'configmap', 'beside', '-n', env.namespace, '-o', 'jsonpath={.data.a}']), 'b');
  assert.match(await viaProxy(['get', 'nodes', '-o', 'name']), /^node\//m);
  assert.match(await viaProxy(['get', 'namespace', env.namespace, '-o', 'name']), new RegExp(`^namespace/${env.namespace}$`, 'm'));
});

test('an API server it cannot reach is answered with a Kubernetes Status 503 naming why', async () => {
  const gone = join(dir, 'unreachable');
  const kc = readFileSync(env.kubeconfig, 'utf8').replace(/server: https:\/\/[^\s]+/, 'server: https://127.0.0.1:1');
  writeFileSync(gone, kc);
  const dead = await startKrknProxy({ kubeconfig: gone, from: 'default', to: helpers, host: '127.0.0.1', port: 0, log: createLogger('krkn-proxy-test', 'silent') });
  try {
    const res = await fetch(`${dead.url}/api/v1/namespaces/default/pods`);
    assert.equal(res.status, 503);
    const body = await res.json() as { kind: string; code: number; message: string };
    assert.equal(body.kind, 'Status');
    assert.equal(body.code, 503);
    assert.match(body.message, /could not reach the API server: .*ECONNREFUSED/);
  } finally {
    await dead.close();
  }
});
