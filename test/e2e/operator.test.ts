// The operator as users run it: its image (built from the Dockerfile), installed by its chart with
// `helm install`, on the plane's real node, reached through its Service and kube-proxy, running chaos
// that kills real processes. One release (watching every namespace) for the whole file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chaosRun, curl, e2eEnv, eventually, getRun, hostPids, installOperator, pidAlive, placement, runInPhase, token, type Pod, type Release,
} from './e2e.ts';
import { repoRoot, type TestEnv } from '../helpers/env.ts';
import { BUSYBOX_IMAGE, OPERATOR_IMAGE } from '../../src/realnode/images.ts';

// At the top level, not in before(): the helpers register after() hooks that must run at the file's end.
const env: TestEnv = await e2eEnv('e2e-op');
const release: Release = installOperator(env);

const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));

test('the operator Deployment is Available: both containers Ready by their probes, as 65532 on a read-only root, holding the Lease', async () => {
  const [pod] = release.pods();
  assert.equal(pod.status.phase, 'Running');
  assert.equal(pod.spec.nodeName, env.state.realNode!.name, 'the operator runs on the real node');
  const statuses = pod.status.containerStatuses ?? [];
  assert.deepEqual(statuses.map((c) => c.name).sort(), ['controller', 'signal-server']);
  assert.ok(statuses.every((c) => c.ready), `both containers Ready: ${JSON.stringify(statuses)}`);
  // The process really runs as 65532 and cannot write its root filesystem (the image has no shell:
  // node itself is the probe).
  for (const c of ['controller', 'signal-server']) {
    const uid = env.kubectl(['exec', '-n', release.namespace, pod.metadata.name, '-c', c, '--', '/nodejs/bin/node', '-e', 'console.log(process.getuid(), process.getgid())']).trim();
    assert.equal(uid, '65532 65532', `${c} runs as 65532`);
    const write = env.kubectl(['exec', '-n', release.namespace, pod.metadata.name, '-c', c, '--', '/nodejs/bin/node', '-e',
      'try { require("fs").writeFileSync("/app/x", "1"); console.log("wrote") } catch (e) { console.log(e.code) }']).trim();
    assert.equal(write, 'EROFS', `${c}'s root filesystem is read-only`);
  }
  // In-cluster config works: the controller took the leader Lease through the kubernetes Service.
  const holder = await eventually('the leader Lease to be held', () => release.leaseHolder());
  assert.match(holder, new RegExp(`^${pod.metadata.name}`), 'the Lease is held by the operator pod');
  // Its logs are JSON lines (pino), readable with kubectl logs.
  const lines = env.kubectl(['logs', '-n', release.namespace, pod.metadata.name, '-c', 'controller']).trim().split('\n');
  assert.ok(lines.length > 0);
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `a JSON line: ${line}`);
  assert.ok(lines.some((l) => /leader|lease/i.test(l)), 'the log tells about leadership');
});

test('krkn\'s client lines reach the signal server through its Service (kube-proxy), from the host and from a pod, with Kubernetes auth', async () => {
  const ns = await env.createNamespace('e2e-krkn');
  // A caller allowed to signal runs in this namespace, and one that is not.
  env.kubectl(['create', 'serviceaccount', 'krkn', '-n', ns]);
  env.kubectl(['create', 'serviceaccount', 'nobody', '-n', ns]);
  env.kubectl(['create', 'role', 'signal', '-n', ns, '--verb=get,list,patch', '--resource=chaosruns.chaosrun.dev']);
  env.kubectl(['create', 'rolebinding', 'krkn-signal', '-n', ns, '--role=signal', `--serviceaccount=${ns}:krkn`]);
  apply(chaosRun(ns, 'daemon', { daemonMode: true, waitDuration: '1h', scenarios: [{ name: 'noop', job: { image: BUSYBOX_IMAGE, command: ['true'] } }] }));
  await runInPhase(env, ns, 'daemon', ['Running', 'Waiting']);
  const ip = release.serviceIp();
  const url = (p: string) => `http://${ip}:8081${p}`;
  const allowed = token(env, ns, 'krkn');
  const denied = token(env, ns, 'nobody');

  // No token: 401; a token RBAC does not allow: 403; both with a JSON body, and nothing changes.
  const none = curl(['-X', 'POST', url(`/runs/${ns}/daemon/PAUSE`)]);
  assert.equal(none.status, 401, none.body);
  assert.equal(JSON.parse(none.body).reason, "Unauthorized");
  const forbidden = curl(['-X', 'POST', '-H', `Authorization: Bearer ${denied}`, url(`/runs/${ns}/daemon/PAUSE`)]);
  assert.equal(forbidden.status, 403, forbidden.body);
  assert.equal(getRun(env, ns, 'daemon').spec.signalState, 'RUN');

  // krkn's own line, from the host through kube-proxy's DNAT.
  const paused = curl(['-X', 'POST', '-H', `Authorization: Bearer ${allowed}`, url(`/runs/${ns}/daemon/PAUSE`)]);
  assert.equal(paused.status, 200, paused.body);
  await eventually('the run to be Paused', () => getRun(env, ns, 'daemon').status?.phase === 'Paused');
  // krkn's Python client (http.client), from the host.
  const py = `import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 8081, timeout=10)
c.request("POST", "/runs/${ns}/daemon/RUN", headers={"Authorization": "Bearer " + sys.argv[2]})
r = c.getresponse(); print(r.status)`;
  const pyOut = spawnText('python3', ['-c', py, ip, allowed]);
  assert.equal(pyOut.trim(), '200');
  await eventually('the run to leave Paused', () => getRun(env, ns, 'daemon').spec.signalState === 'RUN');

  // From a pod on the real node: busybox wget through the Service IP, krkn's STOP.
  const podName = 'krkn-client';
  env.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace: ns },
    spec: {
      ...placement, restartPolicy: 'Never',
      containers: [{ name: 'wget', image: BUSYBOX_IMAGE, command: ['sh', '-c',
        `wget -q -O - --header "Authorization: Bearer ${allowed}" --post-data "" ${url(`/runs/${ns}/daemon/STOP`)} && echo && wget -q -O - --header "Authorization: Bearer ${allowed}" ${url(`/runs/${ns}/daemon`)}`] }],
    },
  }));
  await eventually('the client pod to finish', () => {
    const phase = env.kubectl(['get', 'pod', '-n', ns, podName, '-o', 'jsonpath={.status.phase}']);
    if (phase === 'Failed') throw new Error(`client pod failed: ${env.kubectl(['logs', '-n', ns, podName])}`);
    return phase === 'Succeeded';
  }, 60_000, 500);
  const out = env.kubectl(['logs', '-n', ns, podName]);
  assert.match(out, /STOP/);
  const stopped = await runInPhase(env, ns, 'daemon', ['Stopped']);
  assert.equal(stopped.status?.report?.reason, 'Stopped');
  // GET / as krkn reads it (the runs in this caller's scope).
  const state = curl(['-H', `Authorization: Bearer ${allowed}`, url('/runs')]);
  assert.equal(state.status, 200, state.body);
});

test('a built-in podKill works in a namespace created after install, and gracePeriodSeconds 0 kills the container at once', async () => {
  // The namespace is new: the scenario ServiceAccount does not exist in it until the operator makes it.
  const ns = await env.createNamespace('e2e-kill');
  const marker = `chaosrun-e2e-victim-${ns}`;
  // Two httpd replicas that ignore SIGTERM: only a 0-second grace period ends them at once.
  apply({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 2, selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          ...placement, terminationGracePeriodSeconds: 30,
          containers: [{
            name: 'httpd', image: BUSYBOX_IMAGE,
            // The marker is in httpd's own argv (its document root), so the host's pgrep finds the process.
            command: ['sh', '-c', `trap '' TERM; mkdir -p /tmp/${marker} && echo ok > /tmp/${marker}/index.html && exec httpd -f -p 8080 -h /tmp/${marker}`],
            readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
          }],
        },
      },
    },
  });
  await eventually('both web replicas Ready', () => env.kubectl(['get', 'deploy', '-n', ns, 'web', '-o', 'jsonpath={.status.readyReplicas}']) === '2', 90_000, 500);
  const before = hostPids(marker);
  assert.equal(before.length, 2, `two httpd processes on the host: ${before}`);
  assert.throws(() => env.kubectl(['get', 'serviceaccount', '-n', ns, 'chaosrun-scenario']), /NotFound|not found/);

  apply(chaosRun(ns, 'kill', { scenarios: [{ name: 'kill-one', podKill: { namespace: ns, labelSelector: 'app=web', count: 1, gracePeriodSeconds: 0, recovery: { timeout: '90s' } } }] }));
  // The kill lands: one of the two processes ends within seconds (with the old default grace it lived 30 s).
  const killedAt = await eventually('one httpd process to be killed', () => {
    const gone = before.filter((p) => !pidAlive(p));
    return gone.length === 1 ? Date.now() : undefined;
  }, 60_000, 100);
  const job = JSON.parse(env.kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])).items[0];
  const podDeletedLog = await eventually('the step pod\'s log of the deletion', () => {
    const logs = env.kubectl(['logs', '-n', ns, `job/${job.metadata.name}`]);
    return logs.split('\n').find((l) => l.includes('deleted pod'));
  }, 30_000, 500);
  const deletedAt = Date.parse(JSON.parse(podDeletedLog).time);
  assert.ok(killedAt - deletedAt < 5_000, `the process ended ${killedAt - deletedAt} ms after the delete (grace period 0, container ignores SIGTERM)`);
  const run = await runInPhase(env, ns, 'kill', ['Completed', 'Failed'], 150_000);
  assert.equal(run.status?.phase, 'Completed', JSON.stringify(run.status?.history));
  assert.equal(run.status?.history?.[0]?.result, 'Succeeded');
  // The replacement is a new process, Ready; the survivor was not touched.
  const after = hostPids(marker);
  assert.equal(after.length, 2);
  assert.equal(after.filter((p) => before.includes(p)).length, 1, 'exactly one original process survives');
  assert.equal(env.kubectl(['get', 'deploy', '-n', ns, 'web', '-o', 'jsonpath={.status.readyReplicas}']), '2');
  // The operator made the scenario account here, owned by the chart's binding (removed with the release).
  const sa = JSON.parse(env.kubectl(['get', 'serviceaccount', '-n', ns, 'chaosrun-scenario', '-o', 'json']));
  assert.equal(sa.metadata.ownerReferences?.[0]?.kind, 'ClusterRoleBinding');
});

test('a job step runs a real container: kubectl logs shows its output, and a failing one\'s termination message lands in status.history', async () => {
  const ns = await env.createNamespace('e2e-job');
  apply(chaosRun(ns, 'jobs', {
    failurePolicy: 'Continue',
    scenarios: [
      { name: 'hello', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "hello from $(hostname) on a real node"'] } },
      { name: 'broken', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "disk on fire" > /dev/termination-log; exit 3'] } },
    ],
  }));
  const run = await runInPhase(env, ns, 'jobs', ['Completed', 'Failed'], 120_000);
  const [hello, broken] = run.status!.history!;
  assert.equal(hello.result, 'Succeeded');
  assert.match(env.kubectl(['logs', '-n', ns, `job/${hello.job}`]), /^hello from .* on a real node$/m);
  assert.equal(broken.result, 'Failed');
  assert.match(broken.message ?? '', /disk on fire/);
});

test('STOP during a step: its container gets SIGTERM and its pod is gone within the grace period; the run is Stopped with a report', async () => {
  const ns = await env.createNamespace('e2e-stop');
  apply(chaosRun(ns, 'long', {
    iterations: 3,
    scenarios: [{ name: 'long', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'trap "echo got SIGTERM; exit 0" TERM; echo started; while true; do sleep 0.2; done'] } }],
  }));
  const jobName = await eventually('the step to be running', () => {
    const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items as Pod[];
    const running = pods.find((p) => p.status.containerStatuses?.[0]?.state?.running);
    return running?.metadata.labels?.['job-name'];
  }, 60_000, 200);
  // Follow the step's log as the kubelet writes it, so the last words survive the pod.
  const follow = spawn(`${env.state.binDir}/kubectl`, ['--kubeconfig', env.kubeconfig, 'logs', '-f', '-n', ns, `job/${jobName}`]);
  let logs = '';
  follow.stdout.on('data', (b: Buffer) => { logs += b.toString(); });
  await eventually('the log to start', () => logs.includes('started'), 20_000);
  const stopSent = Date.now();
  env.kubectl(['patch', 'chaosrun', '-n', ns, 'long', '--type', 'merge', '-p', '{"spec":{"signalState":"STOP"}}']);
  await eventually('the step pod to be gone', () => JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items.length === 0, 35_000, 200);
  const goneAfter = Date.now() - stopSent;
  follow.kill();
  assert.match(logs, /got SIGTERM/, `the container was sent SIGTERM; its log: ${logs}`);
  assert.ok(goneAfter < 30_000, `pod gone ${goneAfter} ms after STOP, within its 30 s grace period`);
  const run = await runInPhase(env, ns, 'long', ['Stopped']);
  assert.equal(run.status?.report?.reason, 'Stopped');
  assert.equal(run.status?.history?.length, 1, 'no step started after STOP');
  assert.equal(run.status?.history?.[0].result, 'Aborted');
});

test('PAUSE during a step lets it finish and starts nothing; RUN resumes', async () => {
  const ns = await env.createNamespace('e2e-pause');
  apply(chaosRun(ns, 'steps', {
    iterations: 2,
    scenarios: [{ name: 'nap', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'sleep 3; echo done'] } }],
  }));
  await eventually('the first step pod to run', () => {
    const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items as Pod[];
    return pods.some((p) => p.status.containerStatuses?.[0]?.state?.running);
  }, 60_000, 200);
  env.kubectl(['patch', 'chaosrun', '-n', ns, 'steps', '--type', 'merge', '-p', '{"spec":{"signalState":"PAUSE"}}']);
  const paused = await eventually('the first step to finish while paused', () => {
    const run = getRun(env, ns, 'steps');
    return run.status?.history?.[0]?.result === 'Succeeded' ? run : undefined;
  }, 60_000, 250);
  assert.equal(paused.status?.phase, 'Paused');
  await new Promise((r) => setTimeout(r, 4000));
  const jobs = JSON.parse(env.kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])).items;
  assert.equal(jobs.length, 1, 'no new step Job while paused');
  env.kubectl(['patch', 'chaosrun', '-n', ns, 'steps', '--type', 'merge', '-p', '{"spec":{"signalState":"RUN"}}']);
  const done = await runInPhase(env, ns, 'steps', ['Completed'], 90_000);
  assert.deepEqual(done.status?.history?.map((h) => [h.iteration, h.result]), [[1, 'Succeeded'], [2, 'Succeeded']]);
});

function spawnText(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test('the image runs the chaosrun CLI as `docker run IMAGE import …` does: its entrypoint, a mounted config, the manifest on stdout', async () => {
  const ns = await env.createNamespace('e2e-cli');
  // A krkn config and its scenario file, mounted read-only as a user would mount a directory.
  env.kubectl(['create', 'configmap', 'krkn', '-n', ns,
    '--from-literal=config.yaml=kraken:\n  signal_state: PAUSE\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - pod.yml\ntunings:\n  iterations: 3\n  wait_duration: 5\n',
    '--from-literal=pod.yml=- id: kill-pods\n  config:\n    namespace_pattern: ^shop$\n    label_selector: app=web\n    kill: 1\n']);
  apply({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'import', namespace: ns },
    spec: {
      ...placement, restartPolicy: 'Never',
      // No command: the image's ENTRYPOINT (the CLI) gets these arguments, as with `docker run IMAGE import …`.
      containers: [{ name: 'chaosrun', image: OPERATOR_IMAGE, imagePullPolicy: 'Never', args: ['import', '/work/config.yaml', '--name', 'imported', '--base-dir', '/work'],
        volumeMounts: [{ name: 'work', mountPath: '/work', readOnly: true }] }],
      volumes: [{ name: 'work', configMap: { name: 'krkn' } }],
    },
  });
  await eventually('the import pod to finish', () => {
    const phase = env.kubectl(['get', 'pod', '-n', ns, 'import', '-o', 'jsonpath={.status.phase}']);
    if (phase === 'Failed') throw new Error(`import failed: ${env.kubectl(['logs', '-n', ns, 'import'])}`);
    return phase === 'Succeeded';
  }, 60_000, 500);
  const manifest = env.kubectl(['logs', '-n', ns, 'import']);
  assert.match(manifest, /kind: ChaosRun/);
  assert.match(manifest, /name: imported/);
  assert.match(manifest, /signalState: PAUSE/);
  assert.match(manifest, /iterations: 3/);
  // What it printed is a ChaosRun the API server accepts as it is.
  env.kubectl(['apply', '-n', ns, '--dry-run=server', '-f', '-'], manifest);
});

test('kubectl chaosrun logs shows a real step\'s output: -f follows the running step until its container ends; --iteration picks an earlier one', async () => {
  const ns = await env.createNamespace('e2e-logs');
  // The plugin on the PATH as a user installs it (a file named kubectl-chaosrun), found by kubectl itself.
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-chaosrun-'));
  symlinkSync(join(repoRoot, 'bin/kubectl-chaosrun.js'), join(dir, 'kubectl-chaosrun'));
  const PATH = [dir, join(repoRoot, 'node_modules/node/bin'), env.state.binDir, '/usr/bin', '/bin'].join(':');
  // stdout, and when each of its lines arrived (a followed log arrives as the container writes it).
  const plugin = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string; arrived: Map<string, number> }>((resolve) => {
    const child = spawn(join(env.state.binDir, 'kubectl'), ['chaosrun', ...args, '-n', ns], { env: { PATH, KUBECONFIG: env.kubeconfig, HOME: dir } });
    let stdout = '';
    let stderr = '';
    const arrived = new Map<string, number>();
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      for (const line of stdout.split('\n').slice(0, -1)) if (!arrived.has(line)) arrived.set(line, Date.now());
    });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, arrived }));
  });
  try {
    // Each step prints its pod's name, then ticks for 5 s: long enough to be followed.
    const output = (pod: string) => [`pod ${pod}`, ...Array.from({ length: 10 }, (_, i) => `tick ${i + 1}`), 'done', ''].join('\n');
    apply(chaosRun(ns, 'ticker', {
      iterations: 2,
      scenarios: [{ name: 'tick', job: { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "pod $(hostname)"; for i in $(seq 1 10); do echo "tick $i"; sleep 0.5; done; echo done'] } }],
    }));
    await eventually('the first step\'s container to run', () => {
      const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', ns, '-o', 'json'])).items as Pod[];
      return pods.some((p) => p.status.containerStatuses?.[0]?.state?.running) || undefined;
    }, 60_000, 100);
    const followed = await plugin(['logs', 'ticker', '-f']);
    assert.equal(followed.code, 0, followed.stderr);
    const [, job, pod] = /^step tick, iteration 1: job (\S+), pod (\S+)$/m.exec(followed.stderr) ?? [];
    assert.ok(pod, `the step named on stderr: ${followed.stderr}`);
    // Followed to the end: the whole output, in order, and -f returned when the container ended.
    assert.equal(followed.stdout, output(pod));
    // Streamed, not read once at the end: the ticks (0.5 s apart in the container) came over seconds.
    const streamedMs = followed.arrived.get('done')! - followed.arrived.get('tick 5')!;
    assert.ok(streamedMs >= 1000, `"tick 5" to "done" arrived ${streamedMs} ms apart: the log was not followed`);
    assert.match(job, /^ticker-/);

    await runInPhase(env, ns, 'ticker', ['Completed'], 120_000);
    // Finished: the latest step is the second iteration's; --iteration 1 is the one followed above.
    const latest = await plugin(['logs', 'ticker']);
    assert.equal(latest.code, 0, latest.stderr);
    const [, pod2] = /^step tick, iteration 2: job \S+, pod (\S+)$/m.exec(latest.stderr) ?? [];
    assert.ok(pod2 && pod2 !== pod, `the second iteration's own pod: ${latest.stderr}`);
    assert.equal(latest.stdout, output(pod2));
    const first = await plugin(['logs', 'ticker', '--iteration', '1', '--step', 'tick']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, followed.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
