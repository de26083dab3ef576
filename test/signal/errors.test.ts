// Bad input gets a clear answer and changes nothing: every refusal of the signal server, each followed
// by a check that the run's resourceVersion did not move.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { ChaosRun } from '../../src/api/types.ts';
import { paths } from '../../src/kube/paths.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { call, idleRun, setPhase, testSignalServer } from './helpers.ts';

const env = await testEnv('sig-errors');
const { client, namespace: ns } = env;
let url: string;
let stopServer: () => Promise<void>;

const rv = async (name: string) => (await client.request<ChaosRun>('GET', paths.chaosRuns(ns, name))).metadata.resourceVersion;
/** Runs `act` and asserts no run in the namespace changed. */
async function unchanged(act: () => Promise<void>): Promise<void> {
  const before = await Promise.all(['live', 'done', 'hidden'].map(rv));
  await act();
  assert.deepEqual(await Promise.all(['live', 'done', 'hidden'].map(rv)), before, 'no run changed');
}

before(async () => {
  await idleRun(client, ns, 'live', { signalState: 'PAUSE' });
  await idleRun(client, ns, 'done');
  await setPhase(client, ns, 'done', 'Completed');
  await idleRun(client, ns, 'hidden', { publishStatus: false });
  const server = await testSignalServer(env);
  url = server.url;
  stopServer = server.stop;
  await eventually('the finished run in the cache', async () => (await call(url, 'GET', `/runs/${ns}/done`)).json<{ phase?: string }>().phase === 'Completed');
});
after(async () => { await stopServer(); });

describe('signal server errors', () => {
  it('unknown paths are 404, matched exactly and case-sensitively', async () => {
    await unchanged(async () => {
      for (const [method, path] of [['POST', '/stop'], ['POST', '/STOP/'], ['POST', '/Stop'], ['GET', '/nope'], ['POST', `/runs/${ns}`], ['POST', `/runs/${ns}/live/STOP/x`], ['GET', '/runs/']]) {
        const a = await call(url, method, path);
        assert.equal(a.status, 404, `${method} ${path}`);
        assert.equal(a.json().reason, 'NotFound');
        assert.match(a.headers.get('content-type')!, /application\/json/);
      }
    });
  });

  it('a known path with the wrong method is 405 with Allow', async () => {
    await unchanged(async () => {
      const cases: Array<[string, string, string]> = [
        ['GET', '/STOP', 'POST'], ['PUT', '/PAUSE', 'POST'], ['DELETE', '/', 'GET, HEAD'], ['POST', '/runs', 'GET, HEAD'],
        ['DELETE', `/runs/${ns}/live`, 'GET, HEAD'], ['GET', `/runs/${ns}/live/STOP`, 'POST'], ['POST', '/healthz', 'GET, HEAD'],
      ];
      for (const [method, path, allow] of cases) {
        const a = await call(url, method, path);
        assert.equal(a.status, 405, `${method} ${path}`);
        assert.equal(a.headers.get('allow'), allow);
      }
      // The krkn-compatible paths answer in text, like their successes.
      assert.match((await call(url, 'GET', '/STOP')).headers.get('content-type')!, /^text\/plain/);
    });
  });

  it('an unknown signal or a bad "for" is 400', async () => {
    await unchanged(async () => {
      const bad = [
        ['POST', `/runs/${ns}/live/KILL`], ['POST', `/runs/${ns}/live/stop`], ['POST', `/runs/${ns}/live/PAUSE?for=banana`],
        ['POST', '/PAUSE?for=10'], ['POST', '/PAUSE?for=0s'], ['POST', '/PAUSE?for=9000h'], ['POST', '/PAUSE?for=1m&for=2m'],
        ['POST', '/STOP?for=10m'], ['POST', `/runs/${ns}/live/RUN?for=10m`], ['POST', `/runs/${ns}/live/%E0%A4%A`],
      ];
      for (const [method, path] of bad) {
        const a = await call(url, method, path);
        assert.equal(a.status, 400, `${method} ${path}: ${a.text}`);
      }
      const a = await call(url, 'POST', `/runs/${ns}/live/KILL`);
      assert.deepEqual(a.json(), { error: 'unknown signal "KILL": use RUN, PAUSE or STOP', reason: 'BadRequest' });
      assert.match((await call(url, 'POST', '/PAUSE?for=banana')).text, /invalid duration "banana"/);
    });
  });

  it('an oversize body is 413', async () => {
    await unchanged(async () => {
      const big = 'x'.repeat(64 * 1024);
      const a = await call(url, 'POST', '/STOP', { body: big });
      assert.equal(a.status, 413);
      assert.match(a.text, /too large/);
      assert.equal((await call(url, 'POST', `/runs/${ns}/live/STOP`, { body: big })).json().reason, 'PayloadTooLarge');
    });
  });

  it('a run that does not exist is 404', async () => {
    await unchanged(async () => {
      for (const path of [`/runs/${ns}/ghost`, `/runs/${ns}/ghost/STOP`, '/runs/kube-system/live/STOP']) {
        const a = await call(url, path.endsWith('STOP') ? 'POST' : 'GET', path);
        assert.equal(a.status, 404, path);
        assert.match(a.json<{ error: string }>().error, /not found/);
      }
    });
  });

  it('a finished run is 409 with its phase, and broadcasts skip it', async () => {
    await unchanged(async () => {
      const a = await call(url, 'POST', `/runs/${ns}/done/STOP`);
      assert.equal(a.status, 409);
      assert.deepEqual(a.json(), { error: `ChaosRun ${ns}/done is finished (phase Completed); signals no longer apply`, reason: 'Finished', phase: 'Completed' });
      // live is already PAUSE: the broadcast writes nothing new, and never touches done.
      const b = await call(url, 'POST', '/PAUSE');
      assert.equal(b.status, 200);
      assert.equal(b.text, 'PAUSE: 0 runs changed, 1 already PAUSE\n');
    });
  });

  it('a run with publishStatus: false is 403 saying so, and is invisible to the krkn routes', async () => {
    await unchanged(async () => {
      for (const [method, path] of [['GET', `/runs/${ns}/hidden`], ['POST', `/runs/${ns}/hidden/STOP`]]) {
        const a = await call(url, method, path);
        assert.equal(a.status, 403);
        assert.equal(a.json().reason, 'NotPublished');
        assert.match(a.json<{ error: string }>().error, /publishStatus: false/);
      }
      const list = (await call(url, 'GET', '/runs')).json<{ runs: Array<{ name: string }> }>();
      assert.deepEqual(list.runs.map((r) => r.name).sort(), ['done', 'live']);
    });
  });

  it('the request body is ignored', async () => {
    const a = await call(url, 'POST', `/runs/${ns}/live/PAUSE`, { body: '{"signal":"STOP"}', headers: { 'content-type': 'application/json' } });
    assert.equal(a.status, 200);
    assert.equal(a.json().signal, 'PAUSE');
  });

  it('an unreachable API server is 503, the cache still answers reads, and nothing changes', async () => {
    // The server talks to the API server through a proxy we can cut.
    const api = new URL(env.state.server);
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((s) => {
      const upstream = connect(Number(api.port), api.hostname);
      sockets.add(s).add(upstream);
      s.pipe(upstream).pipe(s);
      s.on('error', () => upstream.destroy());
      upstream.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxied = new KubeConfig();
    proxied.loadFromString(env.kc.exportConfig());
    const port = (proxy.address() as { port: number }).port;
    proxied.clusters = proxied.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` }));
    const server = await testSignalServer(env, { kubeconfig: proxied });
    try {
      await unchanged(async () => {
        proxy.close();
        for (const s of sockets) s.destroy();
        for (const [method, path] of [['POST', `/runs/${ns}/live/STOP`], ['POST', '/STOP']]) {
          const a = await call(server.url, method, path);
          assert.equal(a.status, 503, `${method} ${path}: ${a.text}`);
          assert.match(a.text, /unreachable/);
        }
        const state = await call(server.url, 'GET', `/runs/${ns}/live`);
        assert.equal(state.status, 200);
        assert.equal(state.json().signal, 'PAUSE');
      });
    } finally {
      await server.stop();
    }
  });
});
