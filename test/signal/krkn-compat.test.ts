// krkn's signal clients work unchanged against the signal server (curl, Python's http.client), and
// HTTP and kubectl are two doors to one state, with the operator running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { RunningController } from '../../src/controller/manager.ts';
import { paths } from '../../src/kube/paths.ts';
import { eventually, repoRoot, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, waitForPhase } from '../helpers/operator.ts';
import { call, testSignalServer } from './helpers.ts';

const env = await testEnv('sig-krkn');
const { client, namespace: ns } = env;
let controller: RunningController;
const servers: Array<{ stop(): Promise<void> }> = [];
before(async () => { controller = await inProcessController(env); });
after(async () => {
  for (const s of servers) await s.stop();
  await controller.stop();
});

/** A server whose scope is one test's runs (label t=<test>), so the broadcasts of one test touch only its runs. */
async function serverFor(test: string): Promise<string> {
  const s = await testSignalServer(env, { labelSelector: `t=${test}` });
  servers.push(s);
  return s.url;
}
const run = (test: string, name: string, spec: Parameters<typeof createRun>[3]) =>
  client.request('POST', paths.chaosRuns(ns), { body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name, labels: { t: test } }, spec } });
// Asynchronous: the server answering these clients runs in this very process.
const exec = async (cmd: string, args: string[]) => (await promisify(execFile)(cmd, args, { encoding: 'utf8' })).stdout;
/** The server reads from its cache, which sees a new run a few milliseconds after it is created. */
const seen = (url: string, name: string) => eventually(`the server to see ${name}`, async () => (await call(url, 'GET', `/runs/${ns}/${name}`)).status === 200);
const signalOf = (name: string) => env.kubectl(['get', 'crun', '-n', ns, name, '-o', 'jsonpath={.spec.signalState}']);

describe('krkn-compatible signals', () => {
  it('curl -X POST /STOP stops the run', async () => {
    const url = await serverFor('curl');
    await run('curl', 'curl-run', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await waitForPhase(client, ns, 'curl-run', ['Paused']);
    await seen(url, 'curl-run');
    const out = await exec('curl', ['-s', '-X', 'POST', `${url}/STOP`]);
    assert.equal(out, 'STOP: 1 run changed\n');
    assert.equal(await exec('curl', ['-s', `${url}/`]), 'STOP');
    const stopped = await waitForPhase(client, ns, 'curl-run', ['Stopped']);
    assert.equal(stopped.status?.report?.reason, 'Stopped');
  });

  it('a Python http.client script POSTing /STOP with an empty body works as written for krkn', async () => {
    const url = new URL(await serverFor('python'));
    await run('python', 'py-run', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await waitForPhase(client, ns, 'py-run', ['Paused']);
    await seen(url.origin, 'py-run');
    const script = [
      'import http.client, sys',
      'connection = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]))',
      'connection.request("POST", "/STOP", {})',
      'response = connection.getresponse()',
      'print(response.read().decode())',
    ].join('\n');
    const out = await exec('python3', ['-c', script, url.hostname, url.port]);
    assert.equal(out, 'STOP: 1 run changed\n\n');
    assert.equal(signalOf('py-run'), 'STOP');
    await waitForPhase(client, ns, 'py-run', ['Stopped']);
  });

  it('GET / answers exactly PAUSE right after POST /PAUSE with one run', async () => {
    const url = await serverFor('pause');
    await run('pause', 'pause-run', { scenarios: [kwokStep('a', 30)] });
    await eventually('the server to see the run', async () => (await call(url, 'GET', '/')).text === 'RUN');
    assert.equal((await call(url, 'POST', '/PAUSE')).text, 'PAUSE: 1 run changed\n');
    const a = await call(url, 'GET', '/');
    assert.equal(a.text, 'PAUSE');
    assert.match(a.headers.get('content-type')!, /^text\/plain/);
    await waitForPhase(client, ns, 'pause-run', ['Paused']);
    await call(url, 'POST', '/STOP');
  });

  it('kubectl patch and HTTP are two doors to one state, and the run goes on after POST /RUN', async () => {
    const url = await serverFor('sync');
    await run('sync', 'sync-run', { scenarios: [kwokStep('a', 2), kwokStep('b', 1)] });
    await waitForPhase(client, ns, 'sync-run', ['Running']);
    env.kubectl(['patch', 'crun', '-n', ns, 'sync-run', '--type', 'merge', '-p', '{"spec":{"signalState":"PAUSE"}}']);
    await eventually('GET / to say PAUSE', async () => (await call(url, 'GET', '/')).text === 'PAUSE');
    const paused = await eventually('GET /runs/ns/name to show the Paused phase', async () => {
      const r = (await call(url, 'GET', `/runs/${ns}/sync-run`)).json<{ signal: string; phase: string; step?: { name: string }; iteration?: number; conditions: unknown[] }>();
      return r.phase === 'Paused' ? r : undefined;
    });
    assert.equal(paused.signal, 'PAUSE');
    assert.equal(paused.iteration, 1);
    assert.ok(Array.isArray(paused.conditions));
    assert.equal((await call(url, 'POST', '/RUN')).text, 'RUN: 1 run changed\n');
    assert.equal(signalOf('sync-run'), 'RUN');
    assert.match(env.kubectl(['get', 'crun', '-n', ns, 'sync-run', '--no-headers']), /^sync-run\s+RUN\s+/);
    await waitForPhase(client, ns, 'sync-run', ['Completed'], 60_000);
    const done = await eventually('the report over HTTP', async () => {
      const r = (await call(url, 'GET', `/runs/${ns}/sync-run`)).json<{ phase: string; report?: { reason: string; stepsSucceeded: number } }>();
      return r.report ? r : undefined;
    });
    assert.equal(done.report!.reason, 'Completed');
    assert.equal(done.report!.stepsSucceeded, 2);
  });

  it('a timed pause sets pauseUntil, and the operator resumes the run when it passes', async () => {
    const url = await serverFor('timed');
    await run('timed', 'timed-run', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await seen(url, 'timed-run');
    const started = Date.now();
    const a = await call(url, 'POST', `/runs/${ns}/timed-run/PAUSE?for=2s`);
    assert.equal(a.status, 200);
    const until = Date.parse(a.json<{ pauseUntil: string }>().pauseUntil);
    assert.ok(until >= started + 1900 && until <= Date.now() + 2100, `pauseUntil ${until}`);
    assert.ok((await getRun(client, ns, 'timed-run')).spec.pauseUntil);
    await waitForPhase(client, ns, 'timed-run', ['Completed'], 60_000);
    assert.equal(signalOf('timed-run'), 'RUN');
    // The broadcast form sets it too, and RUN clears it.
    await run('timed', 'timed-two', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await seen(url, 'timed-two');
    assert.match((await call(url, 'POST', '/PAUSE?for=10m')).text, /^PAUSE until \S+Z: 1 run changed\n$/);
    assert.ok((await getRun(client, ns, 'timed-two')).spec.pauseUntil);
    await call(url, 'POST', `/runs/${ns}/timed-two/STOP`);
    assert.equal((await getRun(client, ns, 'timed-two')).spec.pauseUntil, undefined);
  });

  it('GET / lists namespace/name STATE when the unfinished runs disagree', async () => {
    const url = await serverFor('mixed');
    await run('mixed', 'mixed-a', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    // A step that lasts: mixed-b stays unfinished (Running) while the two disagree.
    await run('mixed', 'mixed-b', { signalState: 'RUN', scenarios: [kwokStep('a', 600)] });
    await eventually('both runs in the cache', async () => (await call(url, 'GET', '/runs')).json<{ runs: unknown[] }>().runs.length === 2);
    assert.equal((await call(url, 'GET', '/')).text, `${ns}/mixed-a PAUSE\n${ns}/mixed-b RUN\n`);
  });

  it('GET / answers exactly PAUSE with one live PAUSEd run and one Stopped run, and STOP once all are stopped', async () => {
    const url = await serverFor('finished');
    await run('finished', 'live', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await run('finished', 'done', { signalState: 'RUN', scenarios: [kwokStep('a', 600)] });
    await waitForPhase(client, ns, 'done', ['Running']);
    await seen(url, 'done');
    assert.equal((await call(url, 'POST', `/runs/${ns}/done/STOP`)).json().changed, true);
    await waitForPhase(client, ns, 'done', ['Stopped']);
    await eventually('the server to see done Stopped', async () => (await call(url, 'GET', `/runs/${ns}/done`)).json().phase === 'Stopped');
    // The finished run stays until someone deletes it, and a krkn script waiting for PAUSE still sees it.
    assert.equal((await call(url, 'GET', '/')).text, 'PAUSE');
    assert.equal(await exec('curl', ['-s', `${url}/`]), 'PAUSE');
    assert.equal((await call(url, 'POST', '/STOP')).text, 'STOP: 1 run changed\n');
    await waitForPhase(client, ns, 'live', ['Stopped']);
    assert.equal((await call(url, 'GET', '/')).text, 'STOP');
  });

  it('STOP is final: a later RUN or PAUSE is refused with 409 and the run stays stopped', async () => {
    const url = await serverFor('final');
    await run('final', 'final-run', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await eventually('the server to see the run', async () => (await call(url, 'GET', '/')).text === 'PAUSE');
    assert.equal((await call(url, 'POST', `/runs/${ns}/final-run/STOP`)).status, 200);
    for (const signal of ['RUN', 'PAUSE']) {
      const r = await call(url, 'POST', `/runs/${ns}/final-run/${signal}`);
      assert.equal(r.status, 409);
      assert.match(r.json<{ reason: string }>().reason, /^(Stopping|Finished)$/);
    }
    assert.doesNotMatch((await call(url, 'POST', '/RUN')).text, /[1-9] runs? changed/);
    assert.equal(signalOf('final-run'), 'STOP');
    await waitForPhase(client, ns, 'final-run', ['Stopped']);
  });

  it('serves health, readiness, metrics and its OpenAPI document', async () => {
    const url = await serverFor('service');
    assert.equal((await call(url, 'GET', '/healthz')).text, 'ok\n');
    assert.equal((await call(url, 'GET', '/readyz')).text, 'ok\n');
    await call(url, 'POST', '/STOP');
    await call(url, 'GET', '/nope');
    const metrics = (await call(url, 'GET', '/metrics')).text;
    assert.match(metrics, /chaosrun_signal_http_requests_total\{route="\/STOP",method="POST",code="200"\} \d+/);
    assert.match(metrics, /chaosrun_signal_http_requests_total\{route="unmatched",method="GET",code="404"\} \d+/);
    assert.match(metrics, /chaosrun_signal_http_request_duration_seconds_bucket\{le="0.1",route="\/STOP",method="POST"\} \d+/);
    assert.match(metrics, /chaosrun_process_cpu_seconds_total/);
    const doc = (await call(url, 'GET', '/openapi.json')).json<{ openapi: string }>();
    assert.match(doc.openapi, /^3\./);
  });

  it('runs as its own process (chaosrun signal-server) and closes gracefully on SIGTERM', async () => {
    await run('cli', 'cli-run', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'signal-server', '--kubeconfig', env.kubeconfig,
      '--auth', 'none', '--bind', '127.0.0.1', '--port', '0', '--namespaces', ns, '--label-selector', 't=cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await eventually('the listening line', () => /"url":"(http:[^"]+)".*"msg":"signal server listening"/.exec(out)?.[1], 60_000); // a cold start takes 20 s on a loaded 2-core machine
      assert.match(out, /authentication is OFF/);
      await eventually('ready', async () => (await call(url, 'GET', '/readyz')).status === 200);
      assert.equal((await call(url, 'GET', '/')).text, 'PAUSE');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
    assert.match(out, /shutting down/);
  });
});
