// `kubectl chaosrun` as SREs run it: kubectl itself finds `kubectl-chaosrun` on the PATH and runs it,
// against the real API server, with the operator running; RBAC is a ServiceAccount token's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { KILL_SWITCH_NAME } from '../../src/api/kill-switch.ts';
import type { ChaosRun } from '../../src/api/types.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import { paths } from '../../src/kube/paths.ts';
import { compareResourceVersions } from '../../src/kube/resource-version.ts';
import { chaosRunAccountToken, eventually, repoRoot, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, waitForPhase } from '../helpers/operator.ts';

const env = await testEnv('plugin');
const { client, namespace: ns } = env;
let controller: RunningController;
const dir = mkdtempSync(join(tmpdir(), 'kubectl-chaosrun-'));
// The plugin on the PATH as a user installs it (a file named kubectl-chaosrun), with Node 24 and kubectl.
symlinkSync(join(repoRoot, 'bin/kubectl-chaosrun.js'), join(dir, 'kubectl-chaosrun'));
const PATH = [dir, join(repoRoot, 'node_modules/node/bin'), env.state.binDir, '/usr/bin', '/bin'].join(':');

before(async () => { controller = await inProcessController(env); });
after(async () => {
  await controller.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Result { code: number; stdout: string; stderr: string }

/** `kubectl ARGS` with the plugin on the PATH; asynchronous, so the in-process controller keeps working. */
function kubectl(args: string[], kubeconfig = env.kubeconfig): Promise<Result> {
  return new Promise((resolve) => {
    execFile(join(env.state.binDir, 'kubectl'), args, { env: { PATH, KUBECONFIG: kubeconfig, HOME: dir }, encoding: 'utf8', timeout: 300_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}
const plugin = (...args: string[]) => kubectl(['chaosrun', ...args]);
// Each call starts Node and loads the Kubernetes client: seconds on an idle machine, more under load.

/** A failure is one line on stderr, a non-zero exit, and nothing on stdout. */
function oneLineFailure(r: Result, pattern: RegExp, code = 1) {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line, not:\n${r.stderr}`);
  assert.match(r.stderr, pattern);
}

const longRun = (name: string, extra: Partial<ChaosRun['spec']> = {}, namespace = ns, labels: Record<string, string> = {}) =>
  client.request<ChaosRun>('POST', paths.chaosRuns(namespace), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name, labels }, spec: { scenarios: [kwokStep('a', 600)], ...extra } },
  });

/** A ServiceAccount of this namespace whose Role allows these verbs on chaosruns, as a kubeconfig file. */
async function accountKubeconfig(name: string, verbs: string[]): Promise<string> {
  const token = await chaosRunAccountToken(client, ns, name, verbs);
  const admin = yaml.load(env.kubectl(['config', 'view', '--raw', '-o', 'yaml'])) as { clusters: Array<{ cluster: Record<string, string> }> };
  const file = join(dir, `${name}.kubeconfig`);
  // Its context names the namespace, so the plugin must default to it as kubectl does.
  writeFileSync(file, yaml.dump({
    apiVersion: 'v1', kind: 'Config', 'current-context': name,
    clusters: [{ name: 'plane', cluster: admin.clusters[0].cluster }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: 'plane', user: name, namespace: ns } }],
  }));
  return file;
}

describe('kubectl chaosrun', { concurrency: true }, () => {
  it('kubectl plugin list finds it, and kubectl runs its help', async () => {
    const list = await kubectl(['plugin', 'list']);
    assert.match(list.stdout, new RegExp(`${dir}/kubectl-chaosrun`));
    const help = await plugin('--help');
    assert.equal(help.code, 0, help.stderr);
    for (const verb of ['run', 'pause', 'stop', 'status', 'report', 'logs', 'import']) assert.match(help.stdout, new RegExp(`^  ${verb} `, 'm'));
    const pauseHelp = await plugin('pause', '--help');
    assert.match(pauseHelp.stdout, /^Usage: kubectl chaosrun pause NAME\.\.\. \| --all \| -A/);
    assert.match(pauseHelp.stdout, /--for D +a timed pause/);
    assert.match(pauseHelp.stdout, /-n, --namespace NS/);
  });

  it('pause, pause --for, run and stop a run by name; STOP is final; the Event names the plugin', async () => {
    await longRun('steer');
    await waitForPhase(client, ns, 'steer', ['Running']);
    let r = await plugin('pause', 'steer', '-n', ns);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'chaosrun.chaosrun.dev/steer PAUSE (was RUN)\n');
    assert.equal((await getRun(client, ns, 'steer')).spec.signalState, 'PAUSE');
    assert.equal((await plugin('pause', 'steer', '-n', ns)).stdout, 'chaosrun.chaosrun.dev/steer unchanged (already PAUSE)\n');

    r = await plugin('pause', 'steer', '--namespace', ns, '--for', '10m');
    assert.equal(r.code, 0, r.stderr);
    const until = Date.parse((await getRun(client, ns, 'steer')).spec.pauseUntil!);
    assert.ok(Math.abs(until - (Date.now() + 600_000)) < 120_000, `pauseUntil ${new Date(until).toISOString()} is about 10 minutes away`);
    oneLineFailure(await plugin('pause', 'steer', '-n', ns, '--for', 'soon'), /^kubectl chaosrun pause: invalid duration "soon"/);

    r = await plugin('run', 'steer', '-n', ns);
    assert.equal(r.stdout, 'chaosrun.chaosrun.dev/steer RUN (was PAUSE)\n');
    const resumed = await getRun(client, ns, 'steer');
    assert.equal(resumed.spec.signalState, 'RUN');
    assert.equal(resumed.spec.pauseUntil, undefined);

    assert.equal((await plugin('stop', 'steer', '-n', ns)).stdout, 'chaosrun.chaosrun.dev/steer STOP (was RUN)\n');
    oneLineFailure(await plugin('run', 'steer', '-n', ns), /^kubectl chaosrun run: ChaosRun \S+\/steer (was sent STOP, which is final|is finished \(phase Stopped\))/);
    await waitForPhase(client, ns, 'steer', ['Stopped']);
    oneLineFailure(await plugin('pause', 'steer', '-n', ns), /^kubectl chaosrun pause: ChaosRun \S+\/steer is finished \(phase Stopped\); signals no longer apply$/m);

    const events = await client.request<{ items: Array<{ reason: string; message: string }> }>('GET', paths.events(ns), { query: { fieldSelector: 'involvedObject.name=steer' } });
    assert.ok(events.items.some((e) => e.reason === 'SignalReceived' && /^signal PAUSE until \S+ from \S+ via kubectl chaosrun$/.test(e.message)),
      JSON.stringify(events.items.map((e) => e.message)));
  });

  it('--all signals every unfinished run of the namespace; -A -l every namespace\'s runs with those labels', async () => {
    const other = await env.createNamespace('plugin-b');
    const label = { kill: `switch-${ns}` };
    await longRun('all-a', {}, ns, label);
    await longRun('all-b', { signalState: 'PAUSE' }, ns, label);
    await longRun('all-c', {}, other, label);
    let r = await plugin('pause', '--all', '-n', other);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'PAUSE: 1 run changed\n');
    assert.equal((await getRun(client, other, 'all-c')).spec.signalState, 'PAUSE');
    r = await plugin('stop', '-A', '-l', `kill=switch-${ns}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'STOP: 3 runs changed\n');
    assert.equal((await getRun(client, other, 'all-c')).spec.signalState, 'STOP');
    // The operator of this test watches its own namespace only.
    for (const name of ['all-a', 'all-b']) await waitForPhase(client, ns, name, ['Stopped']);
    await client.request('PATCH', paths.chaosRunStatus(other, 'all-c'), { body: { status: { phase: 'Stopped' } }, contentType: 'application/merge-patch+json' });
    assert.equal((await plugin('stop', '-A', '-l', `kill=switch-${ns}`)).stdout, 'STOP: 0 runs changed (no unfinished runs in scope)\n');
    oneLineFailure(await plugin('pause', 'x', '--all', '-n', ns), /name runs, or use --all or -A, not both/);
    oneLineFailure(await plugin('pause', '-n', ns), /name a run, or use --all \(this namespace\) or -A \(every namespace\)/);
  });

  it('stop -A writes the kill-switch record first, in --operator-namespace; without the right to, the runs stop and stderr says so', async () => {
    const ops = await env.createNamespace('plugin-ops');
    // The empty record, as the chart creates it at install.
    await client.request('POST', paths.configMaps(ops), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KILL_SWITCH_NAME } } });
    await longRun('ks-a', {}, ns, { ks: `rec-${ns}` });
    await longRun('ks-b', {}, ns, { ks: `rec-${ns}` });
    const r = await plugin('stop', '-A', '-l', `ks=rec-${ns}`, '--operator-namespace', ops);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'STOP: 2 runs changed\n');
    assert.equal(r.stderr, '');
    const cm = await client.request<{ metadata: { resourceVersion: string }; data: Record<string, string> }>('GET', paths.configMaps(ops, KILL_SWITCH_NAME));
    assert.deepEqual(cm.data.runs, `${ns}/ks-a\n${ns}/ks-b\n`);
    assert.equal(cm.data.scope, `all namespaces; labels ks=rec-${ns}`);
    assert.match(cm.data.by, / via kubectl chaosrun$/);
    for (const name of ['ks-a', 'ks-b']) {
      const run = await getRun(client, ns, name);
      assert.equal(run.spec.signalState, 'STOP');
      assert.equal(compareResourceVersions(cm.metadata.resourceVersion, run.metadata.resourceVersion), -1, 'the record before the run\'s STOP');
    }
    // May stop runs, may not write the record: stopped all the same, one line on stderr, exit 0.
    await longRun('ks-c', {}, ns, { ks: `deny-${ns}` });
    const stopper = await accountKubeconfig('stopper', ['get', 'list', 'patch']);
    const denied = await kubectl(['chaosrun', 'stop', '--all', '-l', `ks=deny-${ns}`, '--operator-namespace', ops], stopper);
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(denied.stdout, 'STOP: 1 run changed\n');
    assert.equal(denied.stderr.split('\n').filter(Boolean).length, 1, denied.stderr);
    assert.match(denied.stderr, new RegExp(`^kubectl chaosrun stop: kill-switch record ${ops}/chaosrun-kill-switch not written \\(configmaps "chaosrun-kill-switch" is forbidden: User "system:serviceaccount:${ns}:stopper" cannot patch resource "configmaps"[^)]*\\); the runs were stopped all the same, and the node agents end each run's lasting faults as its STOP reaches them$`, 'm'));
    assert.equal((await getRun(client, ns, 'ks-c')).spec.signalState, 'STOP');
    assert.equal((await client.request<{ data: Record<string, string> }>('GET', paths.configMaps(ops, KILL_SWITCH_NAME))).data.runs, cm.data.runs, 'the record is as it was');
  });

  it('status: one line per run, everything about one run at a glance, and -o json|yaml', async () => {
    await createRun(client, ns, 'glance', { iterations: 2, waitDuration: '10m', scenarios: [kwokStep('first', 1), kwokStep('second', 1)] });
    await eventually('glance waiting between steps', async () => (await getRun(client, ns, 'glance')).status?.nextStepTime, 60_000);
    const list = await plugin('status', '-n', ns);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME +SIGNAL +PHASE +PROGRESS +STEP +NEXT +AGE$/m);
    assert.match(list.stdout, /^glance +RUN +Running +1\/2 +2\/2 second +in \d+m\d*s?/m);
    const one = await plugin('status', 'glance', '-n', ns);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^Run: +\S+\/glance$/m);
    assert.match(one.stdout, /^Signal: +RUN$/m);
    assert.match(one.stdout, /^Phase: +Running: waiting until \S+ before step second/m);
    assert.match(one.stdout, /^Progress: +iteration 1\/2, step 2\/2$/m);
    assert.match(one.stdout, /^Next step: +in (\d+m)?(\d+s)? \(\S+Z\)$/m);
    assert.match(one.stdout, /^Gates: +none$/m);
    assert.match(one.stdout, /^Last 1 step:\n +ITERATION +STEP +RESULT +STARTED +DURATION +MESSAGE\n +1 +first +Succeeded +/m);
    const json = JSON.parse((await plugin('status', 'glance', '-n', ns, '-o', 'json')).stdout) as Record<string, unknown>;
    assert.equal(json.phase, 'Running');
    assert.deepEqual(json.step, { index: 1, name: 'second', of: 2 });
    assert.ok(typeof json.nextStepInSeconds === 'number' && json.nextStepInSeconds > 0 && json.nextStepInSeconds <= 600);
    const asYaml = yaml.load((await plugin('status', 'glance', '-n', ns, '-o', 'yaml')).stdout) as Record<string, unknown>;
    assert.equal(asYaml.name, 'glance');
    oneLineFailure(await plugin('status', 'glance', '-n', ns, '-o', 'wide'), /--output must be one of text, json, yaml, not "wide"/);
    assert.equal((await plugin('stop', 'glance', '-n', ns)).code, 0);
  });

  it('report: a finished run\'s report as text and -o json, and the run so far', async () => {
    await createRun(client, ns, 'reported', { scenarios: [kwokStep('a', 1), kwokStep('b', 1, 'fail')] });
    await waitForPhase(client, ns, 'reported', ['Completed']);
    const text = await plugin('report', 'reported', '-n', ns);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ChaosRun \S+\/reported: Completed: all 1 iteration\(s\) completed$/m);
    assert.match(text.stdout, /^Steps: +1 succeeded, 1 failed, 0 aborted$/m);
    assert.match(text.stdout, /^1 +b +Failed +/m);
    const json = JSON.parse((await plugin('report', 'reported', '-n', ns, '-o', 'json')).stdout) as Record<string, unknown>;
    assert.equal(json.final, true);
    assert.equal(json.reason, 'Completed');
    assert.equal(json.stepsFailed, 1);
    await longRun('ongoing');
    await waitForPhase(client, ns, 'ongoing', ['Running']);
    const sofar = JSON.parse((await plugin('report', 'ongoing', '-n', ns, '-o', 'json')).stdout) as Record<string, unknown>;
    assert.equal(sofar.final, false);
    assert.equal(sofar.reason, 'InProgress');
    assert.equal((await plugin('stop', 'ongoing', '-n', ns)).code, 0);
  });

  it('logs: finds the running step\'s pod and asks the API server for its log', async () => {
    await longRun('logged');
    const run = await waitForPhase(client, ns, 'logged', ['Running']);
    await eventually('the step\'s pod', async () => (await client.request<{ items: unknown[] }>('GET', paths.pods(ns), { query: { labelSelector: `job-name=${run.status!.activeJob}` } })).items.length);
    const r = await plugin('logs', 'logged', '-n', ns);
    assert.match(r.stderr, new RegExp(`^step a, iteration 1: job ${run.status!.activeJob}, pod ${run.status!.activeJob}-\\w+$`, 'm'));
    // The kwok node runs no containers and serves no kubelet API, so the API server cannot fetch a
    // log: the refusal is one line after the step's. The content is proven on the real node
    // (test/e2e/operator.test.ts, `kubectl chaosrun logs shows a real step's output`).
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 2, r.stderr);
    assert.match(r.stderr, /^kubectl chaosrun logs: pod \S+: /m);
    console.log(`SKIPPED here: the log's content, which the kwok node cannot serve (the API server said: ${r.stderr.split('\n')[1]}); test/e2e/operator.test.ts reads it on the real node`);
    oneLineFailure(await plugin('logs', 'logged', '-n', ns, '--step', 'nope'), /^kubectl chaosrun logs: ChaosRun \S+\/logged has no Job for step nope: /);
    oneLineFailure(await plugin('logs', 'logged', '-n', ns, '--iteration', '0'), /--iteration must be a whole number >= 1/);
    assert.equal((await plugin('stop', 'logged', '-n', ns)).code, 0);
  });

  it('RBAC says no in one line, with the verb and resource kubectl would name; the context\'s namespace applies', async () => {
    await longRun('guarded');
    const viewer = await accountKubeconfig('viewer', ['get', 'list']);
    const asViewer = (...args: string[]) => kubectl(['chaosrun', ...args], viewer);
    const status = await asViewer('status', 'guarded');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Run: +\S+\/guarded$/m);
    oneLineFailure(await asViewer('pause', 'guarded'),
      new RegExp(`^kubectl chaosrun pause: Error from server \\(Forbidden\\): chaosruns.chaosrun.dev "guarded" is forbidden: User "system:serviceaccount:${ns}:viewer" cannot patch resource "chaosruns" in API group "chaosrun.dev" in the namespace "${ns}"`));
    oneLineFailure(await asViewer('stop', '--all'),
      new RegExp(`^kubectl chaosrun stop: User "system:serviceaccount:${ns}:viewer" cannot patch resource "chaosruns" in API group "chaosrun.dev" for [^;]*${ns}/guarded[^;]*; nothing was changed$`, "m"));
    oneLineFailure(await asViewer('status', '-A'), /^kubectl chaosrun status: Error from server \(Forbidden\): chaosruns.chaosrun.dev is forbidden: User "\S+" cannot list resource "chaosruns" in API group "chaosrun.dev" at the cluster scope/);
    assert.equal((await getRun(client, ns, 'guarded')).spec.signalState, 'RUN');
    assert.equal((await plugin('stop', 'guarded', '-n', ns)).code, 0);
  });

  it('errors are one line: no such run, unknown verb, bad option, bad kubeconfig, unknown context', async () => {
    oneLineFailure(await plugin('pause', 'no-such-run', '-n', ns), /^kubectl chaosrun pause: Error from server \(NotFound\): chaosruns.chaosrun.dev "no-such-run" not found$/m);
    oneLineFailure(await plugin('status', 'no-such-run', '-n', ns), /NotFound/);
    oneLineFailure(await plugin('explode'), /^kubectl chaosrun: unknown verb "explode"; see kubectl chaosrun --help$/m, 2);
    oneLineFailure(await plugin('status', '--bogus'), /^kubectl chaosrun status: Unknown option '--bogus'/);
    oneLineFailure(await kubectl(['chaosrun', 'status'], '/no/such/kubeconfig'), /^kubectl chaosrun status: KUBECONFIG \/no\/such\/kubeconfig: no such file$/m);
    oneLineFailure(await plugin('status', '--context', 'nope'), /^kubectl chaosrun status: context "nope" not found in the kubeconfig$/m);
  });

  it('import prints the ChaosRun of a krkn config', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n        - pod.yml\ntunings:\n  wait_duration: 30\n  iterations: 2\n');
    writeFileSync(join(dir, 'pod.yml'), '- id: kill-pods\n  config:\n    namespace_pattern: ^web$\n    label_selector: app=web\n');
    const r = await plugin('import', config, '--name', 'imported', '--base-dir', dir);
    assert.equal(r.code, 0, r.stderr);
    const manifest = yaml.load(r.stdout) as ChaosRun;
    assert.equal(manifest.kind, 'ChaosRun');
    assert.equal(manifest.metadata.name, 'imported');
    assert.equal(manifest.spec.iterations, 2);
    assert.equal(manifest.spec.waitDuration, '30s');
    assert.equal(manifest.spec.scenarios[0].podKill?.labelSelector, 'app=web');
    oneLineFailure(await plugin('import', join(dir, 'nope.yaml')), /^kubectl chaosrun import: \S+nope\.yaml: no such file$/m);
  });
});
