// Dry runs against the real API server: a dry-run podKill names the pods that match now and how many
// it would delete, and deletes none; a job step names the Job it would create and creates none; the
// run goes through its iterations and waits and ends Completed with a report that says DryRun; a
// dry-run freeze, stress or containerKill names the pods, containers and nodes it would hit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, inProcessController, kwokStep, listJobs, waitForPhase } from '../helpers/operator.ts';
import { paths } from '../../src/kube/paths.ts';

const env = await testEnv('dryrun');
const { client, namespace } = env;

const pods = async () => (await client.request<{ items: V1Pod[] }>('GET', paths.pods(namespace), { query: { labelSelector: 'app=web' } })).items;

test('a dry-run podKill lists the matching pods and deletes none; a job step creates no Job', async () => {
  const labels = { app: 'web' };
  await client.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    body: {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: { replicas: 3, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    } satisfies V1Deployment,
  });
  const before = await eventually('3 pods of web', async () => { const p = await pods(); return p.length === 3 ? p : undefined; }, 60_000);
  const names = before.map((p) => `${namespace}/${p.metadata!.name}`).sort();

  const controller = await inProcessController(env);
  after(() => controller.stop());
  await createRun(client, namespace, 'dry', {
    dryRun: true, iterations: 2, waitDuration: '500ms',
    scenarios: [
      { name: 'kill', podKill: { namespace, labelSelector: 'app=web', count: 2 } },
      kwokStep('job', 1),
      { name: 'nothing', podKill: { namespace, labelSelector: 'app=absent', count: 1 } },
    ],
  });
  const run = await waitForPhase(client, namespace, 'dry', ['Completed'], 60_000);
  const history = run.status!.history!;
  assert.deepEqual(history.map((h) => `${h.iteration}:${h.step}:${h.result}:${h.reason}`),
    ['1:kill:Succeeded:DryRun', '1:job:Succeeded:DryRun', '1:nothing:Failed:DryRun', '2:kill:Succeeded:DryRun', '2:job:Succeeded:DryRun', '2:nothing:Failed:DryRun']);
  assert.equal(history[0].message, `dry run: podKill would delete 2 of the 3 pod(s) that match now (namespace ${namespace}, labels app=web): ${names.join(', ')}`);
  assert.match(history[1].message!, new RegExp(`^dry run: would create Job ${namespace}/dry-[a-z0-9]+-1-1: image busybox:1\\.36, command \\["true"\\], service account default$`));
  assert.match(history[2].message!, /^dry run: podKill would fail: no pod matched \(namespace .*, labels app=absent\)$/);
  assert.equal(run.status!.report?.dryRun, true);
  assert.match(run.status!.report!.message, /^dry run: all 2 iteration\(s\) completed/);

  // Nothing was deleted or created: the same pods (same uids), and no Job at all.
  assert.deepEqual((await pods()).map((p) => p.metadata!.uid).sort(), before.map((p) => p.metadata!.uid).sort());
  assert.equal((await listJobs(client, namespace, 'dry')).length, 0);
  const events = (await client.request<{ items: Array<{ reason: string }> }>('GET', paths.events(namespace), { query: { fieldSelector: 'involvedObject.name=dry' } })).items;
  assert.ok(events.filter((e) => e.reason === 'DryRun').length >= 1, 'DryRun Events');
});

test('a dry-run freeze, stress and containerKill name the pods, containers and nodes they would hit, and start no holder', async () => {
  const running = await eventually('web\'s pods Running on a node', async () => {
    const p = (await pods()).filter((x) => x.status?.phase === 'Running' && x.spec?.nodeName);
    return p.length === 3 ? p : undefined;
  }, 60_000);
  const controller = await inProcessController(env);
  after(() => controller.stop());
  const target = { namespace, labelSelector: 'app=web', count: 1 };
  await createRun(client, namespace, 'dry-process', {
    dryRun: true,
    scenarios: [
      { name: 'freeze', duration: '30s', freeze: target },
      { name: 'stress', duration: '30s', stress: { ...target, cpu: { workers: 2, load: 80 } } },
      { name: 'node-stress', duration: '30s', stress: { ...target, memory: { size: '64Mi' }, node: true } },
      { name: 'kill', containerKill: { ...target, container: 'web', signal: 'TERM' } },
      { name: 'missing', containerKill: { ...target, container: 'sidecar', signal: 'KILL' } },
    ],
  });
  const run = await waitForPhase(client, namespace, 'dry-process', ['Completed'], 60_000);
  const [freeze, stress, nodeStress, kill, missing] = run.status!.history!.map((h) => h.message ?? '');
  const node = running[0].spec!.nodeName!;
  const pod = `${namespace}/[a-z0-9-]+`;
  assert.match(freeze, new RegExp(`^dry run: freeze would freeze for 30s 1 of the 3 Running pod\\(s\\) that match now, e\\.g\\. ${pod} \\(containers web\\) on ${node}$`));
  assert.match(stress, new RegExp(`^dry run: stress would load \\(cpu 2 worker\\(s\\) at 80%\\) for 30s 1 of the 3 Running pod\\(s\\) that match now, e\\.g\\. ${pod} \\(container web\\) on ${node}$`));
  assert.match(nodeStress, new RegExp(`^dry run: stress would load \\(memory 64Mi on the node\\) for 30s the node\\(s\\) ${node} of 1 of the 3`));
  assert.match(kill, new RegExp(`^dry run: containerKill would send SIGTERM to 1 of the 3 Running pod\\(s\\) that match now: ${pod}/web on ${node}$`));
  assert.match(missing, /^dry run: containerKill would fail: pod .* has no container "sidecar" \(it has web\)$/);
  assert.equal((await listJobs(client, namespace, 'dry-process')).length, 0, 'no holder Job');
});
