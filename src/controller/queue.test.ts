// Unit tests of the work queue on node:test's mock timers: one worker per key, the dirty re-run, the
// earliest timer winning, backoff by outcome and its reset, and the drain before shutdown.
import { beforeEach, afterEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, type Outcome, type Trigger } from './queue.ts';

/** Lets resolved promises run (setImmediate is not mocked). */
const flush = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };

/** A worker whose passes the test finishes by hand, recording every call. */
function manualWorker() {
  const calls: Array<{ key: string; trigger: Trigger; at: number }> = [];
  const open = new Map<string, Array<(o: Outcome) => void>>();
  const worker = (key: string, trigger: Trigger) => {
    calls.push({ key, trigger, at: Date.now() });
    return new Promise<Outcome>((resolve) => open.set(key, [...(open.get(key) ?? []), resolve]));
  };
  const finish = async (key: string, outcome: Outcome = { kind: 'ok' }) => {
    const waiting = open.get(key);
    assert.ok(waiting?.length, `no pass of ${key} is in flight`);
    waiting.shift()!(outcome);
    await flush();
  };
  const inFlight = (key: string) => open.get(key)?.length ?? 0;
  return { calls, worker, finish, inFlight };
}

describe('WorkQueue', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('runs a key on one worker at a time; an add during a pass runs it once more afterwards', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 4 });
    q.start();
    q.add('a');
    assert.equal(w.calls.length, 1);
    q.add('a', 'gate');
    q.add('a');
    assert.equal(w.calls.length, 1, 'a second pass of the same key must wait');
    await w.finish('a');
    assert.equal(w.calls.length, 2, 'the dirty key runs once more');
    assert.equal(w.calls[1].trigger, 'gate', 'with what first made it dirty');
    await w.finish('a');
    assert.equal(w.calls.length, 2);
  });

  it('runs different keys in parallel up to the concurrency, in arrival order', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 2 });
    for (const k of ['a', 'b', 'c']) q.add(k);
    assert.equal(w.calls.length, 0, 'nothing runs before start');
    q.start();
    assert.deepEqual(w.calls.map((c) => c.key), ['a', 'b']);
    assert.equal(q.length, 1);
    await w.finish('b');
    assert.deepEqual(w.calls.map((c) => c.key), ['a', 'b', 'c']);
  });

  it('runs keys added with priority (signals) before the routine lane, even ones queued earlier', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    q.add('c', 'signal', true);
    q.add('e', 'signal', true);
    q.add('c');
    q.start();
    assert.deepEqual(w.calls.map((c) => `${c.key}:${c.trigger}`), ['c:signal']);
    for (const k of ['c', 'e', 'a', 'b']) await w.finish(k);
    assert.deepEqual(w.calls.map((c) => c.key), ['c', 'e', 'a', 'b', 'd'], 'c moved out of the routine lane; e went before a');
    q.add('d', 'signal', true);
    await w.finish('d');
    assert.equal(w.calls.at(-1)!.trigger, 'signal', 'a signal during a pass runs it again right after');
  });

  it('keeps only the earliest timer per key; a pass drops the key\'s timer', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    q.start();
    q.addAfter('a', 5000);
    q.addAfter('a', 2000);
    q.addAfter('a', 9000);
    assert.equal(q.wakeAt('a'), Date.now() + 2000);
    mock.timers.tick(1999);
    assert.equal(w.calls.length, 0);
    mock.timers.tick(1);
    assert.deepEqual(w.calls.map((c) => c.trigger), ['timer']);
    await w.finish('a');
    mock.timers.tick(10_000);
    assert.equal(w.calls.length, 1, 'the later timers were replaced by the earlier one');
    q.addAfter('b', 1000);
    q.add('b');
    assert.equal(q.wakeAt('b'), undefined, 'the pass computes its own next wake-up');
  });

  it('requeues after what the pass asks for', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    q.start();
    q.add('a');
    await w.finish('a', { kind: 'requeueAfter', requeueAfterMs: 3000 });
    mock.timers.tick(2999);
    assert.equal(w.calls.length, 1);
    mock.timers.tick(1);
    assert.equal(w.calls.length, 2);
  });

  it('backs conflicts off from 50 ms, doubling, and a watch event still runs the key at once', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1, conflictBackoff: { baseMs: 50, maxMs: 400 } });
    q.start();
    q.add('a');
    const gaps: number[] = [];
    for (let i = 0; i < 6; i++) {
      await w.finish('a', { kind: 'conflict' });
      const wake = q.wakeAt('a')!;
      gaps.push(wake - Date.now());
      mock.timers.tick(wake - Date.now());
      assert.equal(w.calls.at(-1)!.trigger, 'retry');
    }
    assert.deepEqual(gaps, [50, 100, 200, 400, 400, 400], 'exponential, capped');
    await w.finish('a', { kind: 'conflict' });
    q.add('a', 'event');
    assert.equal(w.calls.at(-1)!.trigger, 'event', 'the newer object from the watch does not wait for the backoff');
    await w.finish('a', { kind: 'ok' });
    q.add('a');
    await w.finish('a', { kind: 'conflict' });
    assert.equal(q.wakeAt('a')! - Date.now(), 50, 'a success resets the backoff');
  });

  it('backs errors off separately; a thrown error counts as an error', async () => {
    const outcomes: string[] = [];
    let n = 0;
    const q = new WorkQueue(async () => { n++; if (n <= 3) throw new Error('boom'); return { kind: 'ok' }; }, {
      concurrency: 1, errorBackoff: { baseMs: 100, maxMs: 1000 }, onOutcome: (_k, o) => outcomes.push(o.kind),
    });
    q.start();
    q.add('a');
    await flush();
    assert.equal(q.wakeAt('a')! - Date.now(), 100);
    mock.timers.tick(100); await flush();
    assert.equal(q.wakeAt('a')! - Date.now(), 200);
    mock.timers.tick(200); await flush();
    assert.equal(q.wakeAt('a')! - Date.now(), 400);
    mock.timers.tick(400); await flush();
    assert.deepEqual(outcomes, ['error', 'error', 'error', 'ok']);
    assert.equal(q.wakeAt('a'), undefined);
  });

  it('does not retry a terminal outcome (only the fallback it asks for)', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    q.start();
    q.add('a');
    await w.finish('a', { kind: 'terminal', err: new Error('422') });
    assert.equal(q.wakeAt('a'), undefined);
    q.add('b');
    await w.finish('b', { kind: 'terminal', err: new Error('422'), requeueAfterMs: 300_000 });
    assert.equal(q.wakeAt('b')! - Date.now(), 300_000);
  });

  it('drains: resolves when the passes in flight end, starts nothing new, schedules nothing more', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    q.start();
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    let drained: boolean | undefined;
    void q.drain(5000).then((d) => { drained = d; });
    await flush();
    assert.equal(drained, undefined, 'a pass is still in flight');
    await w.finish('a', { kind: 'conflict' });
    assert.equal(drained, true);
    mock.timers.tick(10_000);
    assert.deepEqual(w.calls.map((c) => c.key), ['a'], 'neither b nor the timers ran');
    assert.equal(q.wakeAt('a'), undefined);
  });

  it('drain gives up after the grace period', async () => {
    const w = manualWorker();
    const q = new WorkQueue(w.worker, { concurrency: 1 });
    q.start();
    q.add('a');
    let drained: boolean | undefined;
    void q.drain(2000).then((d) => { drained = d; });
    mock.timers.tick(1999); await flush();
    assert.equal(drained, undefined);
    mock.timers.tick(1); await flush();
    assert.equal(drained, false);
    assert.equal(w.inFlight('a'), 1);
  });
});
