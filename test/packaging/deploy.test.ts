// The plain manifests: deploy/ is the chart rendered with its defaults (never stale), and
// `kubectl apply --server-side -f crds/ -f deploy/` installs a working operator on a clean cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, repoRoot, testEnv } from '../helpers/env.ts';

const env = await testEnv('pkg-deploy');
const deployDir = join(repoRoot, 'deploy');

test('deploy/ is the chart rendered with its defaults (npm run deploy:render regenerates it)', () => {
  const out = mkdtempSync(join(tmpdir(), 'chaosrun-deploy-'));
  execFileSync(process.execPath, [join(repoRoot, 'scripts/render-deploy.ts'), '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  const files = readdirSync(out).sort();
  assert.deepEqual(readdirSync(deployDir).sort(), files, 'deploy/ has exactly the rendered files');
  for (const f of files) {
    assert.equal(readFileSync(join(deployDir, f), 'utf8'), readFileSync(join(out, f), 'utf8'), `deploy/${f} is stale: run npm run deploy:render`);
  }
});

test('kubectl apply --server-side -f crds/ -f deploy/ installs the operator on a clean cluster', async () => {
  const namespace = 'chaosrun-system';
  const files = ['-f', join(repoRoot, 'crds'), '-f', deployDir];
  const deployOnly = ['-f', deployDir];
  // A run interrupted before its cleanup leaves the objects behind; start from none of them.
  env.kubectl(['delete', ...deployOnly, '--ignore-not-found', '--wait=true', '--timeout=120s']);
  assert.equal(env.kubectl(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name']).trim(), '');
  // --force-conflicts only because this shared test plane's CRD is already owned by the plane's own
  // field manager (which may have applied an older revision); a clean cluster has no owner to conflict with.
  const apply = () => env.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=chaosrun-deploy-test', ...files]);
  try {
    const applied = apply();
    assert.match(applied, /deployment.apps\/chaosrun-operator serverside-applied/);
    env.kubectl(['wait', '--for=condition=Established', 'crd/chaosruns.chaosrun.dev', '--timeout=60s']);
    env.kubectl(['wait', '--for=condition=Available', 'deployment/chaosrun-operator', '-n', namespace, '--timeout=120s']);
    const svc = JSON.parse(env.kubectl(['get', 'service', 'chaosrun-operator', '-n', namespace, '-o', 'json'])) as { spec: { ports: Array<{ name: string; port: number }> } };
    assert.ok(svc.spec.ports.some((p) => p.name === 'signal' && p.port === 8081));
    assert.equal(env.kubectl(['auth', 'can-i', `--as=system:serviceaccount:${namespace}:chaosrun-operator`, 'watch', 'chaosruns.chaosrun.dev', '--all-namespaces']).trim(), 'yes');
    // A second apply (an upgrade with the same files) goes through as well.
    assert.match(apply(), /deployment.apps\/chaosrun-operator serverside-applied/);
  } finally {
    // The CRD stays: other tests share this cluster and its ChaosRuns.
    env.kubectl(['delete', ...deployOnly, '--ignore-not-found', '--wait=true', '--timeout=120s']);
  }
  await eventually('the namespace to be gone', () => env.kubectl(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name']).trim() === '', 60_000, 500);
});
