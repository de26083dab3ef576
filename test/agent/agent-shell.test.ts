// The node agent as a process against the real API server: it watches holder pods and runs, and holds
// the fault in the target's sandbox network namespace exactly while it is wanted. The holder pod runs
// on the kwok node (kwok reports it Running); the target's sandbox is a real network namespace the test
// makes, found through a /proc stand-in (a pause process's cmdline and cgroup naming the target pod's
// uid, and ns/net linking to the namespace), because no real pod is involved here (test/e2e proves
// that part on the real node). Proven: apply on RUN, revert at once on PAUSE and on the holder's end,
// re-apply on RUN, a table someone else changed or added seen within one relisting (the agent plans
// from memory between them: src/agent/readings.ts) and rebuilt or reverted, a table not ours left
// alone, SIGKILL of the agent ends the fault by itself within its lease (the kernel), and the
// restarted agent converges; SIGTERM reverts everything.
// Needs root (a network namespace, nft); without it the tests are registered as skipped with the reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { listFound, nftIn } from '../../src/agent/nft.ts';
import { RELIST_MS } from '../../src/agent/readings.ts';
import { paths } from '../../src/kube/paths.ts';
import { addPauseProcess, createBareRun, createHolder as createHolderPod, rootWithTools, spawnAgent, stopChild } from '../helpers/node-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';

const need = rootWithTools('node agent shell tests', ['ip', 'nft', 'nsenter'], 'to create a network namespace');
const skip = need ? { skip: need } : {};

const NODE = 'agent-test-node';
const netnsName = `crt-agent-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${netnsName}`;
const targetUid = randomUUID();
const proc = mkdtempSync(join(tmpdir(), 'agent-proc-'));
const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 3 };

// testEnv at the top level, as every file does: its after() then belongs to the file, not to a hook.
const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-shell');
let agent: ChildProcess | undefined;
let agentLog = '';

function startAgent(): ChildProcess {
  return spawnAgent(['--node', NODE, '--proc', proc], env.kubeconfig, (t) => { agentLog += t; });
}
async function stopAgent(signal: NodeJS.Signals): Promise<void> {
  const a = agent;
  agent = undefined;
  await stopChild(a, signal);
}

/** The chaosrun_ tables in the target's namespace, with their leases. */
const found = () => listFound(netns);
const holderTable = async (holderUid: string) => (await found()).find((f) => f.id === holderUid);

const createRun = (name: string, signalState: 'RUN' | 'PAUSE') => createBareRun(env.client, env.namespace, name, signalState);
const signal = (name: string, s: string) => env.client.request('PATCH', paths.chaosRuns(env.namespace, name), {
  body: { spec: { signalState: s } }, contentType: 'application/merge-patch+json',
});
const createHolder = (name: string, run: string) =>
  createHolderPod(env.client, env.namespace, { name, run, spec, targets: [{ namespace: 'shop', name: 'web-0', uid: targetUid, node: NODE }] });

describe('the node agent process against the API server', { concurrency: false }, () => {
  before(async () => {
    if (need) return;
    execFileSync('ip', ['netns', 'add', netnsName]);
    // The stand-in of the host's /proc: one pause process of the target pod, and another process of no pod.
    addPauseProcess(proc, 4242, targetUid, netns);
    agent = startAgent();
  });
  after(async () => {
    await stopAgent('SIGKILL');
    if (!need) execFileSync('ip', ['netns', 'del', netnsName], { stdio: 'ignore' });
  });

  it('RUN applies the fault in the target sandbox; PAUSE reverts it at once; RUN applies it again', { ...skip, timeout: 60_000 }, async () => {
    await createRun('cut-run', 'RUN');
    const holder = await createHolder('cut-run-holder', 'cut-run');
    const f = await eventually('the fault applied', () => holderTable(holder), 20_000, 50);
    assert.ok((f.leaseExpiresInMs ?? 0) > 0, 'its lease is live');
    const paused = Date.now();
    await signal('cut-run', 'PAUSE');
    await eventually('the fault reverted on PAUSE', async () => !(await holderTable(holder)), 5_000, 20);
    const revertMs = Date.now() - paused;
    console.log(`PAUSE answered -> table gone: ${revertMs} ms`);
    assert.ok(revertMs < 2_000, `reverted within 2 s of PAUSE (${revertMs} ms)`);
    await signal('cut-run', 'RUN');
    await eventually('the fault applied again on RUN', () => holderTable(holder), 5_000, 20);
  });

  it(`a table changed or added by someone else is seen within a relisting (${RELIST_MS / 1000} s): rebuilt, or reverted; a table not ours stays`, { ...skip, timeout: 60_000 }, async () => {
    const holder = (await env.client.request<{ metadata: { uid: string } }>('GET', paths.pods(env.namespace, 'cut-run-holder'))).metadata.uid;
    await eventually('the fault in force', async () => ((await holderTable(holder))?.specHash ? true : undefined), 5_000, 20);
    const stray = randomUUID();
    // Every rule and lease element of the fault's table gone, a chaosrun_ table nobody wants, and a table not ours.
    await nftIn(netns, ['-f', '-'], `flush table inet chaosrun_${holder}\nadd table inet chaosrun_${stray}\nadd table inet someone_else\n`);
    const changed = Date.now();
    assert.equal((await holderTable(holder))?.specHash, '', 'the table no longer holds the fault');
    await eventually('the changed table rebuilt and the stray one reverted', async () => {
      const all = await found();
      const h = all.find((x) => x.id === holder);
      return h?.specHash && (h.leaseExpiresInMs ?? 0) > 0 && !all.some((x) => x.id === stray) ? true : undefined;
    }, RELIST_MS + 5_000, 50);
    const seenMs = Date.now() - changed;
    console.log(`tables changed by hand -> rebuilt and reverted: ${seenMs} ms (relisting every ${RELIST_MS} ms)`);
    assert.ok(seenMs <= RELIST_MS + 3_000, `seen within a relisting and a pass (${seenMs} ms)\n${agentLog.slice(-2000)}`);
    assert.match(await nftIn(netns, ['list', 'tables']), /table inet someone_else/, 'the table not ours is still there');
    await nftIn(netns, ['delete', 'table', 'inet', 'someone_else']);
  });

  it('the holder pod deleted: the fault is reverted at once', { ...skip, timeout: 60_000 }, async () => {
    const holder = (await env.client.request<{ metadata: { uid: string } }>('GET', paths.pods(env.namespace, 'cut-run-holder'))).metadata.uid;
    await eventually('the fault in force', () => holderTable(holder), 5_000, 20);
    await env.client.request('DELETE', paths.pods(env.namespace, 'cut-run-holder'), { query: { gracePeriodSeconds: 0 } });
    await eventually('the fault reverted with its holder', async () => !(await holderTable(holder)), 5_000, 20);
  });

  it('agent SIGKILLed: the lease runs out by itself; the restarted agent renews what is still wanted, and SIGTERM reverts all', { ...skip, timeout: 60_000 }, async () => {
    const holder = await createHolder('cut-run-holder-2', 'cut-run');
    await eventually('the fault applied', () => holderTable(holder), 20_000, 50);
    await stopAgent('SIGKILL');
    const killed = Date.now();
    // Nothing of ours runs now; the kernel lets the lease's elements expire.
    const expired = await eventually('the lease to expire with no agent', async () => ((await holderTable(holder))?.leaseExpiresInMs === 0 ? true : undefined), 10_000, 100);
    assert.ok(expired);
    const endedMs = Date.now() - killed;
    console.log(`agent SIGKILLed -> lease expired: ${endedMs} ms (lease ${spec.leaseSeconds} s)`);
    assert.ok(endedMs <= spec.leaseSeconds * 1000 + 1500, `the fault ended within its lease + 1.5 s (${endedMs} ms)`);
    agent = startAgent();
    await eventually('the restarted agent renews the still-wanted fault', async () => ((await holderTable(holder))?.leaseExpiresInMs ?? 0) > 0, 20_000, 100);
    await stopAgent('SIGTERM');
    assert.equal(await holderTable(holder), undefined, 'SIGTERM let go of everything');
    assert.deepEqual(await found(), [], `nothing of ours is left in the namespace\n${agentLog.slice(-2000)}`);
    await sleep(10);
  });
});
