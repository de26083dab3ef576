// The node agent process holding a delay against the real API server, as agent-shell.test.ts does for
// a partition (the holder pod on the kwok node, the target's sandbox a network namespace this file
// makes, found through a /proc stand-in): the agent applies the table, its queue rule, and starts a
// chaosrun-delayer in the sandbox's namespace; PAUSE reverts the table and stops the delayer; RUN
// brings both back; the agent SIGKILLed takes its delayer with it (its parent-death signal), while the
// rule waits for its lease; a restarted agent starts a new delayer; SIGTERM leaves nothing.
// Needs root (a network namespace, nft) and Go (the delayer); without them the tests are skipped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { queueNumber } from '../../src/agent/fault.ts';
import { listFound } from '../../src/agent/nft.ts';
import { faultIdOf } from '../../src/agent/wanted.ts';
import { paths } from '../../src/kube/paths.ts';
import { buildDelayer } from '../../src/realnode/delayer.ts';
import { addPauseProcess, createBareRun, createHolder, rootWithTools, spawnAgent, stopChild } from '../helpers/node-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';

const need = rootWithTools('node agent delay tests', ['ip', 'nft', 'nsenter', 'go'], 'to create a network namespace');
const skip = need ? { skip: need } : {};

const NODE = 'agent-delay-node';
const netnsName = `crd-agent-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${netnsName}`;
const targetUid = randomUUID();
const proc = mkdtempSync(join(tmpdir(), 'agent-delay-proc-'));
const spec: NetworkFaultSpec = {
  kind: 'network', direction: 'ingress', to: [{ cidr: '198.18.252.0/30' }], effect: { delay: { latency: '50ms', jitter: '5ms' } }, leaseSeconds: 3,
};

const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-delay');
let delayer = '';
let agent: ChildProcess | undefined;
let agentLog = '';

function startAgent(): ChildProcess {
  return spawnAgent(['--node', NODE, '--proc', proc, '--delayer', delayer], env.kubeconfig, (t) => { agentLog += t; });
}
async function stopAgent(signal: NodeJS.Signals): Promise<void> {
  const a = agent;
  agent = undefined;
  await stopChild(a, signal);
}

/** The pids of the delayers (of any parent) bound to this queue, from the host's /proc. */
function delayersOf(queue: number): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (argv[0] === delayer && argv.includes('--queue') && argv[argv.indexOf('--queue') + 1] === String(queue)
        && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) pids.push(Number(pid));
    } catch { /* gone while we looked */ }
  }
  return pids;
}
const holderTable = async (uid: string) => (await listFound(netns)).find((f) => f.id === faultIdOf(uid));

describe('the node agent process holding a delay', { concurrency: false }, () => {
  before(async () => {
    if (need) return;
    delayer = buildDelayer();
    execFileSync('ip', ['netns', 'add', netnsName]);
    // The systemd driver's spelling of the pod's cgroup, for once.
    addPauseProcess(proc, 4343, targetUid, netns, `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${targetUid.replaceAll('-', '_')}.slice/cri-containerd-1.scope`);
    agent = startAgent();
  });
  after(async () => {
    await stopAgent('SIGKILL');
    if (!need) execFileSync('ip', ['netns', 'del', netnsName], { stdio: 'ignore' });
  });

  it('RUN: table, queue rule and a delayer; PAUSE: both gone; agent SIGKILLed: its delayer dies with it; a restarted agent starts one; SIGTERM: nothing left', { ...skip, timeout: 90_000 }, async () => {
    await createBareRun(env.client, env.namespace, 'slow-run', 'RUN', 'slow');
    const signal = (s: string) => env.client.request('PATCH', paths.chaosRuns(env.namespace, 'slow-run'), {
      body: { spec: { signalState: s } }, contentType: 'application/merge-patch+json',
    });
    const uid = await createHolder(env.client, env.namespace, { name: 'slow-run-holder', run: 'slow-run', step: 'slow', spec, targets: [{ namespace: 'shop', name: 'web-0', uid: targetUid, node: NODE }] });
    const queue = queueNumber(faultIdOf(uid));
    const whole = async () => { const f = await holderTable(uid); return f && f.specHash.length === 16 ? f : undefined; };

    await eventually('the delay applied whole (its queue rule in) and its delayer running', async () => ((await whole()) && delayersOf(queue).length === 1 ? true : undefined), 30_000, 50);
    const first = delayersOf(queue)[0];
    assert.equal(Number(readFileSync(`/proc/${first}/status`, 'utf8').match(/^PPid:\s+(\d+)$/m)?.[1]), agent!.pid, 'the agent is its parent (nsenter execs it)');

    await signal('PAUSE');
    await eventually('PAUSE: the table and the delayer gone', async () => (!(await holderTable(uid)) && delayersOf(queue).length === 0 ? true : undefined), 5_000, 20);
    await signal('RUN');
    await eventually('RUN: both back', async () => ((await whole()) && delayersOf(queue).length === 1 ? true : undefined), 10_000, 20);
    const second = delayersOf(queue)[0];

    await stopAgent('SIGKILL');
    const killed = Date.now();
    await eventually('the delayer gone with its agent', async () => (delayersOf(queue).length === 0 ? true : undefined), 5_000, 10);
    const goneMs = Date.now() - killed;
    console.log(`agent SIGKILLed -> its delayer ${second} gone: ${goneMs} ms; the rule waits for its lease (${spec.leaseSeconds} s)`);
    assert.ok(goneMs <= 1500, `the delayer outlived its agent by ${goneMs} ms`);
    assert.ok(await holderTable(uid), 'the table is still there: the lease, not the agent, ends the rule');

    agent = startAgent();
    await eventually('the restarted agent starts a delayer of its own', async () => {
      const pids = delayersOf(queue);
      return pids.length === 1 && pids[0] !== second && (await whole()) && ((await holderTable(uid))?.leaseExpiresInMs ?? 0) > 0 ? true : undefined;
    }, 30_000, 50);
    await stopAgent('SIGTERM');
    assert.equal(await holderTable(uid), undefined, 'SIGTERM reverted the table');
    assert.deepEqual(delayersOf(queue), [], `SIGTERM stopped the delayer\n${agentLog.slice(-2000)}`);
  });
});
