// Many signals at once on one run, over HTTP (per-run and broadcast) and kubectl: no 5xx, and the state
// ends as the last write left it, in the API server and in the server's answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SIGNALS, type ChaosRun, type Signal } from '../../src/api/types.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { call, idleRun, testSignalServer } from './helpers.ts';

const env = await testEnv('sig-race');
const { client, namespace: ns } = env;
let url: string;
let stopServer: () => Promise<void>;
before(async () => {
  await idleRun(client, ns, 'busy', { signalState: 'PAUSE' });
  const server = await testSignalServer(env);
  url = server.url;
  stopServer = server.stop;
});
after(async () => { await stopServer(); });

const kubectl = (signal: Signal) => promisify(execFile)(join(env.state.binDir, 'kubectl'),
  ['--kubeconfig', env.kubeconfig, 'patch', 'crun', '-n', ns, 'busy', '--type', 'merge', '-p', JSON.stringify({ spec: { signalState: signal } })]);
const apiSignal = async () => (await client.request<ChaosRun>('GET', paths.chaosRuns(ns, 'busy'))).spec.signalState;

describe('concurrent signals', () => {
  it('a burst of HTTP and kubectl signals: no 5xx, and the last write wins', async () => {
    const statuses: number[] = [];
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 90; i++) {
      const signal = SIGNALS[i % 2]; // RUN and PAUSE: STOP would be final once the operator saw it
      if (i % 9 === 0) writes.push(kubectl(signal));
      else if (i % 5 === 0) writes.push(client.request('PATCH', paths.chaosRuns(ns, 'busy'), { body: { spec: { signalState: signal } }, contentType: MERGE_PATCH }));
      else if (i % 3 === 0) writes.push(call(url, 'POST', `/${signal}${signal === 'PAUSE' && i % 2 ? '?for=5m' : ''}`).then((a) => statuses.push(a.status)));
      else writes.push(call(url, 'POST', `/runs/${ns}/busy/${signal}`).then((a) => statuses.push(a.status)));
      if (i % 10 === 0) writes.push(call(url, 'GET', '/').then((a) => statuses.push(a.status)));
    }
    await Promise.all(writes);
    assert.ok(statuses.length > 60);
    assert.deepEqual([...new Set(statuses)], [200], 'every HTTP request succeeded');

    // Then alternate doors, one write at a time: each one is what both doors read afterwards.
    const sequence: Array<[Signal, 'http' | 'kubectl']> = [['PAUSE', 'http'], ['RUN', 'kubectl'], ['PAUSE', 'kubectl'], ['RUN', 'http'], ['STOP', 'http']];
    for (const [signal, door] of sequence) {
      if (door === 'http') assert.equal((await call(url, 'POST', `/runs/${ns}/busy/${signal}`)).status, 200);
      else await kubectl(signal);
      assert.equal(await apiSignal(), signal);
      await eventually(`GET / to say ${signal}`, async () => (await call(url, 'GET', '/')).text === signal);
    }
  });
});
