// The Event queue on plain objects (a client that holds each write until told): a few writes in
// flight, first in first out, each stamped when it happened, and a full queue refusing in words.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiClient, CallOptions, Method } from './client.ts';
import { EventQueue } from './events.ts';

function heldClient() {
  const held: Array<{ body: { reason: string; firstTimestamp: string }; release: () => void }> = [];
  const client: ApiClient = {
    async request<T>(_method: Method, _path: string, options: CallOptions = {}): Promise<T> {
      await new Promise<void>((release) => held.push({ body: options.body as { reason: string; firstTimestamp: string }, release }));
      return undefined as T;
    },
  };
  return { client, held };
}

const run = { metadata: { name: 'r', namespace: 'ns', uid: 'u' } };
const tick = () => new Promise((r) => setImmediate(r));

it('writes at most inFlight Events at a time, in the order they were recorded', async () => {
  const { client, held } = heldClient();
  const q = new EventQueue(2);
  const written: string[] = [];
  const all = ['a', 'b', 'c', 'd', 'e'].map((reason) => q.record(client, run, 'Normal', reason, 'm', 'test').then(() => written.push(reason)));
  await tick();
  assert.deepEqual(held.map((h) => h.body.reason), ['a', 'b'], 'two in flight');
  assert.equal(q.pending, 5);
  held[1].release();
  await tick(); await tick();
  assert.deepEqual(held.map((h) => h.body.reason), ['a', 'b', 'c'], 'the next starts when one ends');
  for (const h of held) h.release();
  while (held.length < 5) { await tick(); for (const h of held) h.release(); }
  await Promise.all(all);
  assert.deepEqual(written.sort(), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(q.pending, 0);
});

it('stamps an Event with the time it was recorded, not the time it is written', async () => {
  const { client, held } = heldClient();
  const q = new EventQueue(1);
  const before = Date.now();
  void q.record(client, run, 'Normal', 'first', 'm', 'test');
  const second = q.record(client, run, 'Normal', 'second', 'm', 'test');
  const recorded = Date.now();
  await new Promise((r) => setTimeout(r, 50));
  held[0].release();
  while (held.length < 2) await tick();
  const stamp = Date.parse(held[1].body.firstTimestamp);
  assert.ok(stamp >= before && stamp <= recorded, `stamped ${held[1].body.firstTimestamp}, recorded by ${new Date(recorded).toISOString()}`);
  held[1].release();
  await second;
});

it('a full queue refuses a new Event with a reason; a failed write rejects its own promise only', async () => {
  const { client, held } = heldClient();
  const q = new EventQueue(1, 1);
  const first = q.record(client, run, 'Normal', 'first', 'm', 'test');
  const second = q.record(client, run, 'Normal', 'second', 'm', 'test');
  await assert.rejects(q.record(client, run, 'Warning', 'third', 'm', 'test'), /1 Events already wait to be written; this one \(third\) is dropped/);
  held[0].release();
  await first;
  while (held.length < 2) await tick();
  held[1].release();
  await second;

  const failing: ApiClient = { request: async () => { throw new Error('refused'); } };
  const q2 = new EventQueue(1);
  const bad = q2.record(failing, run, 'Normal', 'x', 'm', 'test');
  const good = q2.record(heldClient().client, run, 'Normal', 'y', 'm', 'test');
  await assert.rejects(bad, /refused/);
  await tick();
  assert.equal(q2.pending, 1, 'the next write went on after the failure');
  void good;
});
