// krkn's own images on the real node, built here from krkn's sources (src/realnode/krkn-images.ts) and
// imported by the set-up (`cluster up --real-node --krkn`, npm test as root). Proven, as real pods:
//   - containerd holds them under upstream's names, the hog helper under a tag; nothing is pulled
//     (imagePullPolicy Never);
//   - krkn starts from its image's own entrypoint, and imports every scenario plugin, the VMware one
//     with the vSphere SDK from PyPI;
//   - in a krkn-hub image PID 1 is tini, and a SIGTERM to the container (what the kubelet sends on a
//     STOP) reaches krkn's python mid-scenario: krkn's own handler logs it and krkn exits at once, far
//     before the SIGKILL; with upstream's shell-form entrypoint the same SIGTERM never reaches krkn;
//   - a damaged cached archive is rebuilt, not trusted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { placement, pidAlive, type Pod } from './e2e.ts';
import { SERVICE_API_IP, containerdSocket } from '../../src/realnode/host.ts';
import {
  KRKN_BASE_IMAGE, KRKN_HOG_IMAGE, KRKN_IMAGES, ensureKrknImages, importKrknImages, krknArchiveProblem, krknHubImageName, nodeImageNames,
} from '../../src/realnode/krkn-images.ts';
import type { BuiltImage } from '../../src/realnode/images.ts';

const env: TestEnv = await testEnv('e2e-krkn');
if (!env.state.realNode) throw new Error('the e2e tests need the plane\'s real node; run them with test/run-tests.ts as root');
const log = (m: string) => console.error(m);
// A plane kept between runs may hold images of older sources: these are the current sources' images.
const built: BuiltImage[] = await ensureKrknImages(log, { kubectl: join(env.state.binDir, 'kubectl') });
if (env.state.realNode.krkn?.archive !== built[0].archive || !KRKN_IMAGES.every((n) => nodeImageNames().includes(n))) importKrknImages(built, log);
const ns = env.namespace;
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const getPod = (name: string): Pod | undefined => {
  try { return JSON.parse(env.kubectl(['get', 'pod', '-n', ns, name, '-o', 'json'])) as Pod; } catch { return undefined; }
};

// krkn reads a kubeconfig (krkn-hub: /home/krkn/.kube/config): the plane's admin one, through the
// `kubernetes` Service (kube-proxy), whose address the API server's certificate names.
const kubeconfig = readFileSync(env.state.kubeconfig, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://${SERVICE_API_IP}:443`);
apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'krkn-kubeconfig', namespace: ns }, stringData: { config: kubeconfig } });

interface PodOptions { image: string; command?: string[]; args?: string[]; env?: Record<string, string>; kubeconfig?: boolean; grace?: number; labels?: Record<string, string> }
function startPod(name: string, o: PodOptions): void {
  apply({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: o.labels ?? {} },
    spec: {
      ...placement, restartPolicy: 'Never', terminationGracePeriodSeconds: o.grace ?? 30,
      containers: [{
        name: 'main', image: o.image, imagePullPolicy: 'Never',
        ...(o.command ? { command: o.command } : {}), ...(o.args ? { args: o.args } : {}),
        env: Object.entries(o.env ?? {}).map(([n, value]) => ({ name: n, value })),
        ...(o.kubeconfig ? { volumeMounts: [{ name: 'kubeconfig', mountPath: '/home/krkn/.kube/config', subPath: 'config', readOnly: true }] } : {}),
      }],
      ...(o.kubeconfig ? { volumes: [{ name: 'kubeconfig', secret: { secretName: 'krkn-kubeconfig' } }] } : {}),
    },
  });
}
const finished = (name: string, timeoutMs = 180_000) => eventually(`pod ${name} to finish`, () => {
  const p = getPod(name);
  return p && ['Succeeded', 'Failed'].includes(p.status.phase) ? p : undefined;
}, timeoutMs, 500);
const logsOf = (name: string) => env.kubectl(['logs', '-n', ns, name]);

/** A host process's parent, command line and pid in each PID namespace (the node's containers are host processes). */
function proc(pid: number): { ppid: number; cmdline: string[]; nspid: number[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const nspid = (/^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
    return { ppid, cmdline, nspid };
  } catch { return undefined; }
}
function descendants(root: number): number[] {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length) {
    const next = all.filter((p) => frontier.includes(proc(p)?.ppid ?? -1));
    found.push(...next);
    frontier = next;
  }
  return found;
}
/** The host pid of a running container's init (PID 1 in its namespace), from containerd. */
function initPid(pod: Pod): number {
  const id = (pod.status.containerStatuses?.[0] as { containerID?: string } | undefined)?.containerID?.replace(/^containerd:\/\//, '');
  assert.ok(id, `pod ${pod.metadata.name} has no container id yet`);
  const line = execFileSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'tasks', 'ls'], { encoding: 'utf8' }).split('\n').find((l) => l.startsWith(id));
  assert.ok(line, `containerd lists no task ${id}`);
  return Number(line.split(/\s+/)[1]);
}

test("containerd holds krkn's images under upstream's names, and the hog helper under a tag", () => {
  const held = nodeImageNames();
  for (const name of KRKN_IMAGES) assert.ok(held.includes(name), `${name} in the node's containerd (it holds ${held.join(', ')})`);
  assert.equal(KRKN_HOG_IMAGE, 'quay.io/krkn-chaos/krkn-hog:v0.0.1');
  assert.ok(!held.includes('quay.io/krkn-chaos/krkn-hog:latest'), 'no untagged (latest) hog: a step names the tag');
});

test('krkn starts from its image\'s entrypoint and imports every scenario plugin, the VMware one with the vSphere SDK from PyPI', async () => {
  startPod('krkn-help', { image: KRKN_BASE_IMAGE, args: ['--help'] });
  const script = [
    'import json, sys',
    'from krkn.scenario_plugins.scenario_plugin_factory import ScenarioPluginFactory',
    'f = ScenarioPluginFactory()',
    'import com.vmware.vcenter_client, vmware.vapi.vsphere.client',
    'import krkn.scenario_plugins.node_actions.vmware_node_scenarios as v',
    'print("KRKN " + json.dumps({"loaded": sorted(f.loaded_plugins), "failed": [list(x) for x in f.failed_plugins], "python": sys.version.split()[0], "vsphere": v.create_vsphere_client.__module__}))',
  ].join('\n');
  startPod('krkn-plugins', { image: KRKN_BASE_IMAGE, command: ['/bin/bash', '-c', `which oc kubectl python3.11 && python3.11 -c '${script}'`] });
  const help = await finished('krkn-help');
  assert.equal(help.status.phase, 'Succeeded', logsOf('krkn-help'));
  assert.match(logsOf('krkn-help'), /Usage: run_kraken\.py|--config/);
  const plugins = await finished('krkn-plugins');
  const out = logsOf('krkn-plugins');
  assert.equal(plugins.status.phase, 'Succeeded', out);
  assert.match(out, /^\/usr\/bin\/oc$/m);
  assert.match(out, /^\/usr\/bin\/kubectl$/m);
  assert.match(out, /^\/opt\/krkn-venv\/bin\/python3\.11$/m);
  const report = JSON.parse(/^KRKN (.*)$/m.exec(out)![1]) as { loaded: string[]; failed: unknown[]; python: string; vsphere: string };
  assert.deepEqual(report.failed, []);
  for (const t of ['pod_disruption_scenarios', 'container_scenarios', 'hog_scenarios', 'node_scenarios']) assert.ok(report.loaded.includes(t), `${t} loaded (${report.loaded.join(', ')})`);
  assert.match(report.python, /^3\.11\./);
  assert.equal(report.vsphere, 'vmware.vapi.vsphere.client');
  console.error(`krkn: ${report.loaded.length} scenario types loaded, 0 failed, Python ${report.python}`);
});

/**
 * krkn-hub's pod-scenarios against a bare pod: krkn kills it and then waits for it to come back (it
 * never does), inside the scenario. Returns once krkn has killed it, with the container's processes.
 */
async function krknMidScenario(name: string, command?: string[]): Promise<{ init: number; python: number }> {
  const target = `${name}-target`;
  startPod(target, { image: 'docker.io/library/busybox:1.35', command: ['sleep', '3600'], labels: { app: target }, grace: 0 });
  await eventually(`${target} Running`, () => getPod(target)?.status.phase === 'Running', 60_000, 250);
  startPod(name, {
    image: krknHubImageName('pod-scenarios'), command, kubeconfig: true, grace: 60,
    env: { NAMESPACE: ns, POD_LABEL: `app=${target}`, DISRUPTION_COUNT: '1', EXPECTED_RECOVERY_TIME: '120', KILL_TIMEOUT: '120', WAIT_DURATION: '0' },
  });
  await eventually(`krkn (${name}) to kill ${target}`, () => {
    const p = getPod(name);
    if (p && ['Succeeded', 'Failed'].includes(p.status.phase)) throw new Error(`krkn ended before killing ${target}: ${logsOf(name).split('\n').slice(-15).join('\n')}`);
    return getPod(target) === undefined || getPod(target)?.metadata.deletionTimestamp !== undefined;
  }, 180_000, 500);
  await sleep(1000); // krkn is now in its recovery wait, inside the scenario
  const init = initPid(getPod(name)!);
  const python = descendants(init).find((p) => proc(p)?.cmdline.some((a) => a.endsWith('run_kraken.py')));
  assert.ok(python, `krkn's python among the container's processes: ${descendants(init).map((p) => proc(p)?.cmdline.join(' ')).join(' | ')}`);
  return { init, python };
}

test("upstream's shell-form entrypoint: PID 1 is a shell, and a SIGTERM to the container never reaches krkn", async () => {
  const name = 'krkn-upstream-entry';
  const { init, python } = await krknMidScenario(name, ['/bin/sh', '-c', '/home/krkn/kraken/containers/setup-ssh.sh && /home/krkn/run.sh']);
  assert.deepEqual(proc(init)?.cmdline.slice(0, 2), ['/bin/sh', '-c']);
  assert.equal(proc(init)?.nspid.at(-1), 1);
  process.kill(init, 'SIGTERM');
  await sleep(5000);
  assert.ok(pidAlive(init) && pidAlive(python), 'the shell (PID 1) and krkn both outlive the SIGTERM: the kernel drops it');
  assert.doesNotMatch(logsOf(name), /SIGTERM/);
  env.kubectl(['delete', 'pod', '-n', ns, name, '--grace-period=0', '--force', '--wait=true']);
});

test('a krkn-hub image: PID 1 is tini, and a SIGTERM to the container reaches krkn mid-scenario, which exits at once by its own handler', async () => {
  const name = 'krkn-tini';
  const { init, python } = await krknMidScenario(name);
  assert.deepEqual(proc(init)?.cmdline.slice(0, 4), ['/usr/bin/tini', '-g', '--', '/usr/local/bin/chaosrun-krkn-entrypoint']);
  assert.equal(proc(init)?.nspid.at(-1), 1, 'tini is PID 1 in the container');
  assert.ok((proc(python)?.nspid.at(-1) ?? 0) > 1);
  const sent = Date.now();
  process.kill(init, 'SIGTERM'); // what runc does when the kubelet stops the container (a STOP deletes the step's pod)
  await eventually("krkn's python to exit", () => !pidAlive(python), 30_000, 50);
  const pythonGone = (Date.now() - sent) / 1000;
  const pod = await finished(name, 60_000);
  // finishedAt has a resolution of one second.
  const containerGone = Math.max(1, Math.ceil((Date.parse((pod.status.containerStatuses?.[0]?.state?.terminated as { finishedAt?: string } | undefined)?.finishedAt ?? '') - sent) / 1000));
  const out = logsOf(name);
  console.error(`SIGTERM to the krkn-hub container: krkn's python gone in ${pythonGone.toFixed(2)}s, the container within ${containerGone}s (grace period 60s)\n${out.split('\n').filter((l) => /signal|SIGTERM/i.test(l)).join('\n')}`);
  assert.ok(pythonGone < 10, `krkn exited ${pythonGone.toFixed(1)}s after the SIGTERM, not at the SIGKILL 60s later`);
  assert.ok(containerGone < 10, `the container ended ${containerGone}s after the SIGTERM, not at the SIGKILL 60s later`);
  assert.match(out, /(Performing rollback for|Restoring default signal handler for|Signal) SIGTERM/, "krkn's own SIGTERM handler ran");
  assert.equal(pod.status.phase, 'Failed');
});

test("a damaged cached krkn archive is rebuilt, not trusted", async () => {
  const archive = built[0].archive;
  truncateSync(archive, Math.floor(statSync(archive).size / 3));
  assert.match(krknArchiveProblem()(archive) ?? '', /^not a readable tar/);
  const lines: string[] = [];
  const again = await ensureKrknImages((m) => { lines.push(m); log(m); }, { kubectl: join(env.state.binDir, 'kubectl') });
  assert.equal(again[0].archive, archive, 'the same sources, the same key');
  assert.equal(again[0].cached, false);
  assert.match(lines.join('\n'), new RegExp(`cache: ${archive.replaceAll('.', '\\.')} is unusable \\(not a readable tar.*\\); rebuilding it`));
  assert.equal(krknArchiveProblem()(archive), undefined);
  const reused = await ensureKrknImages(() => {}, { kubectl: join(env.state.binDir, 'kubectl') });
  assert.equal(reused[0].cached, true, 'and the rebuilt one is used as it is');
});
