// Least privilege, proven: the controller and the signal server run in-process with a token issued
// (TokenRequest) for the chart's own ServiceAccount, installed in namespaced mode, and drive a full
// ChaosRun through a PAUSE (over HTTP), a RUN (kubectl) and a broadcast STOP (over HTTP, writing the
// kill-switch record first with its one right on it). The same token is refused anything outside the
// chart's roles. The node agent runs in-process with its own account's token: its watches (the
// kill-switch record's by name) sync and it follows a holder, and every write is refused (its role is
// read-only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, KubeError, MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { startController } from '../../src/controller/manager.ts';
import { startSignalServer } from '../../src/signal/server.ts';
import { startAgent } from '../../src/agent/main.ts';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT } from '../../src/api/fault-holder.ts';
import { KILL_SWITCH_NAME, parseKillSwitch } from '../../src/api/kill-switch.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { eventually, testEnv, tokenKubeConfig as tokenKubeConfigFor } from '../helpers/env.ts';
import { createRun, getRun, listJobs, quietLog, waitForPhase } from '../helpers/operator.ts';
import { chartDir, helmRunner } from './helm.ts';

const env = await testEnv('pkg-lp');
const helm = helmRunner(env.state);

/** A kubeconfig for this plane that authenticates with nothing but `token`. */
const tokenKubeConfig = (token: string): KubeConfig => tokenKubeConfigFor(env.kc, token);

const token = (namespace: string, serviceAccount: string) =>
  env.kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=1h']).trim();

async function status(p: Promise<unknown>): Promise<number> {
  try { await p; return 200; } catch (err) { if (err instanceof KubeError) return err.status; throw err; }
}

test('with only the chart\'s RBAC, the controller and signal server run a ChaosRun through PAUSE and STOP', async () => {
  const releaseNs = env.namespace;
  const runNs = await env.createNamespace('pkg-lp-runs');
  const release = `lp-${randomBytes(3).toString('hex')}`;
  const fullname = `${release}-chaosrun-operator`;
  helm.ok(['install', release, chartDir, '--namespace', releaseNs, '--set', `watchNamespaces={${runNs}}`, '--wait', '--timeout', '180s']);
  const stops: Array<() => Promise<void>> = [];
  try {
    const operatorKc = tokenKubeConfig(token(releaseNs, fullname));
    const operator = new KubeClient(operatorKc);
    stops.push(async () => operator.close());

    // Outside the roles: refused.
    assert.equal(await status(operator.request('GET', `/api/v1/namespaces/${runNs}/secrets`)), 403, 'Secrets in the watched namespace');
    assert.equal(await status(operator.request('GET', `/api/v1/namespaces/${releaseNs}/secrets`)), 403, 'Secrets in its own namespace');
    assert.equal(await status(operator.request('GET', paths.chaosRuns())), 403, 'ChaosRuns outside the watched namespaces');
    assert.equal(await status(operator.request('DELETE', paths.pods(runNs, 'anything'))), 403, 'deleting pods');
    assert.equal(await status(operator.request('GET', paths.leases(releaseNs, 'someone-elses-lease'))), 403, 'another Lease');
    assert.equal(await status(operator.request('GET', paths.chaosRuns(runNs))), 200, 'its own ChaosRuns');
    // The console's Events and step logs, read when a user allowed to see them asks (no such pod: 404, not 403).
    assert.equal(await status(operator.request('GET', paths.events(runNs))), 200, 'Events in the watched namespace');
    assert.equal(await status(operator.request('GET', `${paths.pods(runNs, 'no-such-pod')}/log`)), 404, 'pod logs in the watched namespace');
    // The kill-switch record: patch on that one name, nothing else on ConfigMaps.
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } };
    assert.equal(await status(operator.request('POST', paths.configMaps(releaseNs), { body: configMap })), 403, 'creating a ConfigMap');
    assert.equal(await status(operator.request('PATCH', paths.configMaps(releaseNs, 'other'), { body: {}, contentType: MERGE_PATCH })), 403, 'patching another ConfigMap');
    assert.equal(await status(operator.request('GET', paths.configMaps(releaseNs, KILL_SWITCH_NAME))), 403, 'reading the record');
    assert.equal(await status(operator.request('PATCH', paths.configMaps(runNs, KILL_SWITCH_NAME), { body: {}, contentType: MERGE_PATCH })), 403, 'a record elsewhere');
    // The node agents' fault reports: the controller finds the agent pods in its own namespace, and only there.
    const agentPods = { query: { labelSelector: 'app.kubernetes.io/component=agent', fieldSelector: 'spec.nodeName=some-node' } };
    assert.equal(await status(operator.request('GET', paths.pods(releaseNs), agentPods)), 200, 'listing the agent pods in its namespace');
    assert.equal(await status(operator.request('DELETE', paths.pods(releaseNs, 'any'))), 403, 'deleting a pod there');
    // Node faults (src/cordon/cordoner.ts): watch the nodes it marked, patch nodes, list the pods on a node
    // anywhere and evict them; no other write on nodes, and the holders are watched where runs live.
    assert.equal(await status(operator.request('GET', paths.nodes(), { query: { labelSelector: 'chaosrun.dev/cordoned-by', watch: '1', timeoutSeconds: '1' } })), 200, 'watching marked nodes');
    assert.equal(await status(operator.request('PATCH', paths.nodes('no-such-node'), { body: {}, contentType: MERGE_PATCH })), 404, 'patching a node (none such: 404, not 403)');
    assert.equal(await status(operator.request('GET', paths.pods(), { query: { fieldSelector: 'spec.nodeName=some-node' } })), 200, 'listing the pods on a node, in any namespace');
    assert.equal(await status(operator.request('POST', paths.eviction(releaseNs, 'no-such-pod'), { body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'no-such-pod', namespace: releaseNs } } })), 404, 'evicting a pod (none such: 404, not 403)');
    assert.equal(await status(operator.request('DELETE', paths.nodes('no-such-node'))), 403, 'deleting a node');
    assert.equal(await status(operator.request('POST', paths.nodes(), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'x' } } })), 403, 'creating a node');
    assert.equal(await status(operator.request('GET', paths.pods(runNs), { query: { watch: '1', timeoutSeconds: '1' } })), 200, 'watching pods in the watched namespace (the holders)');
    assert.equal(await status(operator.request('GET', paths.pods(), { query: { watch: '1', timeoutSeconds: '1' } })), 403, 'watching pods everywhere');

    const controller = await startController({
      kubeconfig: operatorKc, namespaces: [runNs], log: quietLog(),
      leaderElection: { leaseName: fullname, leaseNamespace: releaseNs, retryPeriodMs: 500 },
    });
    stops.push(() => controller.stop());
    const signals = await startSignalServer({ kubeconfig: operatorKc, port: 0, bind: '127.0.0.1', auth: 'kubernetes', namespaces: [runNs], killSwitchNamespace: releaseNs, log: quietLog() });
    stops.push(() => signals.stop());
    await eventually('the controller to lead', () => controller.isLeader(), 30_000);

    // A user of the signal API: may get, list and patch ChaosRuns in the run namespace, nothing else.
    env.kubectl(['create', 'serviceaccount', 'signaller', '-n', runNs]);
    env.kubectl(['create', 'role', 'signaller', '-n', runNs, '--verb=get,list,patch', '--resource=chaosruns.chaosrun.dev']);
    env.kubectl(['create', 'rolebinding', 'signaller', '-n', runNs, '--role=signaller', `--serviceaccount=${runNs}:signaller`]);
    const userToken = token(runNs, 'signaller');
    const post = async (path: string) => {
      const res = await fetch(`${signals.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${userToken}` } });
      return { status: res.status, body: await res.text() };
    };
    assert.equal((await fetch(`${signals.url}/runs/${runNs}/lp/PAUSE`, { method: 'POST' })).status, 401, 'no token, no signal');

    await createRun(env.client, runNs, 'lp', {
      iterations: 4,
      scenarios: [{ name: 'a', job: { image: 'busybox', command: ['true'], podMetadata: { annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '3s' } } } }],
    });
    await eventually('the first step\'s Job', async () => (await listJobs(env.client, runNs, 'lp')).length === 1, 30_000);
    // The dead-man switch's renewal: the operator may move a step Job's deadline.
    const firstJob = (await listJobs(env.client, runNs, 'lp'))[0].name;
    assert.equal(await status(operator.request('PATCH', paths.jobs(runNs, firstJob), {
      body: { spec: { activeDeadlineSeconds: 120 } }, contentType: MERGE_PATCH,
    })), 200, 'renewing a step Job\'s activeDeadlineSeconds');

    const paused = await post(`/runs/${runNs}/lp/PAUSE`);
    assert.equal(paused.status, 200, paused.body);
    await waitForPhase(env.client, runNs, 'lp', ['Paused'], 15_000);
    await eventually('the running step recorded', async () => (await getRun(env.client, runNs, 'lp')).status?.history?.length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await listJobs(env.client, runNs, 'lp')).length, 1, 'no step starts while paused');

    env.kubectl(['patch', 'crun', 'lp', '-n', runNs, '--type', 'merge', '-p', '{"spec":{"signalState":"RUN"}}']);
    await eventually('the second step\'s Job', async () => (await listJobs(env.client, runNs, 'lp')).length === 2, 30_000);

    // The kill switch: the record first (the chart made it; the server may patch it), then the run.
    const stopped = await post('/STOP');
    assert.equal(stopped.status, 200, stopped.body);
    assert.equal(stopped.body, 'STOP: 1 run changed\n', 'no second line: the record was written');
    const record = await env.client.request<{ data?: Record<string, string> }>('GET', paths.configMaps(releaseNs, KILL_SWITCH_NAME));
    assert.deepEqual([...parseKillSwitch(record.data)!.runs], [`${runNs}/lp`]);
    assert.equal(record.data!.by, `system:serviceaccount:${runNs}:signaller via HTTP`);
    const done = await waitForPhase(env.client, runNs, 'lp', ['Stopped'], 20_000);
    assert.ok(done.status?.report, 'the report is written');
    await eventually('the running step\'s Job deleted', async () => (await listJobs(env.client, runNs, 'lp')).every((j) => !j.active || j.deleting), 20_000);
    const events = await env.client.request<{ items: Array<{ reason: string }> }>('GET', paths.events(runNs), { query: { fieldSelector: 'involvedObject.name=lp' } });
    assert.ok(events.items.length > 0, 'the controller recorded Events');
    const lease = await env.client.request<{ spec: { holderIdentity: string } }>('GET', paths.leases(releaseNs, fullname));
    assert.equal(lease.spec.holderIdentity, controller.identity);
  } finally {
    for (const stop of stops.reverse()) await stop();
    helm.ok(['uninstall', release, '--namespace', releaseNs, '--wait', '--timeout', '120s']);
  }
});

test('the node agent\'s account may only read pods and runs: the agent runs on its token, and every write is refused', async () => {
  const releaseNs = env.namespace;
  const runNs = await env.createNamespace('pkg-lp-agent');
  const release = `lpa-${randomBytes(3).toString('hex')}`;
  const agentSa = `${release}-chaosrun-operator-agent`;
  helm.ok(['install', release, chartDir, '--namespace', releaseNs, '--set', `watchNamespaces={${runNs}}`, '--wait', '--timeout', '180s']);
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  const client = new KubeClient(tokenKubeConfig(token(releaseNs, agentSa)));
  try {
    // Reads, cluster-wide (a holder may name targets in any namespace).
    assert.equal(await status(client.request('GET', paths.pods())), 200, 'list pods everywhere');
    assert.equal(await status(client.request('GET', paths.chaosRuns())), 200, 'list ChaosRuns everywhere');
    assert.equal(await status(client.request('GET', paths.pods(runNs), { query: { watch: '1', timeoutSeconds: '1' } })), 200, 'watch pods');
    // The kill-switch record, by name only: a get, and a list and a watch with its field selector.
    const byName = { fieldSelector: `metadata.name=${KILL_SWITCH_NAME}` };
    assert.equal(await status(client.request('GET', paths.configMaps(releaseNs, KILL_SWITCH_NAME))), 200, 'get the record');
    assert.equal(await status(client.request('GET', paths.configMaps(releaseNs), { query: byName })), 200, 'list the record by name');
    assert.equal(await status(client.request('GET', paths.configMaps(releaseNs), { query: { ...byName, watch: '1', timeoutSeconds: '1' } })), 200, 'watch the record by name');
    // Everything else: refused.
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'busybox' }] } };
    const refused: Array<[string, () => Promise<unknown>]> = [
      ['create a pod', () => client.request('POST', paths.pods(runNs), { body: pod })],
      ['delete a pod', () => client.request('DELETE', paths.pods(runNs, 'anything'))],
      ['patch a pod', () => client.request('PATCH', paths.pods(runNs, 'anything'), { body: {}, contentType: MERGE_PATCH })],
      ['exec in a pod', () => client.request('POST', `${paths.pods(runNs, 'anything')}/exec`)],
      ['patch a ChaosRun', () => client.request('PATCH', paths.chaosRuns(runNs, 'anything'), { body: {}, contentType: MERGE_PATCH })],
      ['write a ChaosRun status', () => client.request('PATCH', `${paths.chaosRuns(runNs, 'anything')}/status`, { body: {}, contentType: MERGE_PATCH })],
      ['read Secrets', () => client.request('GET', '/api/v1/secrets')],
      ['read nodes', () => client.request('GET', '/api/v1/nodes')],
      ['create Events', () => client.request('POST', paths.events(runNs), { body: {} })],
      ['list Jobs', () => client.request('GET', '/apis/batch/v1/jobs')],
      ['read Leases', () => client.request('GET', paths.leases(releaseNs, 'anything'))],
      ['list ConfigMaps', () => client.request('GET', paths.configMaps(releaseNs))],
      ['read another ConfigMap', () => client.request('GET', paths.configMaps(releaseNs, 'other'))],
      ['write the record', () => client.request('PATCH', paths.configMaps(releaseNs, KILL_SWITCH_NAME), { body: {}, contentType: MERGE_PATCH })],
    ];
    for (const [what, call] of refused) assert.equal(await status(call()), 403, what);

    // The agent itself on that token: its watches sync, and it follows a holder whose target is on its
    // node (no sandbox there: nothing is applied, and it says so) without a refused call.
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'chaosrun-agent-kc-')), 'kubeconfig');
    writeFileSync(kubeconfig, tokenKubeConfig(token(releaseNs, agentSa)).exportConfig(), { mode: 0o600 });
    let logged = '';
    const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { logged += String(chunk); done(); } }));
    agent = await startAgent({ kubeconfig, node: 'lp-node', proc: mkdtempSync(join(tmpdir(), 'chaosrun-agent-proc-')), log, operatorNamespace: releaseNs });
    await eventually('the agent\'s watches to sync', () => agent!.ready(), 30_000);
    await createRun(env.client, runNs, 'held', { scenarios: [{ name: 'a', job: { image: 'busybox', podMetadata: { annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '120s' } } } }] });
    await env.client.request('POST', paths.pods(runNs), { body: {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: 'holder', labels: { [LABEL_FAULT]: 'network', 'chaosrun.dev/run': 'held' },
        annotations: {
          [ANNOTATION_FAULT]: JSON.stringify({ kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4 }),
          [ANNOTATION_FAULT_TARGETS]: JSON.stringify([{ namespace: runNs, name: 'web', uid: '00000000-0000-4000-8000-000000000000', node: 'lp-node' }]),
        },
      },
      spec: { nodeName: 'kwok-node-0', containers: [{ name: 'holder', image: 'busybox' }], tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }] },
    } });
    await eventually('the agent to follow the holder to its target', () => logged.includes('target sandbox not found on this node yet'), 20_000);
    assert.doesNotMatch(logged, /forbidden|403/i, `no refused call:\n${logged.slice(-2000)}`);
  } finally {
    await agent?.stop();
    client.close();
    helm.ok(['uninstall', release, '--namespace', releaseNs, '--wait', '--timeout', '120s']);
  }
});
