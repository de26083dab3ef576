// The API server itself refuses invalid ChaosRuns, with a message that names the field; defaults
// are applied; `kubectl explain` documents the fields; the TypeScript types and the CRD agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot, testEnv } from '../helpers/env.ts';
import { paths } from '../../src/kube/paths.ts';
import { KubeError } from '../../src/kube/client.ts';
import { FAULT_END_REASONS, FAULT_RECORDS_LIMIT, type ChaosRun, type ChaosRunSpec, type ChaosRunStatus } from '../../src/api/types.ts';

const env = await testEnv('validation');
const { client, namespace: ns } = env;
const step = { name: 'a', job: { image: 'busybox' } };

async function refused(spec: Record<string, unknown>, expected: RegExp): Promise<void> {
  const err = await client.request('POST', paths.chaosRuns(ns), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { generateName: 'bad-' }, spec },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof KubeError, `expected the API server to refuse ${JSON.stringify(spec)}`);
  assert.equal(err.status, 422);
  assert.match(err.message, expected);
}

test('a bad signal enum is refused', () => refused({ signalState: 'HALT', scenarios: [step] }, /spec\.signalState: Unsupported value: "HALT"/));
test('iterations 0 is refused', () => refused({ iterations: 0, scenarios: [step] }, /spec\.iterations: Invalid value: 0: .*greater than or equal to 1/));
test('an empty scenario list is refused', () => refused({ scenarios: [] }, /spec\.scenarios: Invalid value: .*at least 1 item/));
test('a missing scenario list is refused', () => refused({}, /spec\.scenarios: Required value/));
test('two bodies in one scenario are refused', () => refused(
  { scenarios: [{ name: 'a', job: { image: 'x' }, krknHub: { scenario: 'pod-scenarios' } }] },
  /spec\.scenarios\[0\]: Invalid value: .*exactly one body/));
test('a scenario with no body is refused', () => refused({ scenarios: [{ name: 'a' }] }, /exactly one body/));
test('duplicate scenario names are refused', () => refused({ scenarios: [step, step] }, /spec\.scenarios\[1\]: Duplicate value/));
test('a scenario name that is not a DNS label is refused', () => refused({ scenarios: [{ ...step, name: 'Bad_Name' }] }, /spec\.scenarios\[0\]\.name: Invalid value/));
test('a bad duration is refused', () => refused({ waitDuration: '10 minutes', scenarios: [step] }, /spec\.waitDuration: Invalid value/));
test('a bad failure policy is refused', () => refused({ failurePolicy: 'Retry', scenarios: [step] }, /spec\.failurePolicy: Unsupported value/));
test('a podKill without a namespace is refused', () => refused({ scenarios: [{ name: 'k', podKill: { labelSelector: 'app=web' } }] }, /exactly one of namespace or namespacePattern/));

test('a freeze or stress without a duration is refused', async () => {
  await refused({ scenarios: [{ name: 'f', freeze: { namespace: 'shop', labelSelector: 'app=web' } }] }, /a freeze scenario needs a duration/);
  await refused({ scenarios: [{ name: 's', stress: { namespace: 'shop', labelSelector: 'app=web', cpu: { workers: 1, load: 50 } } }] }, /a stress scenario needs a duration/);
});
test('a stress with neither cpu nor memory, or out-of-range ones, is refused', async () => {
  await refused({ scenarios: [{ name: 's', duration: '1m', stress: { namespace: 'shop', labelSelector: 'app=web' } }] }, /stress needs cpu, memory or both/);
  await refused({ scenarios: [{ name: 's', duration: '1m', stress: { namespace: 'shop', labelSelector: 'app=web', cpu: { workers: 1, load: 150 } } }] }, /spec\.scenarios\[0\]\.stress\.cpu\.load: Invalid value: 150/);
  await refused({ scenarios: [{ name: 's', duration: '1m', stress: { namespace: 'shop', labelSelector: 'app=web', memory: { size: '96MB' } } }] }, /spec\.scenarios\[0\]\.stress\.memory\.size: Invalid value: "96MB"/);
});
test('a containerKill with an unknown signal or no target is refused', async () => {
  await refused({ scenarios: [{ name: 'k', containerKill: { namespace: 'shop', labelSelector: 'app=web', signal: 'STOP' } }] }, /spec\.scenarios\[0\]\.containerKill\.signal: Unsupported value: "STOP"/);
  await refused({ scenarios: [{ name: 'k', containerKill: { namespace: 'shop' } }] }, /containerKill needs labelSelector, namePattern or both/);
});

test('defaults are applied by the API server', async () => {
  const created = await client.request<ChaosRun>('POST', paths.chaosRuns(ns), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name: 'defaults' }, spec: { scenarios: [step] } },
  });
  assert.deepEqual(
    { ...created.spec, scenarios: undefined },
    { signalState: 'RUN', iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus: true, failurePolicy: 'Continue', historyLimit: 50, deadManSeconds: 120, dryRun: false, scenarios: undefined },
  );
});

test('kubectl explain documents the signal', () => {
  const out = env.kubectl(['explain', 'chaosrun.spec.signalState']);
  assert.match(out, /RUN injects chaos; PAUSE starts no new step/);
  assert.match(out, /enum: RUN, PAUSE, STOP|ENUM:\s+RUN\s+PAUSE\s+STOP|"RUN"/);
});

// Keys of a fully populated object of each type, so a field added to one side only fails here.
const fullGate = {
  name: '',
  rollout: { kind: 'Deployment' as const, namespace: '', name: '', labelSelector: '' },
  prometheus: { url: '', query: '', comparison: '', interval: '', bearerTokenSecret: { name: '', key: '' }, onError: 'Hold' as const },
  alerts: { url: '', severity: '', matchers: '', interval: '', bearerTokenSecret: { name: '', key: '' }, onError: 'Hold' as const },
  schedule: { timeZone: '', allowed: [{ days: ['Mon' as const], date: '', start: '', end: '' }], blackout: [{ days: ['Mon' as const], date: '', start: '', end: '' }] },
};
const fullSpec: Required<ChaosRunSpec> = {
  signalState: 'RUN', pauseUntil: '', iterations: 1, daemonMode: false, waitDuration: '', publishStatus: true, failurePolicy: 'Continue', historyLimit: 1,
  scenarios: [{
    name: '', timeout: '', duration: '',
    job: { image: '', command: [], args: [], env: [{ name: '', value: '', valueFrom: {} }], serviceAccountName: '', resources: { limits: {}, requests: {} }, podMetadata: { labels: {}, annotations: {} } },
    podKill: { namespace: '', namespacePattern: '', labelSelector: '', namePattern: '', count: 1, gracePeriodSeconds: 0, recovery: { timeout: '' }, serviceAccountName: '', image: '' },
    krknHub: { scenario: '', registry: '', repository: '', tag: '', env: {}, kubeconfigSecret: '', serviceAccountName: '', resources: { limits: {}, requests: {} }, podMetadata: { labels: {}, annotations: {} } },
    network: {
      namespace: '', namespacePattern: '', labelSelector: '', namePattern: '', count: 1, percent: 1, direction: 'both',
      to: [{ cidr: '', ports: [1] }], partition: {}, loss: { percent: 1 }, bandwidth: { rate: '' }, delay: { latency: '', jitter: '' }, leaseSeconds: 4, serviceAccountName: '', image: '',
    },
    freeze: { namespace: '', namespacePattern: '', labelSelector: '', namePattern: '', count: 1, percent: 1, containers: [''], serviceAccountName: '', image: '' },
    stress: {
      namespace: '', namespacePattern: '', labelSelector: '', namePattern: '', count: 1, percent: 1, containers: [''], serviceAccountName: '', image: '',
      cpu: { workers: 1, load: 1 }, memory: { size: '' }, node: false,
    },
    containerKill: { namespace: '', namespacePattern: '', labelSelector: '', namePattern: '', count: 1, percent: 1, container: '', signal: 'KILL', restartTimeout: '', serviceAccountName: '', image: '' },
    nodeCordon: { labelSelector: '', names: [''], count: 1, percent: 1, allowOperatorNode: false },
    nodeDrain: { labelSelector: '', names: [''], count: 1, percent: 1, allowOperatorNode: false, evictionTimeout: '', gracePeriodSeconds: 0 },
  }],
  gates: { pauseWhen: [fullGate], stopWhen: [fullGate] },
  deadManSeconds: 120,
  dryRun: false,
};
const fullStatus: Required<ChaosRunStatus> = {
  phase: 'Running', observedSignal: 'RUN', observedGeneration: 1, iteration: 1, step: { index: 0, name: '' }, progress: '', activeJob: '',
  startTime: '', completionTime: '', nextStepTime: '', counts: { succeeded: 0, failed: 0, aborted: 0, deadManSwitch: 0 }, iterationsCompleted: 0,
  conditions: [{ type: '', status: 'True', reason: '', message: '', lastTransitionTime: '', observedGeneration: 1 }],
  history: [{ iteration: 1, stepIndex: 0, step: '', job: '', result: 'Running', reason: 'DeadManSwitch', startTime: '', endTime: '', message: '',
    faults: [{ kind: '', pods: 1, since: '', until: '', reason: 'Paused' }] }],
  transitions: [{ time: '', kind: 'Signal', signal: 'PAUSE', pauseUntil: '', source: '', gate: '', message: '' }],
  report: { reason: 'Completed', message: '', iterationsCompleted: 0, stepsSucceeded: 0, stepsFailed: 0, stepsAborted: 0, stepsEndedByDeadManSwitch: 0, startTime: '', endTime: '', durationSeconds: 0, gatedSeconds: 0, dryRun: true },
  gatedSince: '', gatedSeconds: 0,
  faults: { step: '', kind: '', targets: [{ namespace: '', pod: '', node: '' }], since: '', leaseSeconds: 4, inForce: 1 }, faultSummary: '',
};

type Schema = { properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; 'x-kubernetes-preserve-unknown-fields'?: boolean };
function schemaPaths(s: Schema, prefix: string, out: Set<string>): void {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const p = `${prefix}.${k}`;
    out.add(p);
    if (v.additionalProperties || v['x-kubernetes-preserve-unknown-fields']) continue;
    schemaPaths(v.items ?? v, p, out);
  }
}
function objectPaths(o: unknown, prefix: string, out: Set<string>, leafObjects: Set<string>): void {
  if (Array.isArray(o)) { objectPaths(o[0], prefix, out, leafObjects); return; }
  if (!o || typeof o !== 'object' || leafObjects.has(prefix)) return;
  for (const [k, v] of Object.entries(o)) { out.add(`${prefix}.${k}`); objectPaths(v, `${prefix}.${k}`, out, leafObjects); }
}

test('the TypeScript types and the CRD schema name the same fields', () => {
  const crd = yaml.load(readFileSync(join(repoRoot, 'crds/chaosrun.yaml'), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } };
  const root = crd.spec.versions[0].schema.openAPIV3Schema.properties!;
  for (const [part, sample] of [['spec', fullSpec], ['status', fullStatus]] as const) {
    const fromSchema = new Set<string>();
    schemaPaths(root[part], part, fromSchema);
    const open = new Set([...fromSchema].filter((p) => {
      const leaf = p.split('.').slice(1).reduce<Schema | undefined>((s, k) => (s?.items ?? s)?.properties?.[k], root[part]);
      return leaf?.additionalProperties || leaf?.['x-kubernetes-preserve-unknown-fields'];
    }));
    const fromType = new Set<string>();
    objectPaths(sample, part, fromType, open);
    assert.deepEqual([...fromType].sort(), [...fromSchema].sort(), `${part}: types and CRD differ`);
  }
});

test('the CRD keeps a step\'s fault records as decide writes them: the same reasons, the same limit, and takes a status with them', async () => {
  const crd = yaml.load(readFileSync(join(repoRoot, 'crds/chaosrun.yaml'), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } };
  type Records = Schema & { maxItems?: number; items: Schema & { properties: { reason: { enum: string[] } } } };
  const records = crd.spec.versions[0].schema.openAPIV3Schema.properties!.status.properties!.history.items!.properties!.faults as Records;
  assert.deepEqual(records.items.properties.reason.enum, [...FAULT_END_REASONS]);
  assert.equal(records.maxItems, FAULT_RECORDS_LIMIT);
  const run = await client.request<ChaosRun>('POST', paths.chaosRuns(ns), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name: 'fault-records' }, spec: { signalState: 'PAUSE', scenarios: [step] } },
  });
  const record = { kind: 'partition', pods: 2, since: '2026-01-01T00:00:01Z', until: '2026-01-01T00:00:04Z', reason: 'Paused' };
  const history = [{ iteration: 1, stepIndex: 0, step: 'a', job: 'j', result: 'Running', startTime: '2026-01-01T00:00:00Z', faults: [record] }];
  const written = await client.request<ChaosRun>('PATCH', `${paths.chaosRuns(ns, run.metadata.name)}/status`, {
    body: { status: { history } }, contentType: 'application/merge-patch+json',
  });
  assert.deepEqual(written.status?.history?.[0].faults, [record]);
  await assert.rejects(client.request('PATCH', `${paths.chaosRuns(ns, run.metadata.name)}/status`, {
    body: { status: { history: [{ ...history[0], faults: [{ ...record, reason: 'Vanished' }] }] } }, contentType: 'application/merge-patch+json',
  }), /Unsupported value: "Vanished"/);
});
