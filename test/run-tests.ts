// `npm test`: starts (or reuses) a local control plane for the tests in .cluster-test/, runs every
// unit and integration test with Node's test runner against it, and stops the plane if it started it.
// The test plane is separate from `npm run local`'s, so a developer's running operator never
// reconciles the tests' ChaosRuns.
//
// With root, the plane gets a real node (containerd + kubelet + kube-proxy) and the end-to-end tests
// in test/e2e/ run on it, after the others and one file at a time: they install the operator with
// helm watching every namespace, which must not meet the other files' in-process controllers. After a
// plane this runner started is stopped, it checks that the real node left nothing on the host.
// The real node also holds krkn's images (src/realnode/krkn-images.ts), built before the e2e files run.
// Without root the e2e files are not run, and the runner says SKIPPED and why.
import { spawn } from 'node:child_process';
import { globSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clusterDown, clusterUp } from '../src/local/controlplane.ts';
import { hostLeftovers } from '../src/realnode/host.ts';
import { realNodePrecondition } from '../src/realnode/node.ts';
import { krknSourcesProblem } from '../src/realnode/krkn-images.ts';
import { setupFailureLine } from '../src/local/setup-step.ts';
import { staleNodeIsCleared } from './helpers/stale-node.ts';

const root = resolve(import.meta.dirname, '..');
const dir = process.env.CHAOSRUN_TEST_CLUSTER_DIR ?? join(root, '.cluster-test');
const args = process.argv.slice(2);
const all = args.length === 0;
const isE2e = (p: string) => p.startsWith('test/e2e') || p.includes('/test/e2e/');
const everyFile = () => globSync(['src/**/*.test.ts', 'test/**/*.test.ts'], { cwd: root }).sort();
const e2ePatterns = all ? everyFile().filter(isE2e) : args.filter(isE2e);
const otherPatterns = all ? everyFile().filter((p) => !isE2e(p)) : args.filter((p) => !isE2e(p));
const noRealNode = !e2ePatterns.length ? undefined
  : process.env.CHAOSRUN_E2E === '0' ? 'CHAOSRUN_E2E=0 (set by whoever ran the tests) asked not to start a real node'
  : realNodePrecondition();
const realNode = e2ePatterns.length > 0 && !noRealNode;

const started = Date.now();
const secondsSince = (t: number) => ((Date.now() - t) / 1000).toFixed(0);
// A set-up failure is one line naming its log, never a stack trace (the newcomer's first command).
// The real node also gets krkn's images (built from krkn's sources, cached) before any e2e file runs.
// Without krkn's sources (they are test inputs beside the checkout) the krkn e2e tests say SKIPPED, and why.
const noKrknSources = realNode ? krknSourcesProblem() : undefined;
if (noKrknSources) console.log(`SKIPPED building krkn's images (test/e2e/krkn-*.test.ts skip with them): ${noKrknSources}`);
const { state, alreadyRunning } = await clusterUp(dir, (m) => console.error(m), { realNode, krkn: realNode && !noKrknSources }).catch((err: unknown) => {
  console.error(setupFailureLine(err, 'npm-test'));
  process.exit(1);
});
console.error(`test control plane ${alreadyRunning ? 'reused' : 'started'} (${((Date.now() - started) / 1000).toFixed(1)}s): ${state.server}${state.realNode ? `, real node ${state.realNode.name}` : ''}`);

interface Tally { pass: number; fail: number; skipped: number; code: number }

/** Runs one `node --test` pass; its spec output goes to the terminal, its TAP summary is read back. */
function runPass(patterns: string[], concurrency: number, extraArgs: string[] = []): Promise<Tally> {
  const tap = join(mkdtempSync(join(tmpdir(), 'chaosrun-tests-')), 'summary.tap');
  return new Promise((done) => {
    const child = spawn(process.execPath, [
      '--test', `--test-concurrency=${concurrency}`, '--test-timeout=900000',
      '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`,
      ...extraArgs, ...patterns,
    ], {
      cwd: root, stdio: 'inherit',
      env: { ...process.env, CHAOSRUN_TEST_CLUSTER_DIR: dir, KUBECONFIG: state.kubeconfig },
    });
    child.on('exit', (c, signal) => {
      let text = '';
      try { text = readFileSync(tap, 'utf8'); } catch { /* no summary: the runner died */ }
      const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      done({ pass: count('pass'), fail: count('fail') + count('cancelled'), skipped: count('skipped'), code: c ?? (signal ? 1 : 0) });
    });
  });
}

const setupSeconds = secondsSince(started);
const testsStarted = Date.now();
const tallies: Tally[] = [];
if (otherPatterns.length) tallies.push(await runPass(otherPatterns, 3));
if (e2ePatterns.length && realNode) {
  console.error('\nend-to-end tests on the real node (one file at a time) ...');
  tallies.push(await runPass(e2ePatterns, 1));
} else if (e2ePatterns.length) {
  console.log(`SKIPPED end-to-end tests (test/e2e), and building krkn's images for them: ${noRealNode}`);
}

let teardownFailed = false;
let recoveryFailed = false;
if (!alreadyRunning && !process.env.CHAOSRUN_KEEP_CLUSTER) {
  await clusterDown(dir, (m) => console.error(m));
  if (state.realNode) {
    const left = hostLeftovers();
    const dirty = Object.entries(left).filter(([, v]) => (Array.isArray(v) ? v.length > 0 : v));
    if (dirty.length) {
      teardownFailed = true;
      console.error(`real node teardown left host state behind: ${JSON.stringify(Object.fromEntries(dirty))}`);
    } else {
      console.log('✔ real node teardown: no process, mount, network namespace, bridge, route, iptables chain or directory left');
    }
    // And what `cluster up --real-node` does after a run that was killed without cleaning up.
    const { made, left: stale } = await staleNodeIsCleared();
    if (Object.keys(stale).length) {
      recoveryFailed = true;
      console.log(`✖ a killed node's host state (${made.join(', ')}) was not all removed: ${JSON.stringify(stale)}`);
    } else {
      console.log(`✔ a killed node's host state (${made.join(', ')}) is removed before a node starts`);
    }
  }
}

const checkedHost = state.realNode && !alreadyRunning && !process.env.CHAOSRUN_KEEP_CLUSTER;
const pass = tallies.reduce((n, t) => n + t.pass, 0) + (checkedHost ? Number(!teardownFailed) + Number(!recoveryFailed) : 0);
const fail = tallies.reduce((n, t) => n + t.fail, 0) + Number(teardownFailed) + Number(recoveryFailed);
const skipped = tallies.reduce((n, t) => n + t.skipped, 0);
const failedRun = tallies.some((t) => t.code !== 0) || teardownFailed || recoveryFailed;
const ciStarted = Number(process.env.CHAOSRUN_CI_STARTED) * 1000;
console.log(`\ntimes: set-up ${setupSeconds}s (plane${realNode ? ', real node, images' : ''}; built or reused), tests ${secondsSince(testsStarted)}s`
  + `${ciStarted ? `, CI total ${secondsSince(ciStarted)}s (npm ci included)` : ''}`);
console.log(`\ntests: ${pass} passed, ${fail} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failedRun ? 1 : 0);
