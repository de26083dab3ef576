// The kill switch's one write against the API server: POST /STOP writes the kill-switch record before it
// patches any run (resourceVersions are etcd revisions, so they order the writes), naming exactly the
// runs it stops; a record the server may not write (no right, or no ConfigMap: the chart makes it and
// no writer does) stops nothing, and the answer says so; a refused broadcast writes none. The node agents' side is test/agent/kill-switch.test.ts.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KILL_SWITCH_NAME, parseKillSwitch } from '../../src/api/kill-switch.ts';
import type { ChaosRun } from '../../src/api/types.ts';
import { KubeError } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { compareResourceVersions } from '../../src/kube/resource-version.ts';
import { chaosRunAccountToken, testEnv, tokenKubeConfig } from '../helpers/env.ts';
import { call, idleRun, setPhase, testSignalServer } from './helpers.ts';

const env = await testEnv('sig-ks');
const { client, namespace: ns } = env;
const stops: Array<() => Promise<void>> = [];
after(async () => { for (const stop of stops) await stop(); });

interface ConfigMap { metadata: { resourceVersion: string }; data?: Record<string, string> }
/** The empty ConfigMap the chart creates at install. */
const emptyRecord = (namespace: string) => client.request('POST', paths.configMaps(namespace), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KILL_SWITCH_NAME } } });
const record = (namespace: string) => client.request<ConfigMap>('GET', paths.configMaps(namespace, KILL_SWITCH_NAME));
const getRun = (namespace: string, name: string) => client.request<ChaosRun>('GET', paths.chaosRuns(namespace, name));

describe('POST /STOP and the kill-switch record', { concurrency: false }, () => {
  it('writes the record first, naming exactly the runs it then stops', async () => {
    const ops = await env.createNamespace('sig-ks-ops');
    await emptyRecord(ops);
    const outside = await env.createNamespace('sig-ks-outside');
    const names = Array.from({ length: 18 }, (_, i) => `run-${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n) => idleRun(client, ns, n)));
    await idleRun(client, ns, 'hidden', { publishStatus: false });
    await idleRun(client, ns, 'done');
    await setPhase(client, ns, 'done', 'Completed');
    await idleRun(client, outside, 'elsewhere');
    const server = await testSignalServer(env, { killSwitchNamespace: ops });
    stops.push(server.stop);

    const before = Date.now();
    const answer = await call(server.url, 'POST', '/STOP');
    const answered = Date.now();
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.text, 'STOP: 18 runs changed\n');

    const cm = await record(ops);
    const r = parseKillSwitch(cm.data)!;
    assert.ok(r, JSON.stringify(cm.data));
    assert.deepEqual([...r.runs], names.map((n) => `${ns}/${n}`), 'the 18 targets, sorted; not the unpublished, the finished or the out-of-scope run');
    assert.ok(r.stoppedAt >= before - 5 && r.stoppedAt <= answered + 5, `stoppedAt ${cm.data?.stoppedAt} within the request`);
    assert.match(cm.data!.stoppedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(cm.data!.by, 'anonymous via HTTP');
    assert.equal(cm.data!.scope, `namespace ${ns}`);

    // Before the first run patch: every stopped run's resourceVersion (no controller writes here, so it
    // is the STOP patch's) is newer than the record's.
    const runs = await Promise.all(names.map((n) => getRun(ns, n)));
    for (const run of runs) {
      assert.equal(run.spec.signalState, 'STOP');
      assert.equal(compareResourceVersions(cm.metadata.resourceVersion, run.metadata.resourceVersion), -1,
        `record ${cm.metadata.resourceVersion} before ${run.metadata.name}'s STOP ${run.metadata.resourceVersion}`);
    }
    const first = runs.map((x) => BigInt(x.metadata.resourceVersion!)).reduce((a, b) => (a < b ? a : b));
    console.log(`record resourceVersion ${cm.metadata.resourceVersion}, first run patch ${first}, last ${runs.map((x) => BigInt(x.metadata.resourceVersion!)).reduce((a, b) => (a > b ? a : b))}`);
    assert.equal((await getRun(ns, 'hidden')).spec.signalState, 'RUN');
    assert.equal((await getRun(outside, 'elsewhere')).spec.signalState, 'RUN');

    // A second throw replaces the record (one write, the same object); with nothing unfinished, none.
    await idleRun(client, ns, 'late');
    const again = await call(server.url, 'POST', '/STOP');
    assert.equal(again.text, 'STOP: 1 run changed, 18 already STOP\n');
    const cm2 = await record(ops);
    assert.equal(compareResourceVersions(cm.metadata.resourceVersion, cm2.metadata.resourceVersion), -1);
    assert.equal(parseKillSwitch(cm2.data)!.runs.size, 19);
  });

  it('a record the server may not write: the runs are stopped all the same, and the answer\'s second line says so', async () => {
    const scoped = await env.createNamespace('sig-ks-scoped');
    const ops = await env.createNamespace('sig-ks-ops-denied');
    await emptyRecord(ops);
    // The server's own account may read and patch runs there, and nothing on ConfigMaps.
    const token = await chaosRunAccountToken(client, scoped, 'stopper', ['get', 'list', 'watch', 'patch']);
    await idleRun(client, scoped, 'target');
    const server = await testSignalServer(env, { kubeconfig: tokenKubeConfig(env.kc, token), namespaces: [scoped], killSwitchNamespace: ops });
    stops.push(server.stop);
    const answer = await call(server.url, 'POST', '/STOP');
    assert.equal(answer.status, 200, answer.text);
    const lines = answer.text.split('\n');
    assert.equal(lines.length, 3, answer.text);
    assert.equal(lines[0], 'STOP: 1 run changed');
    assert.match(lines[1], new RegExp(`^kill-switch record ${ops}/chaosrun-kill-switch not written \\(configmaps "chaosrun-kill-switch" is forbidden: User "system:serviceaccount:${scoped}:stopper" cannot patch resource "configmaps"[^)]*\\); the runs were stopped all the same, and the node agents end each run's lasting faults as its STOP reaches them$`));
    assert.equal(lines[2], '');
    assert.equal((await getRun(scoped, 'target')).spec.signalState, 'STOP');
    assert.equal((await record(ops)).data, undefined, 'the record is as the chart made it');

    // No ConfigMap there (no chart): not created, the runs stopped all the same.
    const bare = await env.createNamespace('sig-ks-ops-bare');
    await idleRun(client, scoped, 'second');
    const admin = await testSignalServer(env, { namespaces: [scoped], killSwitchNamespace: bare });
    stops.push(admin.stop);
    const again = await call(admin.url, 'POST', '/STOP');
    assert.equal(again.text, `STOP: 1 run changed, 1 already STOP\nkill-switch record ${bare}/chaosrun-kill-switch not written (there is no ConfigMap chaosrun-kill-switch in namespace ${bare} (the chart creates it at install)); ` +
      'the runs were stopped all the same, and the node agents end each run\'s lasting faults as its STOP reaches them\n');
    await assert.rejects(record(bare), (err: unknown) => err instanceof KubeError && err.status === 404);
    assert.equal((await getRun(scoped, 'second')).spec.signalState, 'STOP');
  });

  it('a refused broadcast (RBAC) writes no record, and RUN or PAUSE never do', async () => {
    const ops = await env.createNamespace('sig-ks-ops-refused');
    await emptyRecord(ops);
    const scoped = await env.createNamespace('sig-ks-refused');
    await idleRun(client, scoped, 'guarded');
    const viewer = await chaosRunAccountToken(client, scoped, 'viewer', ['get', 'list']);
    const server = await testSignalServer(env, { auth: 'kubernetes', namespaces: [scoped], killSwitchNamespace: ops });
    stops.push(server.stop);
    const refused = await call(server.url, 'POST', '/STOP', { headers: { authorization: `Bearer ${viewer}` } });
    assert.equal(refused.status, 403, refused.text);
    const open = await testSignalServer(env, { namespaces: [scoped], killSwitchNamespace: ops });
    stops.push(open.stop);
    assert.equal((await call(open.url, 'POST', '/PAUSE')).text, 'PAUSE: 1 run changed\n');
    assert.equal((await call(open.url, 'POST', '/RUN')).text, 'RUN: 1 run changed\n');
    assert.equal((await record(ops)).data, undefined, 'nothing written');
    assert.equal((await getRun(scoped, 'guarded')).spec.signalState, 'RUN');
  });
});
