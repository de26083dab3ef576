// The hub's promise that nobody watching costs nothing, and that viewers get each real change once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChaosRun } from '../api/types.ts';
import { RunHub, type Change, type RunFeed } from './hub.ts';

function fakeFeed() {
  const handlers: Record<string, Array<(r: ChaosRun) => void>> = { add: [], update: [], delete: [] };
  const runs = new Map<string, ChaosRun>();
  let lists = 0;
  const feed: RunFeed & { fire(ev: 'add' | 'update' | 'delete', r: ChaosRun): void; lists(): number } = {
    list: () => { lists++; return [...runs.values()]; },
    on: (ev, h) => { handlers[ev].push(h); },
    fire(ev, r) {
      if (ev === 'delete') runs.delete(r.metadata.name); else runs.set(r.metadata.name, r);
      for (const h of handlers[ev]) h(r);
    },
    lists: () => lists,
  };
  return feed;
}

const run = (name: string, signalState: 'RUN' | 'PAUSE' | 'STOP' = 'RUN', rv = '1', publishStatus = true): ChaosRun => ({
  apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
  metadata: { name, namespace: 'ns', uid: name, resourceVersion: rv },
  spec: { signalState, iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus, failurePolicy: 'Continue', historyLimit: 5, scenarios: [{ name: 'a' }] },
});

test('with nobody watching, changes are dropped at once: no view built, no list read, nothing kept', () => {
  const feed = fakeFeed();
  const hub = new RunHub(feed);
  for (let i = 0; i < 100; i++) feed.fire('update', run(`r${i % 5}`, 'RUN', String(i)));
  assert.equal(feed.lists(), 0);
  assert.equal(hub.viewers, 0);
});

test('a viewer gets each change of a run\'s view once, not resourceVersion bumps; deletes and unpublished runs go', () => {
  const feed = fakeFeed();
  const hub = new RunHub(feed);
  feed.fire('add', run('a'));
  const got: Change[] = [];
  const stop = hub.subscribe((c) => got.push(c));
  feed.fire('update', run('a', 'RUN', '2'));
  feed.fire('update', run('a', 'PAUSE', '3'));
  feed.fire('add', run('b'));
  feed.fire('update', run('b', 'RUN', '5', false));
  feed.fire('delete', run('a', 'PAUSE', '6'));
  feed.fire('delete', run('b', 'RUN', '7', false));
  assert.deepEqual(got.map((c) => `${c.type} ${c.name}${c.type === 'run' ? ` ${c.view.signal}` : ''}`), ['run a PAUSE', 'run b RUN', 'delete b', 'delete a']);
  stop();
  assert.equal(hub.viewers, 0);
  feed.fire('add', run('c'));
  assert.equal(got.length, 4, 'nothing after the last viewer left');
});

test('a snapshot holds the published runs, sorted', () => {
  const feed = fakeFeed();
  const hub = new RunHub(feed);
  feed.fire('add', run('z'));
  feed.fire('add', run('hidden', 'RUN', '1', false));
  feed.fire('add', run('a'));
  assert.deepEqual(hub.snapshot().map((r) => r.name), ['a', 'z']);
});
