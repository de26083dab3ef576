// The delay fault proven in real network namespaces this file makes itself: crd-a-<rand> and
// crd-b-<rand> joined by a veth pair, 198.18.252.1/30 and .2/30 (RFC 2544's benchmark range; nothing
// else is addressed and nothing leaves the machine). b is the target: the fault holds what b receives
// from a (its ingress), applied with the agent's own carryOut (nft's transaction, then the delayer's
// queue-rule helper) and held by chaosrun-delayer processes the agent's own supervisor (Delayers)
// starts and stops. Latency is measured as a sends it: the time of a TCP connect from a to b, the
// SYN -> SYN/ACK round trip (ping's timestamps would hide a delay on b's input), median over 20 or more.
//
// Needs root (network namespaces) and Go (to build the delayer). Without them every test is
// registered as skipped, with the reason. The namespaces and every delayer are removed in after().
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Delayers } from '../../src/agent/delayers.ts';
import { faultKey, queueNumber, type WantedFault } from '../../src/agent/fault.ts';
import { carryOut, listFound } from '../../src/agent/nft.ts';
import { planNode } from '../../src/agent/plan.ts';
import { createLogger } from '../../src/log.ts';
import { rootWithTools } from '../helpers/node-lab.ts';
import { buildDelayer } from '../../src/realnode/delayer.ts';

const need = rootWithTools('delay tests', ['ip', 'nft', 'nsenter', 'go'], 'to create network namespaces');
const skip = need ? { skip: need } : {};

const tag = randomBytes(3).toString('hex');
const A = { name: `crd-a-${tag}`, ip: '198.18.252.1' };
const B = { name: `crd-b-${tag}`, ip: '198.18.252.2' };
const netnsPath = (ns: { name: string }) => `/run/netns/${ns.name}`;
const probeFile = join(import.meta.dirname, 'netns-probe.ts');
const children = new Set<ChildProcess>();
const log = createLogger('delay-test', process.env.LOG_LEVEL ?? 'error');
let delayer = '';
let delayers: Delayers | undefined;
const exited: number[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000 });

/** A probe inside a namespace (netns-probe.ts); `done` resolves with its JSON lines at exit. */
function probe(ns: { name: string }, args: Array<string | number>, limitMs: number) {
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, probeFile, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Array<Record<string, unknown>> = [];
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = JSON.parse(out.slice(0, nl)) as Record<string, unknown>;
      out = out.slice(nl + 1);
      if (line.ready) onReady(); else lines.push(line);
    }
  });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      if (code === 0) resolve(lines); else reject(new Error(`probe ${args.join(' ')} in ${ns.name}: exit ${code ?? signal}: ${err.trim()}`));
    });
  });
  return { ready, done, stop: () => child.stdin.end() };
}
const once = async (ns: { name: string }, args: Array<string | number>, limitMs: number) => (await probe(ns, args, limitMs).done)[0] ?? {};

const median = (xs: number[]) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const stdev = (xs: number[]) => { const m = xs.reduce((a, b) => a + b, 0) / xs.length; return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length); };
const fmt = (x: number) => x.toFixed(2);

/**
 * Connects from a to b:8080 until one takes under `underMs`, already running when `change` is made:
 * resolves with the time from the change to that connect. Each attempt is given up after 50 ms (a
 * delayed one as well as one whose SYN a change lost, which would wait a second for its
 * retransmission), so the time is the change's to within about 50 ms.
 */
async function fastAfter(change: () => Promise<void> | void, underMs: number, maxMs = 3000): Promise<number> {
  const p = probe(A, ['until-fast', B.ip, 8080, maxMs + 1000, underMs, 50], maxMs + 5000);
  await p.ready;
  await sleep(150);
  const at = Date.now();
  await change();
  const [r] = await p.done;
  assert.equal(typeof r.at, 'number', `a connect under ${underMs} ms within ${maxMs} ms: ${JSON.stringify(r)}`);
  return (r.at as number) - at;
}

/** `count` sequential connects from a to b:8080, each one's time in ms. */
async function connectTimes(count: number, timeoutMs = 3000): Promise<number[]> {
  const r = await once(A, ['connect-times', B.ip, 8080, count, timeoutMs], count * timeoutMs + 5000);
  assert.equal(r.failed, 0, `every connect got through: ${JSON.stringify(r)}`);
  return r.times as number[];
}

/** The delay fault on b's ingress, from a. */
const fault = (id: string, delay: { latency: string; jitter?: string }, leaseSeconds = 30): WantedFault => ({
  id: `${id}-${tag}`,
  run: { namespace: 'chaos', name: 'delay-test' },
  step: id,
  target: { namespace: 'test', pod: B.name, podUid: tag, netns: netnsPath(B) },
  direction: 'ingress',
  to: [{ cidr: `${A.ip}/32` }],
  action: { delay },
  leaseSeconds,
});

/** One agent pass for these faults: the planned nft actions, then the delayers. */
async function pass(wanted: WantedFault[]): Promise<string[]> {
  const plan = planNode(wanted, await listFound(netnsPath(B)));
  for (const a of plan.actions) await carryOut(a, { delayer });
  await delayers!.sync(wanted);
  return plan.actions.map((a) => a.kind);
}

/** Waits (bounded) until the fault's delayer has bound its queue. */
async function delayerReady(w: WantedFault, withinMs = 5000): Promise<number> {
  const key = faultKey(w.target.netns, w.id);
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    const s = delayers!.state(key);
    if (s?.ready && s.pid) return s.pid;
    await sleep(20);
  }
  throw new Error(`the delayer of ${w.id} did not bind its queue within ${withinMs} ms`);
}

/** A process that is there and not a zombie. */
function alive(pid: number): boolean {
  try { return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

describe('delay in real network namespaces', { concurrency: false }, () => {
  let baseline = 0;
  let stopSink: (() => Promise<void>) | undefined;

  before(async () => {
    if (need) return;
    delayer = buildDelayer();
    delayers = new Delayers({ binary: delayer, log, onExit: () => { exited.push(Date.now()); } });
    ip('netns', 'add', A.name);
    ip('netns', 'add', B.name);
    ip('link', 'add', 'dly-a', 'netns', A.name, 'type', 'veth', 'peer', 'name', 'dly-b', 'netns', B.name);
    for (const [ns, dev] of [[A, 'dly-a'], [B, 'dly-b']] as const) {
      ip('-n', ns.name, 'addr', 'add', `${ns.ip}/30`, 'dev', dev);
      ip('-n', ns.name, 'link', 'set', dev, 'up');
      ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    }
    const sink = probe(B, ['tcp-sink', B.ip, 8080, 240_000], 250_000);
    await sink.ready;
    stopSink = async () => { sink.stop(); await sink.done.catch(() => []); };
    baseline = median(await connectTimes(20));
    console.log(`delay: baseline connect time a -> b ${fmt(baseline)} ms (median of 20)`);
  });

  afterEach(async () => {
    // Whatever a failed test left: its delayers and its table.
    if (need) return;
    await pass([]);
  });

  after(async () => {
    await delayers?.stopAll();
    await stopSink?.();
    for (const c of children) c.kill('SIGKILL');
    if (need) return;
    for (const ns of [A, B]) {
      try { ip('netns', 'del', ns.name); } catch (err) { console.error(`could not delete netns ${ns.name}: ${(err as Error).message}`); }
    }
  });

  it('100 ms on the receiver\'s ingress: the median connect takes 100 ms more (within 20%); revert: back to baseline within 1 s', { ...skip, timeout: 30_000 }, async () => {
    const w = fault('lat', { latency: '100ms' });
    assert.deepEqual(await pass([w]), ['apply']);
    await delayerReady(w);
    assert.deepEqual((await listFound(netnsPath(B))).map((f) => f.specHash.length), [16], 'the table reads back whole: its queue rule is in');
    // nft lists the xtables target too (and warns on stderr that iptables-nft owns the table: it does not).
    const listed = execFileSync('ip', ['netns', 'exec', B.name, 'nft', 'list', 'chain', 'inet', `chaosrun_${w.id}`, 'ingress_fault'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const rule = listed.split('\n').find((l) => /queue/.test(l))?.trim();
    console.log(`delay rule: ${rule}`);
    assert.match(rule ?? '', new RegExp(`^queue num ${queueNumber(w.id)} bypass comment "chaosrun hash=`));
    const times = await connectTimes(25);
    const added = median(times) - baseline;
    console.log(`delay 100ms: median added ${fmt(added)} ms over 25 connects (from ${fmt(Math.min(...times))} to ${fmt(Math.max(...times))} ms, stdev ${fmt(stdev(times))})`);
    assert.ok(added >= 80 && added <= 120, `added ${fmt(added)} ms is not within 100 +- 20%`);

    const back = await fastAfter(async () => { assert.deepEqual(await pass([]), ['revert']); }, baseline + 20);
    const after = median(await connectTimes(20));
    console.log(`delay revert: a connect under ${fmt(baseline + 20)} ms ${back} ms after the revert began (to within 50 ms); then median ${fmt(after)} ms`);
    assert.ok(back <= 1000, `back to baseline ${back} ms after the revert began`);
    assert.ok(after <= baseline + 5, `median ${fmt(after)} ms after the revert, baseline ${fmt(baseline)}`);
    assert.equal(delayers!.running().length, 0, 'the delayer was stopped');
  });

  it('jitter 20 ms widens the spread around the same median; a change of jitter is a new spec and a new delayer', { ...skip, timeout: 30_000 }, async () => {
    const plain = fault('jit', { latency: '100ms' });
    await pass([plain]);
    const pid = await delayerReady(plain);
    const steady = await connectTimes(20);
    const jittery = { ...plain, action: { delay: { latency: '100ms', jitter: '20ms' } } };
    assert.deepEqual(await pass([jittery]), ['apply']);
    const newPid = await delayerReady(jittery);
    assert.notEqual(newPid, pid);
    const spread = await connectTimes(40);
    const [p10, p90] = [quantile(spread, 0.1), quantile(spread, 0.9)];
    // Quartiles, not the deviation: a busy machine's probe adds an outlier now and then to either set.
    const iqr = (xs: number[]) => quantile(xs, 0.75) - quantile(xs, 0.25);
    console.log(`delay jitter: without, interquartile ${fmt(iqr(steady))} ms, stdev ${fmt(stdev(steady))}; ` +
      `with 20 ms, interquartile ${fmt(iqr(spread))} ms, stdev ${fmt(stdev(spread))}, p10 ${fmt(p10)}, p90 ${fmt(p90)}, from ${fmt(Math.min(...spread))} to ${fmt(Math.max(...spread))}, median added ${fmt(median(spread) - baseline)} over 40 connects`);
    // Uniform over 80..120 ms: an interquartile range of 20 ms.
    assert.ok(iqr(spread) >= 12 && iqr(spread) >= iqr(steady) + 8, `interquartile ${fmt(iqr(spread))} ms with jitter, ${fmt(iqr(steady))} without`);
    // Drawn from 80..120 ms: none is held less than 80 ms (the delayer's own property), and nine in ten
    // land by 120 ms (and a little). Not the maximum: beside the suite's other files one connect in 40 was
    // seen at 177 ms, the probe's event loop starved, which says nothing of the delayer.
    // Not p95 either: of 40 connects it is the second slowest, and CI saw it at 148.7 ms on a machine
    // running a fault campaign beside the suite (p90 was within bounds): the probe's timing, not the delayer's.
    // The minimum is judged whole, not less the baseline: a busy machine inflates the baseline's median,
    // and no connect can take less than the 80 ms its SYN/ACK was held.
    assert.ok(Math.min(...spread) >= 78 && p90 - baseline <= 125, `connects within 100 +- 20 ms (and a little): min ${fmt(Math.min(...spread))}, p90 ${fmt(p90)}, baseline ${fmt(baseline)}`);
    assert.ok(Math.abs(median(spread) - baseline - 100) <= 20, `median added ${fmt(median(spread) - baseline)} ms`);
  });

  it('the delayer SIGKILLed: traffic passes undelayed within 1 s (bypass), and the supervisor starts it again while wanted', { ...skip, timeout: 30_000 }, async () => {
    const w = fault('kill', { latency: '100ms' });
    await pass([w]);
    const pid = await delayerReady(w);
    assert.ok(median(await connectTimes(5)) - baseline >= 80, 'delayed before the kill');
    exited.length = 0;
    // The packets it held when it died are dropped by the kernel (a connect then in flight is given up
    // and tried again); every packet after passes by bypass.
    const open = await fastAfter(() => { process.kill(pid, 'SIGKILL'); }, baseline + 20);
    const during = median(await connectTimes(10));
    console.log(`delay fail-open: a connect under ${fmt(baseline + 20)} ms ${open} ms after SIGKILL (to within 50 ms); median ${fmt(during)} ms with no delayer (the rule still there)`);
    assert.ok(open <= 1000, `fails open ${open} ms after the kill`);
    assert.ok(during <= baseline + 5, `median ${fmt(during)} ms without a delayer`);
    assert.equal(exited.length, 1, 'the supervisor saw it exit');
    assert.equal(delayers!.running().length, 0);
    // The next pass (the agent runs one when a delayer exits) starts it again at once; the table was left alone.
    assert.deepEqual(await pass([w]), []);
    const again = await delayerReady(w);
    assert.notEqual(again, pid);
    const restarted = median(await connectTimes(20)) - baseline;
    console.log(`delay restart: delayer ${pid} -> ${again}; median added ${fmt(restarted)} ms`);
    assert.ok(restarted >= 80 && restarted <= 120, `delayed again: added ${fmt(restarted)} ms`);
    // A second quick death waits its backoff (250 ms) before the next start.
    process.kill(again, 'SIGKILL');
    const deadline = Date.now() + 2000;
    while (exited.length < 2 && Date.now() < deadline) await sleep(10);
    const held = await delayers!.sync([w]);
    assert.ok(held.wakeInMs !== undefined && held.wakeInMs > 0 && held.wakeInMs <= 250, `held back by its backoff: ${JSON.stringify(held)}`);
    assert.equal(delayers!.running().length, 0, 'held back by its backoff');
    await sleep(300);
    await delayers!.sync([w]);
    await delayerReady(w);
  });

  it('a delayer exits when its parent dies, or does not start when its parent is already gone; a new one binds the queue', { ...skip, timeout: 30_000 }, async () => {
    const queue = String(queueNumber(`orphan-${tag}`));
    // A parent that starts a delayer (nsenter execs it: its parent is the shell) and is then SIGKILLed.
    const parent = spawn('bash', ['-c', `nsenter --net=${netnsPath(B)} -- ${delayer} --queue ${queue} --latency 50ms --parent-pid $$ & echo $!; wait`],
      { stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(parent);
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    await sleep(300);
    assert.ok(alive(pid), 'the delayer runs while its parent does');
    const killedAt = Date.now();
    parent.kill('SIGKILL');
    const end = Date.now() + 3000;
    while (alive(pid) && Date.now() < end) await sleep(10);
    const gone = Date.now() - killedAt;
    console.log(`delay parent death: delayer ${pid} gone ${gone} ms after its parent was SIGKILLed`);
    assert.ok(!alive(pid), `delayer ${pid} still alive 3 s after its parent died`);
    assert.ok(gone <= 1500, `gone ${gone} ms after its parent`);
    // A delayer told of a parent that is not its own refuses to start.
    const refused = spawn('nsenter', [`--net=${netnsPath(B)}`, '--', delayer, '--queue', queue, '--latency', '50ms', '--parent-pid', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    refused.stderr.on('data', (d: Buffer) => { said += d; });
    const code = await new Promise<number | null>((resolve) => refused.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(said, /^chaosrun-delayer: the parent \(pid 1\) is already gone; not starting\n$/);
    // A new agent's delayer binds the same queue (the old one released it when it died).
    const fresh = new Delayers({ binary: delayer, log });
    const w = fault('orphan', { latency: '50ms' });
    try {
      await fresh.sync([w]);
      const end2 = Date.now() + 5000;
      while (!fresh.state(faultKey(w.target.netns, w.id))?.ready && Date.now() < end2) await sleep(20);
      assert.ok(fresh.state(faultKey(w.target.netns, w.id))?.ready, 'the new delayer bound the queue');
    } finally { await fresh.stopAll(); }
  });

  it('lease expiry with no agent: the rule stops matching by itself, though a delayer is still bound', { ...skip, timeout: 30_000 }, async () => {
    const w = fault('lease', { latency: '100ms' }, 3);
    const applied = Date.now();
    await pass([w]);
    await delayerReady(w);
    assert.ok(median(await connectTimes(5)) - baseline >= 80, 'delayed while the lease holds');
    // Nobody renews: the kernel expires the lease's element and the rule no longer queues anything.
    const fast = await once(A, ['until-fast', B.ip, 8080, 6000, baseline + 20, 250], 8000);
    assert.equal(typeof fast.at, 'number', `undelayed by itself: ${JSON.stringify(fast)}`);
    const at = (fast.at as number) - applied;
    console.log(`delay lease: undelayed ${at} ms after the apply began (lease 3000 ms), the delayer still bound`);
    assert.ok(at >= 3000 - 250 && at <= 3000 + 1000, `undelayed ${at} ms after the apply, lease 3000 ms`);
    assert.equal(delayers!.running().length, 1, 'its delayer is still there: the rule, not the delayer, ended the delay');
    assert.deepEqual((await listFound(netnsPath(B))).map((f) => f.leaseExpiresInMs), [0]);
  });
});
