// openapi.json tells the truth: it lists exactly the app's routes, and schemathesis (property-based,
// from PyPI) fuzzes the running server from it: no 5xx, answers as documented, no crash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../../src/local/cache.ts';
import { ROUTES } from '../../src/signal/app.ts';
import { openApiDocument } from '../../src/signal/openapi.ts';
import { chaosRunAccountToken, testEnv } from '../helpers/env.ts';
import { call, idleRun, setPhase, testSignalServer } from './helpers.ts';

const SCHEMATHESIS = '4.32.5';
const venv = join(cacheRoot(), `venv-schemathesis-${SCHEMATHESIS}`);
const sh = promisify(execFile);

/** Installs schemathesis once into a cached venv; a failed install fails the test, it never skips it. */
async function schemathesis(): Promise<string> {
  const bin = join(venv, 'bin', 'schemathesis');
  if (existsSync(bin)) return bin;
  try {
    await sh('python3', ['-m', 'venv', venv]);
    await sh(join(venv, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${SCHEMATHESIS}`], { timeout: 600_000 });
  } catch (err) {
    throw new Error(`could not install schemathesis ${SCHEMATHESIS} from PyPI into ${venv} (needs python3 with venv and network access): ${(err as { stderr?: string }).stderr ?? err}`);
  }
  return bin;
}

/** One bounded fuzzing run; resolves with its output, rejects with it when schemathesis reports a failure. */
async function fuzz(url: string, extra: string[] = []): Promise<string> {
  const bin = await schemathesis();
  // positive_data_acceptance is left out: some rules are not in the schema (a "for" longer than 0s and
  // at most 8760h, and only on PAUSE), so schema-valid input can rightly get a 400.
  const args = ['run', `${url}/openapi.json`, '--checks', 'all', '--exclude-checks', 'positive_data_acceptance',
    '--max-examples', '40', '--workers', '4', '--request-timeout', '10', '--warnings', 'off', ...extra];
  try {
    // The timeout only guards against a hang: on a loaded 2-core machine a full run of 14 operations took over 120 s.
    const { stdout } = await sh(bin, args, { cwd: mkdtempSync(join(tmpdir(), 'schemathesis-')), timeout: 300_000, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1' } });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`schemathesis found problems:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`);
  }
}

const env = await testEnv('sig-fuzz');
const { client, namespace: ns } = env;
const servers: Array<{ url: string; stop(): Promise<void> }> = [];
before(async () => {
  await idleRun(client, ns, 'live', { signalState: 'PAUSE' });
  await idleRun(client, ns, 'hidden', { publishStatus: false });
  await idleRun(client, ns, 'done');
  await setPhase(client, ns, 'done', 'Stopped');
  // Event streams end after 200 ms here, so the fuzzer reads each to its end quickly.
  servers.push(await testSignalServer(env, { streamMaxMs: 200 }), await testSignalServer(env, { auth: 'kubernetes', streamMaxMs: 200 }));
});
after(async () => { for (const s of servers) await s.stop(); });

describe('the OpenAPI document', () => {
  it('lists exactly the routes the app serves', () => {
    const documented = Object.entries(openApiDocument.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)).sort();
    assert.deepEqual(documented, ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('is served at /openapi.json', async () => {
    assert.deepEqual((await call(servers[0].url, 'GET', '/openapi.json')).json(), JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('holds under schemathesis fuzzing without auth: no 5xx, documented codes and bodies, no crash', async () => {
    const out = await fuzz(servers[0].url);
    assert.match(out, /passed/);
    assert.equal((await call(servers[0].url, 'GET', '/healthz')).status, 200);
  });

  it('holds under schemathesis fuzzing with Kubernetes auth, with and without a token allowed to patch', async () => {
    const token = await chaosRunAccountToken(client, ns, 'fuzzer', ['get', 'list', 'patch']);
    await fuzz(servers[1].url, ['--max-examples', '15', '--phases', 'examples,coverage,fuzzing']);
    await fuzz(servers[1].url, ['--max-examples', '15', '--phases', 'examples,coverage,fuzzing', '-H', `Authorization: Bearer ${token}`]);
    assert.equal((await call(servers[1].url, 'GET', '/healthz')).status, 200);
  });
});
