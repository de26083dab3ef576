// A node that cannot inject a fault fails its step at once, with one line naming the node and what its
// kernel lacks; and the agent's report (GET /faults) says which faults are in force. The agent runs as
// a process against the API server with a real network namespace standing in for the target's sandbox
// (as agent-shell.test.ts does); the controller runs in-process and reads the agent's report. The
// kernel here has every feature the faults use, so the missing one is the nft a kernel without
// nft_numgen would give: `nft` on the agent's PATH is a wrapper that refuses any script using numgen
// with the kernel's own words (Error: Could not process rule: No such file or directory, then the
// line), and hands everything else to the real nft.
// Needs root (a network namespace, nft); without it the tests are registered as skipped with the reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_FAULT_TARGETS, parseAgentReport, type AgentReport } from '../../src/api/fault-holder.ts';
import type { ChaosRun, NetworkBody } from '../../src/api/types.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import { listFound } from '../../src/agent/nft.ts';
import { freePort } from '../../src/local/free-port.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { addPauseProcess, rootWithTools, spawnAgent, stopChild } from '../helpers/node-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController } from '../helpers/operator.ts';

const need = rootWithTools('node agent refusal tests', ['ip', 'nft', 'nsenter'], 'to create a network namespace');
const skip = need ? { skip: need } : {};

const NODE = 'refusal-node';
const netnsName = `crt-refuse-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${netnsName}`;
const targetUid = randomUUID();
const proc = mkdtempSync(join(tmpdir(), 'agent-proc-'));
const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-refuse');
let agent: ChildProcess | undefined;
let agentLog = '';
let controller: RunningController | undefined;
let reportUrl = '';

/** A PATH whose nft refuses numgen as a kernel without nft_numgen does, and runs the real nft otherwise. */
function nftWithoutNumgen(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nft-no-numgen-'));
  const real = execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim();
  writeFileSync(join(dir, 'nft'), `#!/bin/sh
input=$(cat)
if printf '%s\\n' "$input" | grep -q numgen; then
  echo "/dev/stdin:1:1-1: Error: Could not process rule: No such file or directory" >&2
  printf '%s\\n' "$input" | grep -m1 numgen >&2
  echo "^^^^^^^^^^^^^^^^^^^^" >&2
  exit 1
fi
printf '%s\\n' "$input" | exec ${real} "$@"
`);
  chmodSync(join(dir, 'nft'), 0o755);
  return dir;
}

const report = async (): Promise<AgentReport | undefined> => {
  try { return parseAgentReport(await (await fetch(reportUrl)).json()); } catch { return undefined; }
};

/** A network step's run (its pod as the namespace's default account: no scenario account is made here); the test then plays its holder: it writes the targets on the step's pod (kwok runs it). */
async function runWithHolder(name: string, body: Partial<NetworkBody>): Promise<{ holder: V1Pod }> {
  await createRun(env.client, env.namespace, name, {
    scenarios: [{ name: 'net', duration: '60s', network: { namespace: 'shop', labelSelector: 'app=web', direction: 'both', leaseSeconds: 4, serviceAccountName: 'default', ...body } }],
  });
  const holder = await eventually(`${name}'s holder pod Running (kwok)`, async () => {
    const pods = await env.client.request<{ items: V1Pod[] }>('GET', paths.pods(env.namespace), { query: { labelSelector: `chaosrun.dev/run=${name}` } });
    return pods.items.find((p) => p.status?.phase === 'Running');
  }, 30_000, 100);
  await env.client.request('PATCH', paths.pods(env.namespace, holder.metadata!.name!), {
    body: { metadata: { annotations: { [ANNOTATION_FAULT_TARGETS]: JSON.stringify([{ namespace: 'shop', name: 'web-0', uid: targetUid, node: NODE }]) } } },
    contentType: MERGE_PATCH,
  });
  return { holder };
}

describe('a node that cannot inject a fault', { concurrency: false }, () => {
  before(async () => {
    if (need) return;
    execFileSync('ip', ['netns', 'add', netnsName]);
    addPauseProcess(proc, 4343, targetUid, netns);
    const port = await freePort();
    reportUrl = `http://127.0.0.1:${port}/faults`;
    agent = spawnAgent(['--node', NODE, '--proc', proc, '--metrics-bind', '127.0.0.1', '--metrics-port', String(port)], env.kubeconfig,
      (t) => { agentLog += t; }, { PATH: `${nftWithoutNumgen()}:${process.env.PATH}`, ...(process.env.DEBUG_AGENT ? { LOG_LEVEL: 'debug' } : {}) });
    controller = await inProcessController(env, { agents: { endpoints: { '*': `http://127.0.0.1:${port}` } } });
  });
  after(async () => {
    await controller?.stop();
    await stopChild(agent, 'SIGTERM');
    if (process.env.DEBUG_AGENT) console.log(agentLog);
    if (!need) execFileSync('ip', ['netns', 'del', netnsName], { stdio: 'ignore' });
  });

  it('a partition it can hold: the report says in force, and the step keeps running', { ...skip, timeout: 60_000 }, async () => {
    const { holder } = await runWithHolder('held', { partition: {} });
    const uid = holder.metadata!.uid!.toLowerCase();
    const entry = await eventually('the agent reports the partition in force', async () =>
      (await report())?.faults.find((f) => f.holder === uid && f.state === 'in-force'), 20_000, 100);
    assert.deepEqual(entry, { holder: uid, namespace: 'shop', pod: 'web-0', state: 'in-force' });
    assert.ok((await listFound(netns)).some((f) => f.id === uid), 'its table is in the namespace');
    const run = await eventually('status.faults says it is in force on the one target', async () => {
      const r = await getRun(env.client, env.namespace, 'held');
      return r.status?.faults?.inForce === 1 ? r : undefined;
    }, 10_000, 100);
    assert.equal(run.status?.faultSummary, 'partition on 1 pod');
    assert.equal(run.status?.phase, 'Running');
    assert.equal(run.status?.history?.[0]?.result, 'Running', 'the step is still running');
    await env.client.request('PATCH', paths.chaosRuns(env.namespace, 'held'), { body: { spec: { signalState: 'STOP' } }, contentType: MERGE_PATCH });
    await eventually('the partition reverted on STOP', async () => !(await listFound(netns)).some((f) => f.id === uid), 10_000, 50);
  });

  it('loss on a kernel without numgen: the step fails within seconds with one line naming the node and the missing feature', { ...skip, timeout: 60_000 }, async () => {
    const { holder } = await runWithHolder('lossy', { loss: { percent: 30 } });
    const recorded = Date.now();
    const uid = holder.metadata!.uid!.toLowerCase();
    const failed = await eventually('the step failed', async () => {
      const run = await getRun(env.client, env.namespace, 'lossy');
      return run.status?.history?.find((h) => h.result === 'Failed') ? run : undefined;
    }, 20_000, 100) as ChaosRun;
    const tookMs = Date.now() - recorded;
    const message = failed.status!.history!.find((h) => h.result === 'Failed')!.message!;
    console.log(`targets recorded -> step Failed: ${tookMs} ms: ${message}`);
    assert.match(message, new RegExp(`^node ${NODE} cannot inject loss on shop/web-0: nft in netns \\S+/4343/ns/net: Could not process rule: No such file or directory \\(in: .*numgen.*\\): this kernel lacks the numgen expression \\(module nft_numgen, CONFIG_NFT_NUMGEN\\), which loss needs$`));
    assert.doesNotMatch(message, /\n/);
    assert.ok(tookMs < 10_000, `failed within 10 s (${tookMs} ms)`);
    const r = await report();
    assert.equal(r?.faults.find((f) => f.holder === uid), undefined, 'its Job deleted, the fault is no longer wanted');
    assert.deepEqual((await listFound(netns)).filter((f) => f.id === uid), [], `nothing of it left in the namespace\n${agentLog.slice(-1500)}`);
  });
});
