// The pod-kill scenario against the real control plane: a Deployment's pods are created by
// kube-controller-manager, bound by kube-scheduler and made Ready by the kwok node; the scenario
// deletes some, the ReplicaSet replaces them, and recovery is judged from what the API server says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { eventually, repoRoot, testEnv } from '../helpers/env.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { podKill } from '../../src/scenarios/pod-kill.ts';
import { scenarioCommand } from '../../src/scenarios/main.ts';

const env = await testEnv('podkill');
const { client, namespace } = env;
const silent = pino({ level: 'silent' });
const deployments = (name?: string) => `/apis/apps/v1/namespaces/${namespace}/deployments${name ? `/${name}` : ''}`;

async function deployment(name: string, replicas: number): Promise<void> {
  const labels = { app: name };
  await client.request('POST', deployments(), {
    body: {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
      spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    } satisfies V1Deployment,
  });
  await eventually(`${replicas} Ready pods of ${name}`, async () => (await readyPods(`app=${name}`)).length === replicas, 60_000);
}

async function readyPods(labelSelector: string): Promise<V1Pod[]> {
  const list = await client.request<{ items: V1Pod[] }>('GET', paths.pods(namespace), { query: { labelSelector } });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

test('kills count pods of a Deployment and sees the ReplicaSet recover them', async () => {
  await deployment('web', 3);
  const before = new Set((await readyPods('app=web')).map((p) => `${namespace}/${p.metadata!.name}`));
  const { deleted } = await podKill(client, { namespace, labelSelector: 'app=web', count: 2, recoveryTimeoutMs: 60_000, pollIntervalMs: 200 }, silent);
  assert.equal(deleted.length, 2);
  assert.equal(new Set(deleted).size, 2);
  for (const pod of deleted) assert.ok(before.has(pod), `${pod} was one of the matching pods`);
  const after = await readyPods('app=web');
  assert.equal(after.length, 3);
  for (const pod of after) assert.ok(!deleted.includes(`${namespace}/${pod.metadata!.name}`), 'the killed pods are gone');
});

test('a namespace pattern and a name pattern select the pods', async () => {
  await deployment('api', 2);
  const { deleted } = await podKill(client, {
    namespacePattern: `^${namespace}$`, namePattern: '^api-', count: 1, recoveryTimeoutMs: 60_000, pollIntervalMs: 200,
  }, silent);
  assert.equal(deleted.length, 1);
  assert.match(deleted[0], new RegExp(`^${namespace}/api-`));
});

test('a selector that matches nothing fails with "no pod matched"', async () => {
  await assert.rejects(
    podKill(client, { namespace, labelSelector: 'app=nothing-here', count: 1, recoveryTimeoutMs: 5_000 }, silent),
    /^Error: no pod matched \(namespace .*, labels app=nothing-here\)$/,
  );
  await assert.rejects(
    podKill(client, { namespacePattern: '^no-such-namespace-', labelSelector: 'app=web', count: 1, recoveryTimeoutMs: 5_000 }, silent),
    /no namespace matched/,
  );
});

test('fewer matching pods than count fails before deleting anything', async () => {
  await deployment('small', 1);
  await assert.rejects(
    podKill(client, { namespace, labelSelector: 'app=small', count: 2, recoveryTimeoutMs: 5_000 }, silent),
    /only 1 pod\(s\) matched .*fewer than count 2/,
  );
  assert.equal((await readyPods('app=small')).length, 1);
});

test('recovery that cannot happen (Deployment scaled to zero after the kill) times out', async () => {
  await deployment('doomed', 2);
  let scaled: Promise<unknown> | undefined;
  // The test learns of the kill from the scenario's own log line, then takes the replicas away.
  const hook = pino({ level: 'info' }, {
    write(line: string) {
      if (line.includes('"deleted pod"')) {
        scaled ??= client.request('PATCH', deployments('doomed'), { body: { spec: { replicas: 0 } }, contentType: MERGE_PATCH });
      }
    },
  });
  await assert.rejects(
    podKill(client, { namespace, labelSelector: 'app=doomed', count: 1, recoveryTimeoutMs: 4_000, pollIntervalMs: 1000 }, hook),
    /^Error: recovery timed out after 4s: 0 of 2 matching pods Ready/,
  );
  assert.ok(scaled, 'the kill was logged');
  await scaled;
});

test('the scenario command exits non-zero with the reason on stderr and in the termination log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'podkill-'));
  const termination = join(dir, 'termination-log');
  writeFileSync(termination, '');
  const code = await scenarioCommand(['pod-kill', `--namespace=${namespace}`, '--label-selector=app=nothing-here',
    '--recovery-timeout=5s', `--kubeconfig=${env.kubeconfig}`], termination);
  assert.equal(code, 1);
  assert.match(readFileSync(termination, 'utf8'), /^no pod matched \(namespace .*, labels app=nothing-here\)$/);

  assert.equal(await scenarioCommand(['pod-kill', '--namespace=x', '--namespace-pattern=y', '--name-pattern=a'], termination), 1);
  assert.equal(readFileSync(termination, 'utf8'), 'pod-kill needs exactly one of namespace and namespacePattern');
  assert.equal(await scenarioCommand(['pod-kill', '--namespace=x', '--name-pattern=a', '--recovery-timeout=soon'], termination), 1);
  assert.match(readFileSync(termination, 'utf8'), /^invalid duration "soon"/);
  assert.equal(await scenarioCommand(['no-such'], termination), 1);
  assert.match(readFileSync(termination, 'utf8'), /^unknown scenario "no-such"/);
});

test('the scenario command kills and recovers as a child process, as in a step pod', async () => {
  await deployment('child', 2);
  // Synchronous on purpose: the child does the work, this process only waits for its exit.
  const { status: code, stdout, stderr } = spawnSync(process.execPath, ['src/cli.ts', 'scenario', 'pod-kill', `--namespace=${namespace}`,
    '--label-selector=app=child', '--count=1', '--recovery-timeout=60s', `--kubeconfig=${env.kubeconfig}`], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /"msg":"deleted pod"/);
  assert.match(stdout, new RegExp(`pod-kill: deleted ${namespace}/child-[a-z0-9-]+; recovered`));
});
