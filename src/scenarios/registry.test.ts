// The registry against the contract and the schema: every registered kind has every part of
// ScenarioKind, every scenario body the CRD allows has exactly one kind, and every right a kind's
// authorRights names is one the admission policy checks (its behaviour on the API server is held to
// authorRights in test/packaging/admission-policy.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1Job } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { Scenario } from '../api/types.ts';
import type { ApiReader, AuthorRight, BodyField, BodyOf, ScenarioKind } from './kind.ts';
import { kindAndBody, kindOf, SCENARIO_KINDS } from './registry.ts';

const RUN_NS = 'chaos';
const ctx = { operatorImage: 'example.com/chaosrun:1', scenarioServiceAccount: 'chaosrun-scenario' };

/** Bodies of each kind (a new kind does not compile here until it has some). */
const SAMPLES: { [F in BodyField]: Array<BodyOf<F>> } = {
  job: [{ image: 'busybox:1.36', command: ['true'] }],
  podKill: [
    { namespace: 'shop', labelSelector: 'app=web', count: 1 },
    { namespacePattern: '^shop-', labelSelector: 'app=web', count: 1 },
    { namespace: 'shop', namePattern: '^web-', count: 2, image: 'mine:2' },
    { namespacePattern: '^shop-', namePattern: '^web-', count: 1, serviceAccountName: 'killer' },
  ],
  krknHub: [{ scenario: 'pod-scenarios', registry: 'quay.io/krkn-chaos', repository: 'krkn-hub' }],
  network: [
    { namespace: 'shop', labelSelector: 'app=web', direction: 'both', partition: {}, leaseSeconds: 4 },
    { namespacePattern: '^shop-', labelSelector: 'app=web', direction: 'egress', loss: { percent: 30 }, leaseSeconds: 4, to: [{ cidr: '198.19.0.0/24', ports: [443] }] },
    { namespace: 'shop', namePattern: '^web-', percent: 50, direction: 'ingress', bandwidth: { rate: '1mbit' }, leaseSeconds: 4, image: 'mine:2' },
    { namespace: 'shop', labelSelector: 'app=web', direction: 'ingress', delay: { latency: '100ms', jitter: '10ms' }, leaseSeconds: 4, to: [{ cidr: '198.19.0.0/24' }] },
  ],
  freeze: [{ namespace: 'shop', labelSelector: 'app=web' }, { namespacePattern: '^shop-', namePattern: '^web-', containers: ['app'], image: 'mine:2' }],
  stress: [{ namespace: 'shop', labelSelector: 'app=web', cpu: { workers: 1, load: 50 } }, { namespace: 'shop', labelSelector: 'app=web', memory: { size: '64Mi' }, serviceAccountName: 'loader' }],
  containerKill: [{ namespace: 'shop', labelSelector: 'app=web', signal: 'KILL' }, { namespacePattern: '^shop-', labelSelector: 'app=web', container: 'app', signal: 'TERM' }],
  nodeCordon: [{ labelSelector: 'pool=web' }, { names: ['web-1', 'web-2'], count: 2, allowOperatorNode: true }],
  nodeDrain: [{ labelSelector: 'pool=web', percent: 50, evictionTimeout: '60s' }, { names: ['web-1'], evictionTimeout: '30s', gracePeriodSeconds: 5 }],
};

const samples = (kind: ScenarioKind) => SAMPLES[kind.field] as Array<BodyOf<BodyField>>;

type S = { type?: string; properties?: Record<string, S>; items?: S; 'x-kubernetes-validations'?: Array<{ rule: string }> };
const crd = yaml.load(readFileSync(new URL('../../crds/chaosrun.yaml', import.meta.url), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: S } }> } };
const scenarioSchema = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec.properties!.scenarios.items!;
/** The scenario's body keys in the CRD: its object-valued properties (name and timeout are strings). */
const crdBodies = Object.entries(scenarioSchema.properties!).filter(([, s]) => s.type === 'object').map(([k]) => k);

test('every registered kind has every part of the interface, under a field of its own', () => {
  assert.ok(SCENARIO_KINDS.length >= 3);
  for (const kind of SCENARIO_KINDS) {
    assert.equal(typeof kind.field, 'string');
    for (const part of ['renderStep', 'dryRunPlan', 'authorRights'] as const) assert.equal(typeof kind[part], 'function', `${kind.field}.${part}`);
    if (kind.krknImport !== undefined) assert.equal(typeof kind.krknImport, 'function', `${kind.field}.krknImport`);
  }
  assert.equal(new Set(SCENARIO_KINDS.map((k) => k.field)).size, SCENARIO_KINDS.length, 'one kind per field');
  assert.ok(SCENARIO_KINDS.some((k) => k.krknImport), 'some kind imports krkn scenario files');
});

test('every scenario body of the CRD has exactly one registered kind, and the CRD allows exactly one body', () => {
  assert.deepEqual([...crdBodies].sort(), SCENARIO_KINDS.map((k) => k.field).sort());
  for (const body of crdBodies) assert.equal(SCENARIO_KINDS.filter((k) => k.field === body).length, 1, body);
  const rules = scenarioSchema['x-kubernetes-validations']!.map((v) => v.rule);
  const exactlyOne = rules.find((r) => r.endsWith('.filter(b, b).size() == 1'));
  assert.equal(exactlyOne, `[${SCENARIO_KINDS.map((k) => `has(self.${k.field})`).join(', ')}].filter(b, b).size() == 1`);
});

test('kindOf finds each body\'s kind; a scenario without a body this operator runs is refused', () => {
  for (const kind of SCENARIO_KINDS) {
    for (const body of samples(kind)) {
      const scenario = { name: 'step', [kind.field]: body } as Scenario;
      assert.equal(kindOf(scenario), kind);
      assert.equal(kindAndBody(scenario).body, body);
    }
  }
  assert.throws(() => kindOf({ name: 'empty' }), /^Error: scenario empty has no body this operator can run$/);
});

test('every kind renders a step pod and plans a dry run from its samples', async () => {
  const job = { metadata: { name: 'run-1-0', namespace: RUN_NS }, spec: { template: { spec: { containers: [{ name: 'scenario', image: 'x:1' }] } } } } as V1Job;
  const pod = (ns: string, name: string) => ({ metadata: { namespace: ns, name }, status: {} });
  const reader: ApiReader = {
    request: async <T>(_method: 'GET', path: string) => (path === '/api/v1/namespaces'
      ? { items: [{ metadata: { name: 'shop-a' } }] }
      : { items: [pod('shop', 'web-1'), pod('shop', 'web-2')] }) as T,
  };
  for (const kind of SCENARIO_KINDS) {
    for (const body of samples(kind)) {
      const step = kind.renderStep(body, ctx, { name: 'step', duration: '30s' });
      assert.equal(step.containers[0]?.name, 'scenario', kind.field);
      assert.ok(step.containers[0]?.image, kind.field);
      const plan = await kind.dryRunPlan(body, { client: reader, job: () => job }, { name: 'step', duration: '30s' });
      assert.equal(typeof plan.ok, 'boolean');
      assert.match(plan.plan, /\S/, kind.field);
    }
  }
});

/** The CEL authorizer call that checks `right` (the run's namespace is the request's). */
function celCheck(right: AuthorRight): RegExp {
  const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ns = right.namespace === undefined ? '' : right.namespace === RUN_NS ? '\\.namespace\\(request\\.namespace\\)' : '\\.namespace\\([^)]+\\)';
  const sub = right.subresource === undefined ? '' : `\\.subresource\\('${q(right.subresource)}'\\)`;
  return new RegExp(`authorizer\\.group\\('${q(right.group)}'\\)\\.resource\\('${q(right.resource)}'\\)${sub}${ns}\\.check\\('${q(right.verb)}'\\)`);
}

test('every right a kind names is checked by the admission policy', () => {
  const policy = readFileSync(new URL('../../charts/chaosrun-operator/templates/admission-policy.yaml', import.meta.url), 'utf8');
  const expected: Record<string, string[]> = {};
  for (const kind of SCENARIO_KINDS) {
    for (const body of samples(kind)) {
      const rights = kind.authorRights(body, RUN_NS);
      assert.ok(rights.length > 0, `${kind.field} ${JSON.stringify(body)}: a body that makes the operator act needs some right`);
      for (const r of rights) {
        assert.ok(celCheck(r).test(policy), `${kind.field} ${JSON.stringify(body)}: the policy checks ${JSON.stringify(r)} (${celCheck(r)})`);
        (expected[kind.field] ??= []).push(`${r.verb} ${r.group}/${r.resource} ${r.namespace ?? '(cluster)'}`);
      }
    }
  }
  // What each kind needs today, written out once so a change to a kind's rights is a change here too.
  assert.deepEqual(expected, {
    job: ['create batch/jobs chaos'],
    podKill: ['delete /pods shop', 'delete /pods (cluster)', 'create batch/jobs chaos', 'delete /pods shop', 'create batch/jobs chaos', 'delete /pods (cluster)'],
    krknHub: ['create batch/jobs chaos'],
    network: ['create /pods shop', 'create /pods (cluster)', 'create batch/jobs chaos', 'create /pods shop', 'create /pods shop'],
    freeze: ['create /pods shop', 'create batch/jobs chaos', 'create /pods (cluster)'],
    stress: ['create /pods shop', 'create batch/jobs chaos', 'create /pods shop'],
    containerKill: ['create /pods shop', 'create /pods (cluster)'],
    nodeCordon: ['patch /nodes (cluster)', 'patch /nodes (cluster)'],
    nodeDrain: ['patch /nodes (cluster)', 'create /pods (cluster)', 'patch /nodes (cluster)', 'create /pods (cluster)'],
  });
});
