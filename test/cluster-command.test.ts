// `chaosrun cluster up|status|down` as a user runs it: up writes a kubeconfig and is idempotent,
// kubectl answers with it, and down stops every process it started and removes its state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentOrder, readState } from '../src/local/controlplane.ts';
import { pidAlive } from '../src/local/pid.ts';
import { repoRoot } from './helpers/env.ts';

const cli = (args: string[]) => execFileSync(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), ...args],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('cluster up, status, a second up, kubectl, and down leave no process behind', { timeout: 180_000 }, () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'chaosrun-cluster-')), 'plane');
  try {
    assert.equal(cli(['cluster', 'up', '--dir', dir]).trim(), `export KUBECONFIG=${join(dir, 'kubeconfig')}`);
    const state = readState(dir)!;
    const pids = componentOrder.map((c) => state.components[c].pid);
    assert.ok(pids.every(pidAlive), 'every component runs');
    assert.match(cli(['cluster', 'status', '--dir', dir]), /^running v1\.\d+\.\d+ at https:\/\/127\.0\.0\.1:\d+/);
    assert.equal(cli(['cluster', 'up', '--dir', dir]).trim(), `export KUBECONFIG=${join(dir, 'kubeconfig')}`, 'a second up is fine');
    assert.deepEqual(componentOrder.map((c) => readState(dir)!.components[c].pid), pids, 'and starts nothing new');
    const version = execFileSync(join(state.binDir, 'kubectl'), ['--kubeconfig', join(dir, 'kubeconfig'), 'get', '--raw', '/version'], { encoding: 'utf8' });
    assert.equal(JSON.parse(version).gitVersion, state.kubernetesVersion);
    cli(['cluster', 'down', '--dir', dir]);
    assert.deepEqual(pids.filter(pidAlive), [], 'no process left behind');
    assert.equal(existsSync(dir), false, 'its state is removed');
    assert.throws(() => cli(['cluster', 'status', '--dir', dir]), (err: { status: number; stdout: string }) => err.status === 3 && err.stdout === 'not running\n');
  } finally {
    if (existsSync(dir)) cli(['cluster', 'down', '--dir', dir]);
  }
});

test('cluster with no or an unknown action fails with a one-line reason', () => {
  assert.throws(() => cli(['cluster', 'sideways']), (err: { status: number; stderr: string }) =>
    err.status === 1 && /^chaosrun cluster: needs one of up, down or status \(got "sideways"\)\n$/.test(err.stderr));
});

test('cluster up --real-node without root exits 1 with one line saying it needs root, and starts nothing', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'chaosrun-cluster-')), 'plane');
  // As the unprivileged user nobody (setpriv from util-linux drops root for this one command).
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
    join(repoRoot, 'node_modules/.bin/node'), join(repoRoot, 'src/cli.ts'), 'cluster', 'up', '--real-node', '--dir', dir], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^chaosrun cluster: --real-node needs root: [^\n]+\n$/);
  assert.equal(existsSync(dir), false, 'nothing was started or written');
});

test('cluster up --krkn without --real-node exits 1 with one line naming --real-node, and starts nothing; --help lists --krkn', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'chaosrun-cluster-')), 'plane');
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'cluster', 'up', '--krkn', '--dir', dir], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^chaosrun cluster: --krkn needs --real-node: [^\n]+\n$/);
  assert.equal(existsSync(dir), false, 'nothing was started or written');
  const help = spawnSync(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'cluster', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout + help.stderr, /--krkn\s+\(up --real-node\) also build krkn's own images/);
});
