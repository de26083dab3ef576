// The node agent's process faults as a process against the API server, on real processes in real
// cgroups (test/helpers/container-lab.ts stands in for containerd's task bundles; the real node's
// e2e proves the same under containerd and the kubelet): a freeze stops an HTTP server answering and
// PAUSE, RUN and the holder's end undo and redo it at once; the freeze's bound when the agent dies (its
// guard thaws on the parent-death signal; a restarted agent thaws a recorded freeze whose guard was
// killed too); a CPU stress charged to the target's cgroup at its load and within its quota, gone on
// PAUSE and with a SIGKILLed agent; a memory stress raising the cgroup's usage, and past its limit
// OOM-killed inside that cgroup only; a containerKill's signal to the recorded container's main
// process, never to its successor. Needs root, cgroup v1, stress-ng and setpriv; SKIPPED otherwise.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { FaultSpec } from '../../src/api/fault-holder.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { freePort } from '../../src/local/free-port.ts';
import { ContainerLab, containerLabPrecondition, type LabContainer } from '../helpers/container-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { createBareRun, createHolder, spawnAgent, stopChild } from '../helpers/node-lab.ts';

const need = containerLabPrecondition() ?? (() => {
  for (const tool of ['stress-ng', 'setpriv']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (not found)`; }
  }
  return undefined;
})();
if (need) console.log(`SKIPPED node agent process-fault tests: ${need}`);
const skip = need ? { skip: need } : {};

const NODE = 'agent-process-node';
const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-process');
const lab = need ? (undefined as unknown as ContainerLab) : new ContainerLab();

interface Agent { child: ChildProcess; log: () => string }
const agents: Agent[] = [];
function startAgent(): Agent {
  let log = '';
  const child = spawnAgent(['--node', NODE, '--proc', '/proc', '--containerd-tasks', lab.tasksDir, '--state-dir', lab.stateDir], env.kubeconfig, (t) => { log += t; });
  const a = { child, log: () => log };
  agents.push(a);
  return a;
}

/** GET / answered within `ms`: true, or false when it timed out (a frozen server accepts in the kernel but never answers). */
function answers(port: number, ms = 400): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: ms }, (res) => { res.resume(); res.on('end', () => resolve(true)); });
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function server(podUid: string, name = 'app', limits = {}): Promise<{ c: LabContainer; port: number }> {
  const port = await freePort();
  const c = await lab.add(podUid, name, [process.execPath, '-e', `require('http').createServer((q, r) => r.end('ok')).listen(${port}, '127.0.0.1')`], limits);
  await eventually(`the ${name} server answers`, () => answers(port, 1000), 10_000, 100);
  return { c, port };
}

const target = (podUid: string, containers?: Array<{ name: string; id: string }>) => [{ namespace: 'shop', name: `web-${podUid.slice(0, 4)}`, uid: podUid, node: NODE, ...(containers ? { containers } : {}) }];
const signal = (run: string, signalState: string) =>
  env.client.request('PATCH', paths.chaosRuns(env.namespace, run), { body: { spec: { signalState } }, contentType: MERGE_PATCH });
let holderN = 0;
async function holder(run: string, spec: FaultSpec, targets: ReturnType<typeof target>): Promise<string> {
  return createHolder(env.client, env.namespace, { name: `holder-${holderN++}`, run, spec, targets });
}
const deleteHolder = (n: number) => env.client.request('DELETE', paths.pods(env.namespace, `holder-${n}`), { body: { gracePeriodSeconds: 0 } });
/** Stressors tagged by any agent of this lab (their env names the fault's key). */
function stressors(): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/environ`, 'latin1').includes('CHAOSRUN_STRESS='); } catch { return false; }
  }).map(Number);
}
const since = (t: number) => Date.now() - t;
/** The live agent (one is started when the last was killed): every test starts with one. */
function ensureAgent(): Agent {
  const last = agents.at(-1);
  return last && last.child.exitCode === null && last.child.signalCode === null ? last : startAgent();
}

describe('node agent process faults', { concurrency: false }, () => {
  before(() => { if (!need) startAgent(); });
  beforeEach(() => { if (!need) ensureAgent(); });
  after(async () => {
    for (const a of agents) await stopChild(a.child, 'SIGKILL');
    lab?.close();
  });

  /**
   * The agent thaws first and removes the freeze's record after (a crash between them leaves a record
   * whose cgroup the next agent thaws again, harmlessly), so the target answers a moment before the
   * record is gone: wait for it, briefly.
   */
  const noFreezeRecord = () => eventually('no freeze record left', () => readdirSync(`${lab.stateDir}/frozen`).length === 0, 2_000, 20)
    .catch(() => assert.deepEqual(readdirSync(`${lab.stateDir}/frozen`), [], 'no freeze record left'));

  it('freeze: the server stops answering; PAUSE thaws it within a second, RUN freezes it again, the holder\'s end thaws it', { ...skip, timeout: 90_000 }, async () => {
    const pod = randomUUID();
    const { c, port } = await server(pod);
    await createBareRun(env.client, env.namespace, 'freeze', 'RUN');
    const n = holderN;
    await holder('freeze', { kind: 'freeze' }, target(pod, [{ name: 'app', id: c.id }]));
    await eventually('the container frozen', () => lab.freezerState(c) === 'FROZEN', 15_000, 50);
    assert.equal(await answers(port), false, 'a frozen server does not answer');
    const paused = Date.now();
    await signal('freeze', 'PAUSE');
    await eventually('answers again after PAUSE', () => answers(port, 200), 5_000, 20);
    const pauseMs = since(paused);
    assert.ok(pauseMs < 1500, `answered ${pauseMs} ms after PAUSE`);
    await signal('freeze', 'RUN');
    await eventually('frozen again after RUN', () => lab.freezerState(c) === 'FROZEN', 5_000, 50);
    const ended = Date.now();
    await deleteHolder(n);
    await eventually('answers again after the holder\'s end', () => answers(port, 200), 5_000, 20);
    assert.ok(since(ended) < 1500, `answered ${since(ended)} ms after the holder was deleted`);
    assert.equal(lab.freezerState(c), 'THAWED');
    await noFreezeRecord();
    console.log(`freeze: undone ${pauseMs} ms after PAUSE, ${since(ended)} ms after the holder's end`);
  });

  it('freeze outlives no agent: a SIGKILLed agent\'s guard thaws at once; a freeze whose guard died too is thawed by the next agent', { ...skip, timeout: 120_000 }, async () => {
    const pod = randomUUID();
    const { c, port } = await server(pod);
    await createBareRun(env.client, env.namespace, 'bound', 'RUN');
    const n = holderN;
    await holder('bound', { kind: 'freeze' }, target(pod, [{ name: 'app', id: c.id }]));
    await eventually('frozen', () => lab.freezerState(c) === 'FROZEN', 15_000, 50);
    const killed = Date.now();
    await stopChild(agents.at(-1)!.child, 'SIGKILL');
    await eventually('answers after the agent was SIGKILLed (the guard\'s parent-death signal)', () => answers(port, 200), 5_000, 20);
    const guardMs = since(killed);
    assert.ok(guardMs < 1500, `thawed ${guardMs} ms after the agent's SIGKILL`);
    // A new agent freezes it again (still wanted); then it and its guard are SIGKILLed together.
    startAgent();
    await eventually('frozen by the next agent', () => lab.freezerState(c) === 'FROZEN', 20_000, 50);
    // Both at once, in one kill(1): the guard first would have the agent freeze again with a new guard,
    // the agent first would have the guard thaw on its parent-death signal.
    const guard = execFileSync('pgrep', ['-f', `chaosrun-freeze-guard /sys/fs/cgroup/freezer/${lab.prefix}/pod${pod}`], { encoding: 'utf8' }).trim().split('\n')[0];
    execFileSync('kill', ['-KILL', guard, String(agents.at(-1)!.child.pid)]);
    await stopChild(agents.at(-1)!.child, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lab.freezerState(c), 'FROZEN', 'with every process of ours gone the freeze stays: the freezer has no lease');
    await deleteHolder(n);
    const restarted = Date.now();
    startAgent();
    await eventually('the next agent thaws the recorded freeze whose step is over', () => answers(port, 200), 30_000, 50);
    console.log(`freeze bound: guard thawed ${guardMs} ms after the agent's SIGKILL; a restarted agent thawed a guardless freeze ${since(restarted)} ms after it was started`);
    await noFreezeRecord();
  });

  it('stress cpu: charged to the target\'s cgroup at its load and within its quota; gone on PAUSE and with a SIGKILLed agent', { ...skip, timeout: 120_000 }, async () => {
    const pod = randomUUID();
    // A 0.3-CPU quota, as a pod limit of 300m sets it.
    const c = await lab.add(pod, 'app', ['sleep', '3600'], { cpuQuotaUs: 30_000 });
    await createBareRun(env.client, env.namespace, 'cpu', 'RUN');
    await holder('cpu', { kind: 'stress', cpu: { workers: 1, load: 100 } }, target(pod, [{ name: 'app', id: c.id }]));
    await eventually('a stressor in the target\'s cgroup', () => lab.pids(c).length > 1, 15_000, 50);
    const rate = async () => { const a = lab.cpuUsageNs(c); await new Promise((r) => setTimeout(r, 2000)); return (lab.cpuUsageNs(c) - a) / 2e9; };
    const used = await rate();
    console.log(`stress cpu: the target's cgroup used ${used.toFixed(2)} CPU under a 0.30 CPU quota`);
    assert.ok(used > 0.2 && used < 0.33, `the cgroup used ${used.toFixed(2)} CPU: the load is charged to it and held to its quota`);
    const paused = Date.now();
    await signal('cpu', 'PAUSE');
    await eventually('no stressor after PAUSE', () => stressors().length === 0 && lab.pids(c).length === 1, 5_000, 20);
    const pauseMs = since(paused);
    assert.ok(pauseMs < 1500, `stressors gone ${pauseMs} ms after PAUSE`);
    await signal('cpu', 'RUN');
    await eventually('the stressor back after RUN', () => lab.pids(c).length > 1, 5_000, 50);
    const killed = Date.now();
    await stopChild(agents.at(-1)!.child, 'SIGKILL');
    await eventually('no stressor once the agent is SIGKILLed (parent-death signal)', () => stressors().length === 0, 5_000, 20);
    const deathMs = since(killed);
    assert.ok(deathMs < 1500, `stressors gone ${deathMs} ms after the agent's SIGKILL`);
    console.log(`stress cpu: gone ${pauseMs} ms after PAUSE, ${deathMs} ms after the agent's SIGKILL`);
    await signal('cpu', 'STOP');
    startAgent();
  });

  it('stress memory: the target\'s usage rises by the size; past its limit the OOM kill lands in its cgroup only', { ...skip, timeout: 120_000 }, async () => {
    const pod = randomUUID();
    const roomy = await lab.add(pod, 'app', ['sleep', '3600'], { memoryBytes: 512 * 1024 * 1024 });
    const bystander = await lab.add(randomUUID(), 'app', ['sleep', '3600'], { memoryBytes: 512 * 1024 * 1024 });
    await createBareRun(env.client, env.namespace, 'mem', 'RUN');
    const n = holderN;
    const before = lab.memoryUsage(roomy);
    await holder('mem', { kind: 'stress', memory: { size: '96Mi' } }, target(pod, [{ name: 'app', id: roomy.id }]));
    await eventually('the cgroup\'s usage up by the size', () => lab.memoryUsage(roomy) - before > 90 * 1024 * 1024, 20_000, 100);
    console.log(`stress memory: usage ${(before / 2 ** 20).toFixed(1)} MiB -> ${(lab.memoryUsage(roomy) / 2 ** 20).toFixed(1)} MiB with 96Mi asked`);
    await deleteHolder(n);
    await eventually('the memory given back at the step\'s end', () => lab.memoryUsage(roomy) - before < 16 * 1024 * 1024, 10_000, 100);

    const tight = await lab.add(randomUUID(), 'app', ['sleep', '3600'], { memoryBytes: 48 * 1024 * 1024 });
    await holder('mem', { kind: 'stress', memory: { size: '96Mi' } }, target(tight.podUid, [{ name: 'app', id: tight.id }]));
    await eventually('an OOM kill in the tight cgroup', () => lab.oomKills(tight) > 0, 20_000, 100);
    assert.equal(lab.oomKills(bystander), 0, 'no OOM kill in another container\'s cgroup');
    assert.equal(lab.oomKills(roomy), 0);
    await signal('mem', 'STOP');
    await eventually('no stressor after STOP', () => stressors().length === 0, 5_000, 50);
  });

  it('stress node: the load runs in a node-level cgroup of the agent\'s own, not the target\'s, and that cgroup goes with it', { ...skip, timeout: 60_000 }, async () => {
    const pod = randomUUID();
    const c = await lab.add(pod, 'app', ['sleep', '3600'], { cpuQuotaUs: 10_000 });
    await createBareRun(env.client, env.namespace, 'node-load', 'RUN');
    const id = (await holder('node-load', { kind: 'stress', cpu: { workers: 1, load: 100 }, node: true }, target(pod, [{ name: 'app', id: c.id }]))).toLowerCase();
    const cgroup = `/sys/fs/cgroup/cpuacct/chaosrun-stress/${id}`;
    await eventually('a stressor in the node-level cgroup', () => { try { return readFileSync(`${cgroup}/cgroup.procs`, 'utf8').trim() !== ''; } catch { return false; } }, 15_000, 50);
    assert.equal(lab.pids(c).length, 1, 'nothing joined the target container');
    const a = Number(readFileSync(`${cgroup}/cpuacct.usage`, 'utf8'));
    await new Promise((r) => setTimeout(r, 2000));
    const used = (Number(readFileSync(`${cgroup}/cpuacct.usage`, 'utf8')) - a) / 2e9;
    console.log(`stress node: ${used.toFixed(2)} CPU in the node-level cgroup (the target's quota is 0.10)`);
    // Twice the target's quota at least: no container limit holds it (on an idle node it is a whole CPU;
    // this machine's two cores are shared with other test planes).
    assert.ok(used > 0.2, `the node is loaded beyond the target's 0.1-CPU quota (${used.toFixed(2)} CPU)`);
    await signal('node-load', 'STOP');
    await eventually('no stressor and no node-level cgroup after STOP', () => stressors().length === 0 && !existsSync(cgroup), 5_000, 50);
  });

  it('containerKill: the recorded container\'s main process gets the signal once; its successor never', { ...skip, timeout: 90_000 }, async () => {
    const pod = randomUUID();
    const first = await lab.add(pod, 'app', ['sleep', '3600']);
    await createBareRun(env.client, env.namespace, 'kill', 'RUN');
    const exited = new Promise<NodeJS.Signals | null>((r) => first.proc.once('exit', (_c, s) => r(s)));
    await holder('kill', { kind: 'containerKill', signal: 'KILL' }, target(pod, [{ name: 'app', id: first.id }]));
    assert.equal(await exited, 'SIGKILL');
    lab.removeTask(first);
    // The kubelet's restart: a new container of the same name, with a new id.
    const second = await lab.add(pod, 'app', ['sleep', '3600']);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(second.proc.exitCode, null, 'the restarted container is not signalled');
    assert.equal(second.proc.signalCode, null);
    await signal('kill', 'STOP');
  });
});
