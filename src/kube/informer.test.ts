// The informer on a fake client: the selectors it is given go on its list and on its watch alike, so
// a Role that allows one object by name (resourceNames, which needs a metadata.name field selector to
// list or watch) is enough for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { KubeClient } from './client.ts';
import { Informer } from './informer.ts';

interface Call { verb: 'list' | 'watch'; path: string; query: Record<string, unknown> }

function fakeClient(calls: Call[]) {
  const cm = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ops', resourceVersion: rv }, data: { a: rv } });
  return {
    async request(_method: string, path: string, options: { query?: Record<string, unknown> } = {}) {
      calls.push({ verb: 'list', path, query: options.query ?? {} });
      return { items: [cm('chaosrun-kill-switch', '5')], metadata: { resourceVersion: '5' } };
    },
    async watch(path: string, query: Record<string, unknown>, onEvent: (e: { type: string; object: unknown }) => void, signal: AbortSignal) {
      calls.push({ verb: 'watch', path, query });
      onEvent({ type: 'MODIFIED', object: cm('chaosrun-kill-switch', '6') });
      await new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
    },
    resetConnections() {},
  };
}

test('a field selector goes on the list and on every watch, beside the label selector', async () => {
  const calls: Call[] = [];
  const informer = new Informer<{ metadata?: { name?: string; namespace?: string }; data?: Record<string, string> }>(fakeClient(calls) as unknown as KubeClient, {
    name: 'kill-switch', path: (ns) => `/api/v1/namespaces/${ns}/configmaps`, namespaces: ['ops'],
    fieldSelector: 'metadata.name=chaosrun-kill-switch', labelSelector: 'app=x', log: pino({ level: 'silent' }),
  });
  const updates: string[] = [];
  informer.on('update', (o) => updates.push(o.data?.a ?? ''));
  await informer.start();
  for (let i = 0; i < 100 && updates.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  informer.stop();
  assert.deepEqual(calls.map((c) => [c.verb, c.path, c.query.fieldSelector, c.query.labelSelector]), [
    ['list', '/api/v1/namespaces/ops/configmaps', 'metadata.name=chaosrun-kill-switch', 'app=x'],
    ['watch', '/api/v1/namespaces/ops/configmaps', 'metadata.name=chaosrun-kill-switch', 'app=x'],
  ]);
  assert.equal(calls[1].query.resourceVersion, '5', 'the watch goes on from the list');
  assert.deepEqual(updates, ['6']);
  assert.equal(informer.get('chaosrun-kill-switch', 'ops')?.data?.a, '6');
});

test('without one, no fieldSelector is sent', async () => {
  const calls: Call[] = [];
  const informer = new Informer(fakeClient(calls) as unknown as KubeClient, { name: 'all', path: () => '/api/v1/configmaps', log: pino({ level: 'silent' }) });
  await informer.start();
  for (let i = 0; i < 100 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  informer.stop();
  assert.ok(calls.length >= 2);
  assert.ok(calls.every((c) => c.query.fieldSelector === undefined));
});
