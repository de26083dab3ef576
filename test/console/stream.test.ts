// GET /runs/stream and /runs/{ns}/{name}/stream for scripts: `curl -N` reads run changes as server-sent
// events, with the same auth and scope as the rest of the API, and streams end after the server's limit.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { paths } from '../../src/kube/paths.ts';
import type { SignalServer } from '../../src/signal/server.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { call, idleRun, testSignalServer } from '../signal/helpers.ts';

const env = await testEnv('console-sse');
const { client, namespace: ns } = env;
let server: SignalServer;
let authServer: SignalServer;

/** `curl -sN URL`, its output so far, and a way to end it. */
function curl(url: string, headers: string[] = []) {
  const child = spawn('curl', ['-sN', ...headers.flatMap((h) => ['-H', h]), url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    out: () => out,
    /** Events so far, as [name, data]. */
    events: () => out.split('\n\n').filter((b) => b.includes('data:')).map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? 'message';
      return [event, JSON.parse(/^data: (.*)$/m.exec(b)![1])] as [string, Record<string, unknown>];
    }),
    exited,
    stop() { child.kill(); return exited; },
  };
}

before(async () => {
  await idleRun(client, ns, 'alpha');
  await idleRun(client, ns, 'beta', { signalState: 'PAUSE' });
  await idleRun(client, ns, 'secret', { publishStatus: false });
  server = await testSignalServer(env);
  authServer = await testSignalServer(env, { auth: 'kubernetes', streamMaxMs: 1500 });
});
after(async () => {
  await server.stop();
  await authServer.stop();
});

describe('the event stream', () => {
  it('curl -N gets a snapshot of the published runs, then each change as it happens', async () => {
    const c = curl(`${server.url}/runs/stream`);
    await eventually('the snapshot', () => c.events().some(([e]) => e === 'snapshot'));
    const [, snap] = c.events().find(([e]) => e === 'snapshot')!;
    assert.deepEqual((snap.runs as Array<{ name: string }>).map((r) => r.name), ['alpha', 'beta']);
    assert.deepEqual(snap.access, { [ns]: { patch: true } });
    assert.match(c.out(), /^retry: \d+\n\n/);
    env.kubectl(['patch', 'crun', '-n', ns, 'alpha', '--type', 'merge', '-p', '{"spec":{"signalState":"PAUSE"}}']);
    await eventually('alpha\'s PAUSE on the stream', () => c.events().some(([e, d]) => e === 'run' && d.name === 'alpha' && d.signal === 'PAUSE'));
    await client.request('DELETE', paths.chaosRuns(ns, 'beta'));
    await eventually('beta\'s delete on the stream', () => c.events().some(([e, d]) => e === 'delete' && d.name === 'beta'));
    assert.ok(!c.out().includes('secret'), 'a run with publishStatus: false never shows');
    await c.stop();
  });

  it('one run\'s stream starts with the run and follows only it', async () => {
    await idleRun(client, ns, 'gamma');
    await eventually('the server to see gamma', async () => (await call(server.url, 'GET', `/runs/${ns}/gamma`)).status === 200);
    const c = curl(`${server.url}/runs/${ns}/gamma/stream`);
    await eventually('the first event', () => c.events().length > 0);
    assert.equal(c.events()[0][0], 'run');
    assert.equal(c.events()[0][1].name, 'gamma');
    env.kubectl(['patch', 'crun', '-n', ns, 'alpha', '--type', 'merge', '-p', '{"spec":{"signalState":"RUN"}}']);
    env.kubectl(['patch', 'crun', '-n', ns, 'gamma', '--type', 'merge', '-p', '{"spec":{"signalState":"STOP"}}']);
    await eventually('gamma\'s STOP', () => c.events().some(([e, d]) => e === 'run' && d.signal === 'STOP'));
    assert.ok(c.events().every(([, d]) => d.name === 'gamma'), 'nothing about other runs');
    await c.stop();
  });

  it('answers 404 for a run not in scope and 403 for an unpublished one, as JSON', async () => {
    const missing = await call(server.url, 'GET', `/runs/${ns}/nope/stream`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json().reason, 'NotFound');
    const hidden = await call(server.url, 'GET', `/runs/${ns}/secret/stream`);
    assert.equal(hidden.status, 403);
    assert.equal(hidden.json().reason, 'NotPublished');
  });

  it('with --auth=kubernetes: 401 without a token; a read-only token sees the runs, marked not patchable; the stream ends at the limit', async () => {
    const none = await call(authServer.url, 'GET', '/runs/stream');
    assert.equal(none.status, 401);
    env.kubectl(['create', 'serviceaccount', '-n', ns, 'reader']);
    env.kubectl(['create', 'role', '-n', ns, 'reader', '--verb=get,list', '--resource=chaosruns.chaosrun.dev']);
    env.kubectl(['create', 'rolebinding', '-n', ns, 'reader', '--role=reader', `--serviceaccount=${ns}:reader`]);
    const token = env.kubectl(['create', 'token', '-n', ns, 'reader']).trim();
    const started = Date.now();
    const c = curl(`${authServer.url}/runs/stream`, [`Authorization: Bearer ${token}`]);
    await eventually('the snapshot', () => c.events().some(([e]) => e === 'snapshot'));
    const [, snap] = c.events().find(([e]) => e === 'snapshot')!;
    assert.ok((snap.runs as unknown[]).length >= 1);
    assert.deepEqual(snap.access, { [ns]: { patch: false } });
    assert.equal(await c.exited, 0, 'the server ended the stream cleanly');
    assert.ok(Date.now() - started >= 1400, 'not before the limit');
  });

  it('Events and logs on demand: their own RBAC, and a job must be one of the run\'s steps', async () => {
    assert.equal((await call(server.url, 'POST', `/runs/${ns}/alpha/STOP`)).status, 200);
    const events = await call(server.url, 'GET', `/runs/${ns}/alpha/events`);
    assert.equal(events.status, 200);
    assert.ok(events.json<{ events: Array<{ reason: string; message: string }> }>().events
      .some((e) => e.reason === 'SignalReceived' && /signal STOP from anonymous via HTTP/.test(e.message)));
    assert.equal((await call(server.url, 'GET', `/runs/${ns}/alpha/logs`)).status, 400);
    const unknown = await call(server.url, 'GET', `/runs/${ns}/alpha/logs?job=someone-elses-job`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.json<{ error: string }>().error, /is not a step of ChaosRun/);
    const token = env.kubectl(['create', 'token', '-n', ns, 'reader']).trim();
    const denied = await call(authServer.url, 'GET', `/runs/${ns}/alpha/events`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(denied.status, 403);
    assert.match(denied.json<{ error: string }>().error, /may not list events in namespace/);
    assert.equal((await call(server.url, 'POST', `/runs/${ns}/alpha/events`)).status, 405);
  });

  it('a viewer that goes away leaves nothing behind', async () => {
    const c = curl(`${server.url}/runs/stream`);
    await eventually('the snapshot', () => c.events().some(([e]) => e === 'snapshot'));
    await c.stop();
    const metrics = async () => (await call(server.url, 'GET', '/metrics')).text;
    await eventually('the viewer gauge back to 0', async () => /chaosrun_signal_stream_viewers 0\b/.test(await metrics()));
  });
});
