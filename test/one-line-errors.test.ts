// Every command a user starts with a kubeconfig answers a missing or broken one with one line naming
// the file and exit 1, never a stack trace: the CLI's subcommands, the plugin, the bench, the faults.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers/env.ts';

const dir = mkdtempSync(join(tmpdir(), 'one-line-'));
const broken = join(dir, 'broken-kubeconfig');
writeFileSync(broken, 'clusters: [\n  - name: x\n');
const missing = join(dir, 'no-such-kubeconfig');
const node = join(repoRoot, 'node_modules/.bin/node');

const COMMANDS: Array<[label: string, file: string, args: string[]]> = [
  ['chaosrun controller', node, ['src/cli.ts', 'controller', '--metrics-port', '0']],
  ['chaosrun signal-server', node, ['src/cli.ts', 'signal-server', '--port', '0']],
  ['chaosrun local', node, ['src/cli.ts', 'local']],
  ['chaosrun scenario pod-kill', node, ['src/cli.ts', 'scenario', 'pod-kill', '--namespace', 'x', '--name-pattern', 'y']],
  ['chaosrun krkn-proxy', node, ['src/cli.ts', 'krkn-proxy', '--to', 'x', '--port', '0']],
  ['kubectl chaosrun status', node, ['src/kubectl-chaosrun.ts', 'status']],
  ['bench', node, ['bench/run.ts', '--quick']],
  ['faults', node, ['faults/run.ts', '--quick']],
];

function run(file: string, args: string[], kubeconfig: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8', timeout: 300_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

for (const [label, file, args] of COMMANDS) {
  it(`${label}: a missing or broken KUBECONFIG is one line and exit 1`, async () => {
    const gone = await run(file, args, missing);
    assert.equal(gone.code, 1, gone.stderr);
    assert.equal(gone.stderr, `${label}: KUBECONFIG ${missing}: no such file\n`);
    const bad = await run(file, args, broken);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^${label}: KUBECONFIG ${broken}: not a usable kubeconfig: [^\\n]+\\n$`));
  });
}

it('npm run -s bench prints only that line too', async () => {
  const r = await run('npm', ['run', '-s', 'bench', '--', '--quick'], missing);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr, `bench: KUBECONFIG ${missing}: no such file\n`);
});
