import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJsonBody, rewriteBody, rewritePath, rewriteResponse, rewriteTarget } from './rewrite.ts';

const to = 'chaosrun-krkn-0123-1-0';

test('paths about namespace default move into the helper namespace, in every API group and the old watch prefix', () => {
  assert.equal(rewritePath('/api/v1/namespaces/default/pods', 'default', to), `/api/v1/namespaces/${to}/pods`);
  assert.equal(rewritePath('/api/v1/namespaces/default/pods/fedtools-42/exec', 'default', to), `/api/v1/namespaces/${to}/pods/fedtools-42/exec`);
  assert.equal(rewritePath('/apis/batch/v1/namespaces/default/jobs/chaos-latency12345', 'default', to), `/apis/batch/v1/namespaces/${to}/jobs/chaos-latency12345`);
  assert.equal(rewritePath('/api/v1/watch/namespaces/default/pods', 'default', to), `/api/v1/watch/namespaces/${to}/pods`);
  assert.equal(rewritePath('/api/v1/namespaces/default', 'default', to), `/api/v1/namespaces/${to}`);
});

test('other namespaces, namespaces whose name only starts so, and the cluster scope pass unchanged', () => {
  for (const p of ['/api/v1/namespaces/shop/pods', '/api/v1/namespaces/default-2/pods', '/api/v1/nodes', '/api/v1/pods',
    '/apis/batch/v1/jobs', '/api/v1/namespaces', '/version', '/apis/chaosrun.dev/v1alpha1/namespaces/shop/chaosruns/default']) {
    assert.equal(rewritePath(p, 'default', to), p);
  }
});

test('a query is kept, and a field selector on metadata.namespace=default is moved too', () => {
  assert.equal(rewriteTarget('/api/v1/namespaces/default/pods?labelSelector=controller-uid%3Dabc', 'default', to),
    `/api/v1/namespaces/${to}/pods?labelSelector=controller-uid%3Dabc`);
  const moved = new URL(`http://x${rewriteTarget('/api/v1/pods?fieldSelector=metadata.namespace%3Ddefault%2Cstatus.phase%3DRunning', 'default', to)}`);
  assert.equal(moved.pathname, '/api/v1/pods');
  assert.equal(moved.searchParams.get('fieldSelector'), `metadata.namespace=${to},status.phase=Running`);
  assert.equal(rewriteTarget('/api/v1/pods?fieldSelector=metadata.namespace%3Dshop', 'default', to), '/api/v1/pods?fieldSelector=metadata.namespace%3Dshop');
});

test('a JSON body naming namespace default is moved; any other body is sent as it came', () => {
  assert.deepEqual(JSON.parse(rewriteBody(JSON.stringify({ kind: 'Pod', metadata: { name: 'fedtools-1', namespace: 'default' } }), 'default', to)),
    { kind: 'Pod', metadata: { name: 'fedtools-1', namespace: to } });
  for (const b of ['{"kind":"Pod","metadata":{"name":"p"}}', '{"metadata":{"namespace":"shop"}}', '[{"op":"add"}]', 'not json', '']) {
    assert.equal(rewriteBody(b, 'default', to), b);
  }
  assert.ok(isJsonBody('application/json'));
  assert.ok(isJsonBody('application/json; charset=utf-8'));
  assert.ok(isJsonBody('application/strategic-merge-patch+json'));
  assert.ok(isJsonBody('application/merge-patch+json'));
  assert.ok(!isJsonBody('application/apply-patch+yaml'));
  assert.ok(!isJsonBody('application/vnd.kubernetes.protobuf'));
  assert.ok(!isJsonBody(undefined));
});

test('answers to moved requests say namespace default again: an object, a list\'s items, a watch event', () => {
  const pod = (ns: string) => ({ kind: 'Pod', metadata: { name: 'fedtools-1', namespace: ns } });
  assert.deepEqual(JSON.parse(rewriteResponse(JSON.stringify(pod(to)), 'default', to)), pod('default'));
  assert.deepEqual(JSON.parse(rewriteResponse(JSON.stringify({ kind: 'PodList', metadata: {}, items: [pod(to), pod(to)] }), 'default', to)).items, [pod('default'), pod('default')]);
  assert.deepEqual(JSON.parse(rewriteResponse(JSON.stringify({ type: 'ADDED', object: pod(to) }), 'default', to)).object, pod('default'));
  for (const b of [JSON.stringify(pod('shop')), '{"kind":"Status","code":404}', 'not json', '']) assert.equal(rewriteResponse(b, 'default', to), b);
});
