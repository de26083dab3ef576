// The kill switch at the node: a node agent process holds the faults of 100 runs (one holder pod each on
// the kwok node, each targeting its own pod whose sandbox is a /proc stand-in in one of four real
// network namespaces, as in agent-shell.test.ts; each namespace is held by a process of this test, not
// mounted under /run/netns, where a real node's clean-up on this host may unmount it), and one POST /STOP ends all 100 within about a second
// of its answer, because the agent sees the kill-switch record (one write, before the 100 run patches)
// as one event. First the same is measured without the record (the runs patched one by one, as the
// broadcast did before it), for comparison. A run made after the throw is unaffected (the record is
// never cleared), and the agent's field-selector watch sees no other ConfigMap.
// Needs root (network namespaces, nft); without it the tests are registered as skipped with the reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT, type NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { KILL_SWITCH_NAME } from '../../src/api/kill-switch.ts';
import { listFound } from '../../src/agent/nft.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { startSignalServer, type SignalServer } from '../../src/signal/server.ts';
import { eventually, repoRoot, testEnv, type TestEnv } from '../helpers/env.ts';
import { addPauseProcess, rootWithTools } from '../helpers/node-lab.ts';
import { quietLog } from '../helpers/operator.ts';

const need = rootWithTools('kill-switch agent tests', ['unshare', 'nft', 'nsenter'], 'to create network namespaces');
const skip = need ? { skip: need } : {};

const RUNS = 100;
/** More runs in the broadcast with no holder (CHAOSRUN_KILL_SWITCH_IDLE_RUNS=900: the kill switch at 1,000 runs). */
const IDLE = Math.min(5000, Number(process.env.CHAOSRUN_KILL_SWITCH_IDLE_RUNS ?? 0) || 0);
const NETNS = 4;
const NODE = 'kill-switch-node';
/** The processes holding the network namespaces (`unshare --net sleep`), and their namespaces. */
const holdersOfNetns: ChildProcess[] = [];
let netnses: string[] = [];
const proc = mkdtempSync(join(tmpdir(), 'agent-ks-proc-'));
// A long lease: renewals of 200 tables do not crowd the passes being measured.
const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 30 };

const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-ks');
const ops = need ? '' : await env.createNamespace('agent-ks-ops');
let agent: ChildProcess | undefined;
let agentLog = '';
let server: SignalServer | undefined;
let nextPid = 5000;

/** A target pod's sandbox stand-in: a pause process of that pod uid whose ns/net is one of the namespaces. */
function addSandbox(podUid: string, netns: string): void {
  addPauseProcess(proc, nextPid++, podUid, netns);
}

/** Every chaosrun table in the four namespaces. */
const tables = async () => (await Promise.all(netnses.map((n) => listFound(n)))).flat();

/** `count` runs saying RUN, each with a holder on the kwok node whose one target's sandbox is here. */
async function holdFaults(prefix: string, count: number): Promise<Set<string>> {
  const { client, namespace } = env;
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  await Promise.all(names.map((name) => client.request('POST', paths.chaosRuns(namespace), { body: {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name },
    spec: { signalState: 'RUN', scenarios: [{ name: 'cut', job: { image: 'busybox' } }] },
  } })));
  const holders = await Promise.all(names.map(async (run, i) => {
    const target = randomUUID();
    addSandbox(target, netnses[i % NETNS]);
    const pod = await client.request<{ metadata: { uid: string } }>('POST', paths.pods(namespace), { body: {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: `${run}-holder`, labels: { [LABEL_FAULT]: 'network', 'chaosrun.dev/run': run, 'chaosrun.dev/step': 'cut' },
        annotations: {
          [ANNOTATION_FAULT]: JSON.stringify(spec),
          [ANNOTATION_FAULT_TARGETS]: JSON.stringify([{ namespace: 'shop', name: `web-${run}`, uid: target, node: NODE }]),
        },
      },
      spec: {
        nodeName: 'kwok-node-0', containers: [{ name: 'holder', image: 'busybox' }],
        tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      },
    } });
    return pod.metadata.uid;
  }));
  const ids = new Set(holders);
  await eventually(`${count} ${prefix} faults in force`, async () => (await tables()).filter((t) => ids.has(t.id)).length === count, 120_000, 250);
  return ids;
}

/** The chaosrun table names in a namespace: `nft list tables`, cheap enough to poll beside the agent. */
const tableNames = (netns: string) => new Promise<string[]>((resolve, reject) => {
  execFile('nsenter', [`--net=${netns}`, '--', 'nft', 'list', 'tables'], { encoding: 'utf8' }, (err, out) => {
    if (err) reject(err); else resolve([...out.matchAll(/table inet chaosrun_(\S+)/g)].map((m) => m[1]));
  });
});

/** When the agent logged each line with this message since `from` (its own clock, the same host's). */
const loggedAt = (msg: string, from: number) => agentLog.split('\n').flatMap((l) => {
  if (!l.includes(`"msg":"${msg}"`)) return [];
  const t = Date.parse((JSON.parse(l) as { time: string }).time);
  return t >= from ? [t] : [];
});

/**
 * Polls the tables' names every 20 ms (bounded: 30 s) from before `act` until none of `ids` is left;
 * returns when `act` was answered and when the last table went, relative to its start, and when the
 * agent logged its first and last revert.
 */
async function timeToNone(ids: Set<string>, act: () => Promise<void>): Promise<{ startedAt: number; answeredMs: number; goneMs: number; firstRevertMs: number; lastRevertMs: number; recordSeenMs?: number }> {
  const start = Date.now();
  let goneAt: number | undefined;
  const poller = (async () => {
    for (let i = 0; i < 1500 && goneAt === undefined; i++) {
      const left = (await Promise.all(netnses.map(tableNames))).flat().filter((id) => ids.has(id));
      if (left.length === 0) goneAt = Date.now();
      else await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await act();
  const answeredAt = Date.now();
  await poller;
  assert.ok(goneAt !== undefined, `the faults were not all reverted within the poll's bound\n${agentLog.slice(-3000)}`);
  await new Promise((r) => setTimeout(r, 200)); // the agent's last log lines
  const reverts = loggedAt('fault reverted', start);
  const record = loggedAt('kill-switch record: the faults of its runs end', start);
  return {
    startedAt: start, answeredMs: answeredAt - start, goneMs: goneAt - start, firstRevertMs: Math.min(...reverts) - start, lastRevertMs: Math.max(...reverts) - start,
    ...(record.length ? { recordSeenMs: record[0] - start } : {}),
  };
}

describe('the kill switch ends every lasting fault on the node at once', { concurrency: false }, () => {
  before(async () => {
    if (need) return;
    for (let i = 0; i < NETNS; i++) {
      const p = spawn('unshare', ['--net', '--', 'sleep', '900'], { stdio: 'ignore' });
      holdersOfNetns.push(p);
    }
    // unshare execs sleep in the new namespace: the same pid, once its namespace differs from ours.
    const own = execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    netnses = await eventually('the network namespaces\' holders to be in their own namespaces', () => {
      const links = holdersOfNetns.map((p) => { try { return execFileSync('readlink', [`/proc/${p.pid}/ns/net`], { encoding: 'utf8' }).trim(); } catch { return own; } });
      return links.every((l) => l !== own) ? holdersOfNetns.map((p) => `/proc/${p.pid}/ns/net`) : undefined;
    }, 10_000, 20);
    agent = spawn(process.execPath, [join(repoRoot, 'src/cli.ts'), 'agent', '--node', NODE, '--proc', proc, '--metrics-port', '0', '--operator-namespace', ops], {
      env: { ...process.env, KUBECONFIG: env.kubeconfig, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (d: Buffer) => { agentLog += d.toString(); });
    agent.stderr!.on('data', (d: Buffer) => { agentLog += d.toString(); });
    // The empty record, as the chart creates it at install.
    await env.client.request('POST', paths.configMaps(ops), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KILL_SWITCH_NAME } } });
    server = await startSignalServer({ kubeconfig: env.kc, port: 0, bind: '127.0.0.1', auth: 'none', namespaces: [env.namespace], killSwitchNamespace: ops, log: quietLog() });
  });
  after(async () => {
    if (!need) {
      const file = join(proc, 'agent.log');
      writeFileSync(file, agentLog);
      console.log(`the agent's log: ${file}`);
    }
    await server?.stop();
    const a = agent;
    if (a && a.exitCode === null) await new Promise<void>((resolve) => { a.once('exit', () => resolve()); a.kill('SIGTERM'); });
    for (const p of holdersOfNetns) p.kill('SIGKILL');
  });

  it(`without the record: ${RUNS} runs patched STOP one by one (the broadcast as it was), for comparison`, { ...skip, timeout: 180_000 }, async () => {
    const names = Array.from({ length: RUNS }, (_, i) => `slow-${String(i).padStart(3, '0')}`);
    let t: Awaited<ReturnType<typeof timeToNone>>;
    try {
      const ids = await holdFaults('slow', RUNS);
      t = await timeToNone(ids, async () => {
        await Promise.all(names.map((name) => env.client.request('PATCH', paths.chaosRuns(env.namespace, name), { body: { spec: { signalState: 'STOP' } }, contentType: MERGE_PATCH })));
      });
    } finally {
      // Finished, as the controller would record them: the next broadcast leaves them out.
      await Promise.all(names.map((name) => env.client.request('PATCH', paths.chaosRunStatus(env.namespace, name), { body: { status: { phase: 'Stopped' } }, contentType: MERGE_PATCH }).catch(() => {})));
    }
    console.log(`without the record: ${RUNS} STOP patches answered in ${t.answeredMs} ms; the agent's reverts from ${t.firstRevertMs} to ${t.lastRevertMs} ms; ` +
      `last of ${RUNS} faults gone ${t.goneMs} ms after the start (${t.goneMs - t.answeredMs} ms after the last answer)`);
  });

  it(`POST /STOP: the agent reverts all ${RUNS} faults within about 1 s of the answer; a later run is unaffected`, { ...skip, timeout: 180_000 }, async () => {
    // Another ConfigMap in the record's namespace: the agent's watch (metadata.name field selector) never sees it.
    await env.client.request('POST', paths.configMaps(ops), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated' }, data: { stoppedAt: new Date().toISOString() } } });
    const ids = await holdFaults('fast', RUNS);
    for (let i = 0; i < IDLE; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, IDLE - i) }, (_, j) => env.client.request('POST', paths.chaosRuns(env.namespace), { body: {
        apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name: `idle-${String(i + j).padStart(4, '0')}` },
        spec: { signalState: 'RUN', scenarios: [{ name: 'cut', job: { image: 'busybox' } }] },
      } })));
    }
    if (IDLE) await eventually('the signal server to see every run', () => fetch(`${server!.url}/runs`).then(async (r) => ((await r.json()) as { runs: unknown[] }).runs.length >= 2 * RUNS + IDLE), 60_000, 200);
    let text = '';
    const t = await timeToNone(ids, async () => {
      const res = await fetch(`${server!.url}/STOP`, { method: 'POST' });
      text = await res.text();
      assert.equal(res.status, 200, text);
    });
    assert.equal(text, `STOP: ${RUNS + IDLE} runs changed\n`);
    const afterAnswer = t.goneMs - t.answeredMs;
    const written = await env.client.request<{ data: Record<string, string> }>('GET', paths.configMaps(ops, KILL_SWITCH_NAME));
    const stoppedAtMs = Date.parse(written.data.stoppedAt) - t.startedAt;
    console.log(`POST /STOP over ${RUNS + IDLE} runs (${RUNS} with a fault): answered in ${t.answeredMs} ms; the record's stoppedAt (its write began) at ${stoppedAtMs} ms, the agent read it at ${t.recordSeenMs} ms, its reverts from ${t.firstRevertMs} to ${t.lastRevertMs} ms; ` +
      `last of ${RUNS} faults (${NETNS} network namespaces) gone ${t.goneMs} ms after the POST, ${afterAnswer} ms after the answer`);
    assert.ok(afterAnswer <= 1000, `every fault reverted within about 1 s of the answer (${afterAnswer} ms)`);
    assert.ok(t.recordSeenMs !== undefined, 'the agent read the record');
    assert.ok(t.lastRevertMs <= t.answeredMs + 1000, `the agent's last revert within about 1 s of the answer (${t.lastRevertMs} ms, answered at ${t.answeredMs} ms)`);

    // Never cleared: a run made after the throw holds its fault.
    const later = await holdFaults('later', 1);
    assert.equal((await tables()).filter((x) => later.has(x.id)).length, 1);
    const cm = await env.client.request<{ data: Record<string, string> }>('GET', paths.configMaps(ops, KILL_SWITCH_NAME));
    assert.equal(cm.data.runs.split('\n').filter(Boolean).length, RUNS + IDLE);
  });
});
