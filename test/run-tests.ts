// `npm test`: starts (or reuses) a local control plane for the tests in .cluster-test/, runs every
// unit and integration test with Node's test runner against it, and stops the plane if it started it.
// The test plane is separate from `npm run local`'s, so a developer's running operator never
// reconciles the tests' ChaosRuns.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { clusterDown, clusterUp } from '../src/local/controlplane.ts';

const root = resolve(import.meta.dirname, '..');
const dir = process.env.CHAOSRUN_TEST_CLUSTER_DIR ?? join(root, '.cluster-test');
const started = Date.now();
const { state, alreadyRunning } = await clusterUp(dir, (m) => console.error(m));
console.error(`test control plane ${alreadyRunning ? 'reused' : 'started'} (${((Date.now() - started) / 1000).toFixed(1)}s): ${state.server}`);

const patterns = process.argv.slice(2).length ? process.argv.slice(2) : ['src/**/*.test.ts', 'test/**/*.test.ts'];
const code = await new Promise<number>((done) => {
  const child = spawn(process.execPath, ['--test', '--test-concurrency=3', '--test-timeout=600000', ...patterns], {
    cwd: root, stdio: 'inherit',
    env: { ...process.env, CHAOSRUN_TEST_CLUSTER_DIR: dir, KUBECONFIG: state.kubeconfig },
  });
  child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0)));
});
if (!alreadyRunning && !process.env.CHAOSRUN_KEEP_CLUSTER) await clusterDown(dir);
process.exit(code);
