// The network body against the real API server: the examples are accepted, the CRD refuses what the
// holder could not run (with its one-line message), and the step's Job carries what the agents read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_VERSION, KIND } from '../../src/api/constants.ts';
import { ANNOTATION_FAULT, LABEL_FAULT, parseFaultSpec } from '../../src/api/fault-holder.ts';
import type { ChaosRun } from '../../src/api/types.ts';
import { renderJob } from '../../src/controller/render-job.ts';
import { repoRoot, testEnv } from '../helpers/env.ts';

const env = await testEnv('network-kind');
const { namespace } = env;
const apply = (scenario: object) => env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], JSON.stringify({
  apiVersion: API_VERSION, kind: KIND, metadata: { name: 'bad' }, spec: { scenarios: [{ name: 'x', ...scenario }] },
}));
const net = { namespace: 'shop', labelSelector: 'app=web', partition: {} };

test('every example is accepted by the API server (CRD schema and CEL rules included)', () => {
  const files = readdirSync(join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('network-partition.yaml') && files.includes('network-delay.yaml') && files.includes('demo-app.yaml'));
  for (const file of files) {
    const out = env.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], readFileSync(join(repoRoot, 'examples', file), 'utf8'));
    assert.match(out, /created \(server dry run\)/, file);
  }
});

test('the CRD refuses a network step without a duration, with two effects or none, count with percent, a bad peer', () => {
  assert.throws(() => apply({ network: net }), /a network scenario needs a duration/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, loss: { percent: 10 } } }), /network needs exactly one of partition, loss, bandwidth or delay/);
  assert.throws(() => apply({ duration: '10s', network: { namespace: 'shop', labelSelector: 'app=web' } }), /network needs exactly one of partition, loss, bandwidth or delay/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, count: 1, percent: 10 } }), /network takes count or percent, not both/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, namespacePattern: 'x' } }), /network needs exactly one of namespace or namespacePattern/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, to: [{ cidr: 'example.com' }] } }), /to\[0\]\.cidr/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, direction: 'sideways' } }), /direction/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, partition: undefined, bandwidth: { rate: 'fast' } } }), /rate/);
  assert.match(apply({ duration: '10s', network: net }), /created \(server dry run\)/);
});

test('the CRD takes a delay on ingress only, with a latency of 1ms to 10s and a jitter up to it', () => {
  const delay = (d: object, direction = 'ingress') => apply({ duration: '10s', network: { namespace: 'shop', labelSelector: 'app=web', direction, delay: d } });
  assert.match(delay({ latency: '100ms', jitter: '10ms' }), /created \(server dry run\)/);
  assert.match(delay({ latency: '1.5s' }), /created \(server dry run\)/);
  assert.throws(() => delay({ latency: '100ms' }, 'egress'), /network delay takes direction ingress: it holds packets where they arrive/);
  assert.throws(() => delay({ latency: '100ms' }, 'both'), /network delay takes direction ingress/);
  assert.throws(() => delay({ latency: '500us' }), /network delay latency must be 1ms to 10s/);
  assert.throws(() => delay({ latency: '11s' }), /network delay latency must be 1ms to 10s/);
  assert.throws(() => delay({ latency: '10ms', jitter: '20ms' }), /network delay jitter must be at most its latency/);
  assert.throws(() => delay({ latency: 'slow' }), /latency/);
  assert.throws(() => delay({ jitter: '1ms' }), /latency/);
  assert.throws(() => apply({ duration: '10s', network: { ...net, direction: 'ingress', delay: { latency: '1s' } } }), /network needs exactly one of partition, loss, bandwidth or delay/);
});

test('a delay step\'s Job carries the delay for the agents and says it in a few words', async () => {
  const created = JSON.parse(env.kubectl(['create', '--dry-run=server', '-o', 'json', '-n', namespace, '-f', '-'], JSON.stringify({
    apiVersion: API_VERSION, kind: KIND, metadata: { name: 'slow' },
    spec: { scenarios: [{ name: 'slow', duration: '45s', network: { namespace: 'shop', labelSelector: 'app=web', direction: 'ingress', delay: { latency: '100ms', jitter: '10ms' } } }] },
  }))) as ChaosRun;
  const job = renderJob({ ...created, metadata: { ...created.metadata, uid: 'u-2' } }, 'slow-1-0', 1, 0,
    { operatorImage: 'ghcr.io/chaosrun/chaosrun-operator:test', scenarioServiceAccount: 'chaosrun-scenario' });
  const tpl = job.spec!.template;
  assert.deepEqual(parseFaultSpec(tpl.metadata?.annotations?.[ANNOTATION_FAULT]), {
    kind: 'network', direction: 'ingress', effect: { delay: { latency: '100ms', jitter: '10ms' } }, leaseSeconds: 4,
  });
  assert.ok(tpl.spec!.containers[0].args?.includes('--what=delay 100ms ± 10ms (ingress)'), JSON.stringify(tpl.spec!.containers[0].args));
});

test('a network step\'s Job runs the holder and carries the fault for the agents, with the defaults the API server filled in', async () => {
  const created = JSON.parse(env.kubectl(['create', '--dry-run=server', '-o', 'json', '-n', namespace, '-f', '-'], JSON.stringify({
    apiVersion: API_VERSION, kind: KIND, metadata: { name: 'net' },
    spec: { scenarios: [{ name: 'cut', duration: '45s', network: { ...net, to: [{ cidr: '198.19.0.0/24', ports: [443] }] } }] },
  }))) as ChaosRun;
  const job = renderJob({ ...created, metadata: { ...created.metadata, uid: 'u-1' } }, 'net-1-0', 1, 0,
    { operatorImage: 'ghcr.io/chaosrun/chaosrun-operator:test', scenarioServiceAccount: 'chaosrun-scenario' });
  const tpl = job.spec!.template;
  assert.equal(tpl.metadata?.labels?.[LABEL_FAULT], 'network');
  assert.deepEqual(parseFaultSpec(tpl.metadata?.annotations?.[ANNOTATION_FAULT]), {
    kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4, to: [{ cidr: '198.19.0.0/24', ports: [443] }],
  });
  const c = tpl.spec!.containers[0];
  assert.deepEqual(c.args, ['scenario', 'network', '--namespace=shop', '--label-selector=app=web', '--duration=45s', '--what=partition (both, with 198.19.0.0/24:443)']);
  assert.deepEqual(c.env?.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]), [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]);
  assert.equal(tpl.spec!.serviceAccountName, 'chaosrun-scenario');
});
