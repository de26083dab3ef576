// The newcomer's path fails in one line: `chaosrun: <what failed>: <why> (full log: <path>)`, exit
// non-zero, no stack trace; and a corrupt cache entry is found and rebuilt rather than used.
// Each case runs with its own empty cache (CHAOSRUN_CACHE) and plane directory, so nothing here
// touches the shared test plane or the developer's cache.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { repoRoot, testEnv } from './helpers/env.ts';

const node = process.execPath;
const oneLine = /^chaosrun: (?<what>[^:\n]+): (?<why>[^\n]+) \(full log: (?<log>[^)\n]+)\)$/;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, args, { cwd: repoRoot, env, encoding: 'utf8', timeout: 600_000 },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }));
  });
}

/** The environment without Go on the PATH: the tool the plane's first build needs. */
function withoutGo(cache: string): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(':').filter((d) => !existsSync(join(d, 'go'))).join(':');
  return { ...process.env, PATH: path, CHAOSRUN_CACHE: cache, KUBECONFIG: '' };
}

function assertOneLineFailure(r: { code: number; stderr: string }, what: RegExp, why: RegExp): string {
  assert.notEqual(r.code, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /<Buffer/, `no byte dump:\n${r.stderr}`);
  const m = oneLine.exec(lines.at(-1)!);
  assert.ok(m?.groups, `the last line is chaosrun: <what>: <why> (full log: <path>):\n${r.stderr}`);
  assert.match(m.groups.what, what);
  assert.match(m.groups.why, why);
  assert.ok(existsSync(m.groups.log), `the named log ${m.groups.log} exists`);
  return readFileSync(m.groups.log, 'utf8');
}

for (const [label, args] of [
  ['chaosrun cluster up', ['src/cli.ts', 'cluster', 'up', '--dir']],
  ['npm test\'s own set-up', ['test/run-tests.ts', 'test/import-graph.test.ts']],
] as const) {
  it(`${label} without Go on the PATH: one line naming the build and its log`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'setup-fail-'));
    const cache = join(tmp, 'cache');
    const planeDir = join(tmp, 'plane');
    const env = { ...withoutGo(cache), CHAOSRUN_TEST_CLUSTER_DIR: planeDir, CHAOSRUN_E2E: '0' };
    const r = await run(args.at(-1) === '--dir' ? [...args, planeDir] : [...args], env);
    const log = assertOneLineFailure(r, /^building the control plane binaries$/, /Go is required/);
    assert.match(log, /Go is required/);
    assert.ok(r.stderr.includes(`(full log: ${join(cache, 'logs', 'controlplane-build.log')})`), 'the log is in the cache it was given');
    assert.ok(!existsSync(join(planeDir, 'state.json')), 'no plane was recorded as started');
    rmSync(tmp, { recursive: true, force: true });
  });
}

it('a control-plane binary corrupted in the cache is rebuilt, not used', async () => {
  const { state } = await testEnv('setup-cache');
  // A copy of the warm cache (hard links: the originals are never written), with kwok replaced by junk.
  const tmp = mkdtempSync(join(tmpdir(), 'setup-cache-'));
  const keyDir = dirname(state.binDir);
  const copy = join(tmp, 'controlplane', basename(keyDir));
  mkdirSync(dirname(copy), { recursive: true });
  execFileSync('cp', ['-al', keyDir, copy]);
  rmSync(join(copy, 'bin/kwok'));
  writeFileSync(join(copy, 'bin/kwok'), 'half a binary', { mode: 0o755 });
  const r = await run(['-e', `
    const { buildBinaries } = await import('./src/local/controlplane.ts');
    console.log(buildBinaries());`], { ...process.env, CHAOSRUN_CACHE: tmp });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cache: .*\/bin\/kwok does not run .*; rebuilding it/);
  assert.match(r.stderr, /control plane: built kwok in/);
  assert.doesNotMatch(r.stderr, /building (etcd|kube-apiserver|helm)/, 'only the bad entry is rebuilt');
  assert.match(execFileSync(join(copy, 'bin/kwok'), ['--version'], { encoding: 'utf8' }), /kwok/i);
  rmSync(tmp, { recursive: true, force: true });
});
