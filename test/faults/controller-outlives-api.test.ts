// Found by the fault campaign (fault 2, seed 3): with --metrics-port 0 nothing held the controller's
// event loop once its watches dropped, so an API server outage ended the process with exit code 0.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { testEnv } from '../helpers/env.ts';
import { spawnController } from '../helpers/operator.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { poll, sleep } from '../../faults/harness.ts';

const env = await testEnv('outlives');

it('the controller keeps running while the API server is unreachable', async () => {
  const proxy = await startProxy(new URL(env.state.server), env.kubeconfig);
  const child = spawnController(env, [], proxy.kubeconfig);
  after(() => { child.kill('SIGKILL'); });
  assert.ok(await poll(() => child.output().includes('"controller started"') || undefined, 30_000), child.output());
  await proxy.close(); // every connection cut, and new ones refused
  await sleep(3000);
  assert.equal(child.exitCode, null, `the controller exited:\n${child.output().slice(-1500)}`);
  assert.match(child.output(), /watch failed; restarting/);
});
