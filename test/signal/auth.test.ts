// --auth=kubernetes: tokens checked by TokenReview, access by SubjectAccessReview, so HTTP obeys the
// RBAC that kubectl obeys. ServiceAccount tokens come from the TokenRequest API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChaosRun } from '../../src/api/types.ts';
import { paths } from '../../src/kube/paths.ts';
import { chaosRunAccountToken, eventually, testEnv } from '../helpers/env.ts';
import { call, idleRun, testSignalServer } from './helpers.ts';

const env = await testEnv('sig-auth');
const { client, namespace: ns } = env;
let url: string;
let stopServer: () => Promise<void>;
const tokens: Record<string, string> = {};

/** A ServiceAccount bound to a Role with these verbs on chaosruns (none: no Role), and a token for it. */
const account = (name: string, verbs: string[]) => chaosRunAccountToken(client, ns, name, verbs);

const bearer = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });
const runState = async () => {
  const r = await client.request<ChaosRun>('GET', paths.chaosRuns(ns, 'target'));
  return { signal: r.spec.signalState, rv: r.metadata.resourceVersion };
};

before(async () => {
  await idleRun(client, ns, 'target', { signalState: 'RUN' });
  tokens.oncall = await account('oncall', ['get', 'list', 'patch']);
  tokens.viewer = await account('viewer', ['get', 'list']);
  tokens.nobody = await account('nobody', []);
  const server = await testSignalServer(env, { auth: 'kubernetes' });
  url = server.url;
  stopServer = server.stop;
});
after(async () => { await stopServer(); });

describe('signal server authentication and authorization', () => {
  it('no token, or an invalid one, is 401 and changes nothing', async () => {
    const before = await runState();
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer not-a-token' }, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }]) {
      for (const [method, path] of [['POST', '/STOP'], ['POST', `/runs/${ns}/target/STOP`], ['GET', '/'], ['GET', '/runs'], ['GET', `/runs/${ns}/target`]]) {
        const a = await call(url, method, path, { headers });
        assert.equal(a.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.equal(a.headers.get('www-authenticate'), 'Bearer');
      }
    }
    assert.deepEqual(await runState(), before);
    // Probes and metrics stay open.
    assert.equal((await call(url, 'GET', '/readyz')).status, 200);
  });

  it('a token whose RBAC does not allow patch is 403 and changes nothing', async () => {
    const before = await runState();
    const one = await call(url, 'POST', `/runs/${ns}/target/STOP`, { headers: bearer('viewer') });
    assert.equal(one.status, 403);
    assert.equal(one.json().reason, 'Forbidden');
    assert.match(one.json<{ error: string }>().error, new RegExp(`system:serviceaccount:${ns}:viewer may not patch chaosruns target in namespace ${ns}`));
    const all = await call(url, 'POST', '/STOP', { headers: bearer('viewer') });
    assert.equal(all.status, 403);
    assert.match(all.text, /may not patch chaosruns .*target; nothing was changed/);
    assert.deepEqual(await runState(), before);
    // Reading is what this Role allows.
    assert.equal((await call(url, 'GET', `/runs/${ns}/target`, { headers: bearer('viewer') })).json().signal, 'RUN');
    assert.equal((await call(url, 'GET', '/', { headers: bearer('viewer') })).text, 'RUN');
  });

  it('a token without any Role sees no runs and may not read one', async () => {
    const before = await runState();
    assert.equal((await call(url, 'GET', `/runs/${ns}/target`, { headers: bearer('nobody') })).status, 403);
    assert.equal((await call(url, 'POST', `/runs/${ns}/target/PAUSE`, { headers: bearer('nobody') })).status, 403);
    assert.deepEqual((await call(url, 'GET', '/runs', { headers: bearer('nobody') })).json(), { runs: [] });
    assert.equal((await call(url, 'GET', '/', { headers: bearer('nobody') })).text, 'no ChaosRuns in scope\n');
    assert.deepEqual(await runState(), before);
  });

  it('a token whose Role allows patch chaosruns signals, and the Event names the user', async () => {
    const a = await call(url, 'POST', '/PAUSE', { headers: bearer('oncall') });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'PAUSE: 1 run changed\n');
    assert.equal((await runState()).signal, 'PAUSE');
    const b = await call(url, 'POST', `/runs/${ns}/target/RUN`, { headers: bearer('oncall') });
    assert.equal(b.status, 200);
    assert.equal(b.json().signal, 'RUN');
    assert.equal(env.kubectl(['get', 'crun', '-n', ns, 'target', '-o', 'jsonpath={.spec.signalState}']), 'RUN');
    const user = `system:serviceaccount:${ns}:oncall`;
    const events = await eventually('the signal Events', async () => {
      const list = await client.request<{ items: Array<{ reason: string; message: string; source: { component: string } }> }>('GET', paths.events(ns),
        { query: { fieldSelector: 'involvedObject.name=target,reason=SignalReceived' } });
      return list.items.length >= 2 ? list.items : undefined;
    });
    const messages = events.map((e) => e.message).sort();
    assert.deepEqual(messages, [`signal PAUSE from ${user} via HTTP`, `signal RUN from ${user} via HTTP`]);
    assert.ok(events.every((e) => e.source.component === 'chaosrun-signal-server'));
  });

  it('serves HTTPS with --tls-cert and --tls-key, with the same token checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signal-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
    const server = await testSignalServer(env, { auth: 'kubernetes', tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key') });
    try {
      assert.match(server.url, /^https:/);
      // curl runs asynchronously: the server answering it lives in this process.
      const curl = async (...args: string[]) => (await promisify(execFile)('curl', ['-s', '--cacert', join(dir, 'tls.crt'), ...args])).stdout;
      assert.equal(await curl(`${server.url}/`, '-H', `Authorization: Bearer ${tokens.viewer}`), 'RUN');
      assert.match(await curl('-X', 'POST', `${server.url}/STOP`), /bearer token is required/);
    } finally {
      await server.stop();
    }
  });
});
