// A restarted node agent takes over what is still wanted without letting go of it first: an agent
// SIGKILLed and started again at once (as the kubelet restarts the DaemonSet's container) finds the
// fault's table, plans with complete caches, and leaves it in force: no revert, and the table is never
// missing in between. The agent's first pass used to run on the first watch event of its initial
// lists, with one cache still empty, so the new agent reverted every fault on the node and applied it
// again a moment later (a gap in the chaos, seen on the real node as requests passing 1.5 s after a
// SIGKILL with 2.7 s or more of the lease left). Process against the API server, with a /proc stand-in
// as in agent-shell.test.ts. Needs root (a network namespace, nft); skipped with the reason without it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { listFound } from '../../src/agent/nft.ts';
import { addPauseProcess, createBareRun, createHolder, rootWithTools, spawnAgent, stopChild } from '../helpers/node-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';

const need = rootWithTools('node agent restart tests', ['ip', 'nft', 'nsenter'], 'to create a network namespace');
const skip = need ? { skip: need } : {};

const NODE = 'agent-restart-node';
const netnsName = `crt-restart-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${netnsName}`;
const targetUid = randomUUID();
const proc = mkdtempSync(join(tmpdir(), 'agent-restart-proc-'));
// A long lease: nothing here may end by expiry, so a missing table can only be a revert.
const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 60 };

const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-restart');

interface Agent { child: ChildProcess; log: () => string }
function startAgent(): Agent {
  let log = '';
  const child = spawnAgent(['--node', NODE, '--proc', proc], env.kubeconfig, (t) => { log += t; });
  return { child, log: () => log };
}
const stop = (a: Agent | undefined, signal: NodeJS.Signals) => stopChild(a?.child, signal);
let agents: Agent[] = [];

describe('a restarted node agent', { concurrency: false }, () => {
  before(() => {
    if (need) return;
    execFileSync('ip', ['netns', 'add', netnsName]);
    addPauseProcess(proc, 4343, targetUid, netns);
  });
  after(async () => {
    for (const a of agents) await stop(a, 'SIGKILL');
    if (!need) execFileSync('ip', ['netns', 'del', netnsName], { stdio: 'ignore' });
  });

  it('SIGKILLed and started again at once: the fault stays in force throughout, nothing is reverted', { ...skip, timeout: 90_000 }, async () => {
    await createBareRun(env.client, env.namespace, 'held', 'RUN');
    // Other runs and holders in the caches too, so the initial lists take more than one event each.
    for (let i = 0; i < 20; i++) await createBareRun(env.client, env.namespace, `other-${i}`, 'PAUSE');
    const id = await createHolder(env.client, env.namespace, { name: 'held-holder', run: 'held', spec, targets: [{ namespace: 'shop', name: 'web-0', uid: targetUid, node: NODE }] });
    const present = async () => (await listFound(netns)).some((f) => f.id === id && (f.leaseExpiresInMs ?? 0) > 0);

    agents.push(startAgent());
    await eventually('the first agent applies the fault', present, 20_000, 50);

    for (let round = 1; round <= 3; round++) {
      // Watch the table while the agent is replaced, as often as nft answers.
      let missing = 0;
      let checks = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) { checks++; if (!(await present())) missing++; }
      })();
      await stop(agents.at(-1), 'SIGKILL');
      const next = startAgent();
      agents.push(next);
      await eventually(`the restarted agent (round ${round}) started`, () => next.log().includes('node agent started'), 30_000, 20);
      await new Promise((r) => setTimeout(r, 1500));
      watching = false;
      await watcher;
      assert.doesNotMatch(next.log(), /fault reverted/, `round ${round}: the restarted agent reverted a fault still wanted:\n${next.log().slice(-2000)}`);
      assert.equal(missing, 0, `round ${round}: the table was missing in ${missing} of ${checks} checks during the restart`);
      console.log(`round ${round}: the fault in force in all ${checks} checks while the agent was SIGKILLed and restarted`);
    }
    await stop(agents.at(-1), 'SIGTERM');
    assert.equal(await present(), false, 'SIGTERM let go of it');
  });
});
