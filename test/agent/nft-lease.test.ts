// The nftables lease applier proven in real network namespaces this file makes itself: two
// namespaces crt-a-<rand> and crt-b-<rand> joined by a veth pair, 198.18.251.1/30 and .2/30 (RFC 2544's
// benchmark range; nothing else is addressed and nothing leaves the machine). Faults are applied with
// the agent's own scripts and proven with traffic measured on the receiving side: a partition cuts
// everything and ends by itself when its lease runs out with nobody renewing it; loss drops about its
// share; the bandwidth policer holds a TCP transfer near its rate; renewal keeps a fault past its first
// lease; a spec change replaces the rules without a gap; listFound reads back what was applied.
//
// Needs root (network namespaces). Without it every test is registered as skipped, with the reason.
// The namespaces are deleted in after(), whatever happened; that also ends their tables and links.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { specHash, type FaultAction, type Peer, type WantedFault } from '../../src/agent/fault.ts';
import { applyIn, carryOut, listFound, renderTable, revertIn } from '../../src/agent/nft.ts';
import { rootWithTools } from '../helpers/node-lab.ts';
import { planNode } from '../../src/agent/plan.ts';

const need = rootWithTools('nft lease tests', ['ip', 'nft', 'nsenter'], 'to create network namespaces');
const skip = need ? { skip: need } : {};

const tag = randomBytes(3).toString('hex');
const A = { name: `crt-a-${tag}`, ip: '198.18.251.1' };
const B = { name: `crt-b-${tag}`, ip: '198.18.251.2' };
const netnsPath = (ns: { name: string }) => `/run/netns/${ns.name}`;
const probeFile = join(import.meta.dirname, 'netns-probe.ts');
const children = new Set<ChildProcess>();

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
const nftText = (ns: { name: string }, ...args: string[]) => ip('netns', 'exec', ns.name, 'nft', ...args);

/** A probe inside a namespace; `lines` collects its JSON lines, `done` resolves with all of them at exit. */
function probe(ns: { name: string }, args: Array<string | number>, limitMs: number) {
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, probeFile, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Array<Record<string, unknown>> = [];
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  let onExit: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => { onReady = resolve; onExit = reject; });
  ready.catch(() => { /* only servers are awaited for ready; their exit is reported by done */ });
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
      const failed = new Error(`probe ${args.join(' ')} in ${ns.name}: exit ${code ?? signal}: ${err.trim()}`);
      onExit(failed);
      if (code === 0) resolve(lines); else reject(failed);
    });
  });
  return { ready, done, stop: () => child.stdin.end() };
}
const once = async (ns: { name: string }, args: Array<string | number>, limitMs: number) => (await probe(ns, args, limitMs).done)[0] ?? {};

const fault = (id: string, ns: { name: string }, direction: WantedFault['direction'], action: FaultAction, leaseSeconds: number, to?: Peer[]): WantedFault => ({
  id: `${id}-${tag}`,
  run: { namespace: 'chaos', name: 'lease-test' },
  step: id,
  target: { namespace: 'test', pod: ns.name, podUid: tag, netns: netnsPath(ns) },
  direction,
  ...(to ? { to } : {}),
  action,
  leaseSeconds,
});
const chaosrunTables = (ns: { name: string }) => nftText(ns, 'list', 'tables').split('\n').filter((l) => l.includes('chaosrun_'));

describe('nft lease faults in real network namespaces', { concurrency: false }, () => {
  before(() => {
    if (need) return;
    ip('netns', 'add', A.name);
    ip('netns', 'add', B.name);
    ip('link', 'add', 'veth-a', 'netns', A.name, 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', B.name);
    for (const [ns, dev] of [[A, 'veth-a'], [B, 'veth-b']] as const) {
      ip('-n', ns.name, 'addr', 'add', `${ns.ip}/30`, 'dev', dev);
      ip('-n', ns.name, 'link', 'set', dev, 'up');
      ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    }
  });

  // A test that failed half-way may leave a probe running (a bound port): end it before the next test.
  afterEach(() => { for (const c of children) c.kill('SIGKILL'); });

  after(() => {
    for (const c of children) c.kill('SIGKILL');
    if (need) return;
    for (const ns of [A, B]) {
      try { ip('netns', 'del', ns.name); } catch (err) { console.error(`could not delete netns ${ns.name}: ${(err as Error).message}`); }
    }
  });

  /** TCP listeners on port 8080 in both namespaces for the connect probes, for one test. */
  async function listeners() {
    const servers = [probe(A, ['tcp-sink', A.ip, 8080, 20_000], 25_000), probe(B, ['tcp-sink', B.ip, 8080, 20_000], 25_000)];
    await Promise.all(servers.map((s) => s.ready));
    return async () => { for (const s of servers) s.stop(); await Promise.all(servers.map((s) => s.done)); };
  }

  it('partition, both directions: every connect fails, then traffic passes again by itself within lease + 1 s; revert leaves no table', { ...skip, timeout: 20_000 }, async () => {
    const stop = await listeners();
    try {
      assert.deepEqual(await once(A, ['connects', B.ip, 8080, 3, 500], 5_000), { ok: 3, failed: 0 }, 'a reaches b before the fault');
      const w = fault('part', B, 'both', { partition: {} }, 3);
      const t0 = Date.now();
      await applyIn(w.target.netns, renderTable(w));
      const applied = Date.now();
      const [ab, ba] = await Promise.all([once(A, ['connects', B.ip, 8080, 10, 100], 5_000), once(B, ['connects', A.ip, 8080, 10, 100], 5_000)]);
      assert.deepEqual(ab, { ok: 0, failed: 10 }, 'a -> b (b ingress) is cut');
      assert.deepEqual(ba, { ok: 0, failed: 10 }, 'b -> a (b egress) is cut');
      // Nobody renews: the kernel ends the lease.
      const [healedAb, healedBa] = await Promise.all([
        once(A, ['until-connect', B.ip, 8080, 6_000, 50], 8_000), once(B, ['until-connect', A.ip, 8080, 6_000, 50], 8_000),
      ]);
      for (const [dir, h] of [['a -> b', healedAb], ['b -> a', healedBa]] as const) {
        assert.equal(typeof h.at, 'number', `${dir} passes again by itself`);
        const at = h.at as number;
        console.log(`partition heal ${dir}: ${at - applied} ms after nft returned (${at - t0} ms after it started), lease ${w.leaseSeconds * 1000} ms`);
        assert.ok(at - t0 <= w.leaseSeconds * 1000 + 1000, `${dir} healed ${at - t0} ms after the apply started, more than lease + 1 s`);
        assert.ok(at - applied >= w.leaseSeconds * 1000 - 250, `${dir} healed ${at - applied} ms after the apply: before its lease ran out`);
      }
      // The table is still there, inert (nothing in its lease), until it is reverted.
      assert.deepEqual((await listFound(w.target.netns)).map((f) => [f.id, f.specHash, f.leaseExpiresInMs]), [[w.id, specHash(w), 0]]);
      await revertIn(w.target.netns, w.id);
      assert.deepEqual(chaosrunTables(B), []);
      await revertIn(w.target.netns, w.id);
    } finally { await stop(); }
  });

  for (const side of ['ingress', 'egress'] as const) {
    it(`loss 30% on the ${side === 'ingress' ? "receiver's ingress" : "sender's egress"}: the receiver counts about 70% of 1,000 datagrams`, { ...skip, timeout: 20_000 }, async () => {
      const count = 1000;
      const send = async () => {
        const recv = probe(B, ['udp-recv', B.ip, 9999, 10_000], 12_000);
        await recv.ready;
        const sender = await once(A, ['udp-send', B.ip, 9999, count, 10], 10_000);
        await sleep(200);
        recv.stop();
        return { sender, received: (await recv.done)[0].received as number };
      };
      const baseline = await send();
      assert.equal(baseline.received, count, `no loss without the fault: ${JSON.stringify(baseline)}`);
      // Ports are the peer's: a's datagrams leave from an ephemeral port, so b's ingress fault names
      // every port of a, while a's egress fault names b's port 9999.
      const w = side === 'ingress'
        ? fault('loss-in', B, 'ingress', { loss: { percent: 30 } }, 20, [{ cidr: `${A.ip}/32` }])
        : fault('loss-out', A, 'egress', { loss: { percent: 30 } }, 20, [{ cidr: `${B.ip}/32`, ports: [9999] }]);
      await applyIn(w.target.netns, renderTable(w));
      try {
        const { sender, received } = await send();
        const loss = 100 * (count - received) / count;
        console.log(`loss ${side}: ${loss.toFixed(1)}% of ${count} counted by the receiver (sender: ${JSON.stringify(sender)})`);
        assert.ok(Math.abs(loss - 30) <= 10, `loss ${loss}% is not within 30 +- 10`);
      } finally { await revertIn(w.target.netns, w.id); }
    });
  }

  it('bandwidth 1mbit egress: a TCP transfer of about 4 s arrives at about 1 Mbit/s', { ...skip, timeout: 20_000 }, async () => {
    const sink = probe(B, ['tcp-sink', B.ip, 9000, 12_000], 14_000);
    await sink.ready;
    const w = fault('bw', A, 'egress', { bandwidth: { rate: '1mbit' } }, 20, [{ cidr: `${B.ip}/32` }]);
    await applyIn(w.target.netns, renderTable(w));
    try {
      const sender = await once(A, ['tcp-send', B.ip, 9000, 4000], 8_000);
      await sleep(300);
      sink.stop();
      const [got] = await sink.done;
      const bytes = got.bytes as number;
      const seconds = ((got.lastAt as number) - (got.firstAt as number)) / 1000;
      const mbit = (bytes * 8) / seconds / 1e6;
      // After the first second the bucket's initial second of credit is spent: the policer's own rate.
      const marks = got.marks as Array<[number, number]>;
      const from = marks.find(([t]) => t >= (got.firstAt as number) + 1000) ?? marks[0];
      const steady = ((bytes - from[1]) * 8) / (((got.lastAt as number) - from[0]) / 1000) / 1e6;
      console.log(`bandwidth 1mbit egress: ${(bytes / 1000).toFixed(0)} kB in ${seconds.toFixed(2)} s = ${mbit.toFixed(3)} Mbit/s at the receiver; ` +
        `${steady.toFixed(3)} Mbit/s after the first second (sender wrote ${JSON.stringify(sender)})`);
      assert.ok(bytes >= 300_000, `a few hundred kB arrived (${bytes})`);
      assert.ok(Math.abs(mbit - 1) <= 0.3, `${mbit.toFixed(3)} Mbit/s is not within 1 +- 30%`);
    } finally { await revertIn(w.target.netns, w.id); }
  });

  it('renewal through listFound + planNode keeps a fault past its first lease; once renewals stop it ends within lease + 1 s', { ...skip, timeout: 20_000 }, async () => {
    const stop = await listeners();
    const w = fault('renew', A, 'egress', { partition: {} }, 2, [{ cidr: `${B.ip}/32` }]);
    try {
      const done: string[] = [];
      const pass = async () => {
        const plan = planNode([w], await listFound(w.target.netns));
        for (const a of plan.actions) { await carryOut(a); done.push(`${a.kind} ${a.kind === 'revert' ? a.id : a.fault.id}`); }
        return plan;
      };
      const started = Date.now();
      let lastRenewal = started;
      // The agent's loop, bounded: one pass every 400 ms for 3.2 s (past the 2 s lease).
      while (Date.now() - started < 3200) {
        const plan = await pass();
        if (plan.actions.length) lastRenewal = Date.now();
        assert.ok(plan.wakeInMs !== undefined && plan.wakeInMs <= 1000, `the plan wakes before the renewal falls due (${plan.wakeInMs})`);
        await sleep(400);
      }
      assert.equal(done[0], `apply ${w.id}`);
      assert.ok(done.slice(1).every((k) => k === `renew ${w.id}`) && done.length >= 3, `one apply, then renewals only: ${done.join(', ')}`);
      assert.deepEqual(await once(A, ['connects', B.ip, 8080, 3, 100], 5_000), { ok: 0, failed: 3 }, `still cut ${Date.now() - started} ms after a 2 s lease began`);
      const healed = await once(A, ['until-connect', B.ip, 8080, 5_000, 50], 7_000);
      assert.equal(typeof healed.at, 'number', 'passes again once renewals stop');
      const after = (healed.at as number) - lastRenewal;
      console.log(`renewal: ${done.join(', ')}; healed ${after} ms after the last renewal (lease 2000 ms)`);
      assert.ok(after <= 3000, `healed ${after} ms after the last renewal, more than lease + 1 s`);
    } finally {
      await revertIn(w.target.netns, w.id);
      await stop();
    }
  });

  it('a spec change replaces the rules in one transaction: not one datagram slips through the rebuilds', { ...skip, timeout: 20_000 }, async () => {
    const stop = await listeners();
    // Both specs drop UDP to b:9999; only the second also cuts TCP to b:8080.
    const first = fault('change', A, 'egress', { partition: {} }, 20, [{ cidr: `${B.ip}/32`, ports: [9999] }]);
    const second: WantedFault = { ...first, to: [{ cidr: `${B.ip}/32`, ports: [9999, 8080] }] };
    assert.notEqual(specHash(first), specHash(second));
    try {
      await applyIn(first.target.netns, renderTable(first));
      const recv = probe(B, ['udp-recv', B.ip, 9999, 10_000], 12_000);
      await recv.ready;
      const sending = probe(A, ['udp-send', B.ip, 9999, 6000, 4], 10_000);
      await sending.ready;
      let sent = false;
      void sending.done.finally(() => { sent = true; }).catch(() => {});
      // Rebuild, alternating the two specs, for as long as a is sending (at most 100 times).
      let rebuilds = 0;
      const rebuildsStarted = Date.now();
      while (!sent && rebuilds < 100) {
        const w = rebuilds % 2 ? first : second;
        const plan = planNode([w], await listFound(w.target.netns));
        assert.deepEqual(plan.actions.map((a) => a.kind === 'apply' && a.reason), ['changed']);
        for (const a of plan.actions) await carryOut(a);
        rebuilds++;
      }
      if (rebuilds % 2) await carryOut(planNode([first], await listFound(first.target.netns)).actions[0]);
      const rebuildMs = Date.now() - rebuildsStarted;
      const [sender] = await sending.done;
      assert.ok(rebuilds >= 10, `only ${rebuilds} rebuilds happened while a was sending`);
      await sleep(200);
      recv.stop();
      const [{ received }] = await recv.done;
      console.log(`spec change: ${rebuilds} rebuilds in ${rebuildMs} ms while a sent ${JSON.stringify(sender)}; b received ${received}`);
      assert.equal(received, 0, 'no datagram to the faulted port got through a rebuild');
      const found = await listFound(first.target.netns);
      assert.deepEqual(found.map((f) => f.specHash), [specHash(first)]);
      assert.deepEqual(await once(A, ['connects', B.ip, 8080, 2, 300], 5_000), { ok: 2, failed: 0 }, 'the first spec leaves TCP 8080 alone');
      await carryOut(planNode([second], found).actions[0]);
      assert.deepEqual(await once(A, ['connects', B.ip, 8080, 2, 100], 5_000), { ok: 0, failed: 2 }, 'the second spec cuts TCP 8080');
    } finally {
      await revertIn(first.target.netns, first.id);
      await stop();
    }
  });

  it('a table whose skeleton another version made (input hooked at priority 0) is rebuilt whole', { ...skip, timeout: 20_000 }, async () => {
    const w = fault('older', B, 'ingress', { partition: {} }, 30, [{ cidr: `${A.ip}/32` }]);
    await applyIn(w.target.netns, `table inet chaosrun_${w.id} {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n`);
    try {
      await assert.rejects(applyIn(w.target.netns, renderTable(w)), /chain input \{\): the table already has it with another type, hook or priority$/);
      const plan = planNode([w], await listFound(w.target.netns));
      assert.deepEqual(plan.actions.map((a) => a.kind === 'apply' && a.reason), ['changed']);
      await carryOut(plan.actions[0]);
      assert.deepEqual((await listFound(w.target.netns)).map((f) => f.specHash), [specHash(w)]);
      assert.match(nftText(B, 'list', 'chain', 'inet', `chaosrun_${w.id}`, 'input'), /type filter hook input priority filter - 10; policy accept;/);
    } finally { await revertIn(w.target.netns, w.id); }
  });

  it('listFound round trip: the hash and a plausible lease come back; a restarted agent changes nothing; only our table is touched', { ...skip, timeout: 20_000 }, async () => {
    const keep = 'table inet keepme {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n';
    await applyIn(netnsPath(B), keep);
    const w = fault('trip', B, 'ingress', { bandwidth: { rate: '500kbit' } }, 30, [{ cidr: `${A.ip}/32`, ports: [80, 443] }, { cidr: '198.18.251.0/30' }]);
    try {
      const first = planNode([w], await listFound(w.target.netns));
      assert.deepEqual(first.actions.map((a) => a.kind), ['apply']);
      for (const a of first.actions) await carryOut(a);
      const found = await listFound(w.target.netns);
      assert.equal(found.length, 1);
      assert.equal(found[0].specHash, specHash(w));
      assert.equal(found[0].run, 'chaos/lease-test');
      const lease = found[0].leaseExpiresInMs ?? -1;
      console.log(`round trip: listFound ${JSON.stringify(found[0])}`);
      assert.ok(lease >= 28_000 && lease <= 30_000, `lease read back ${lease} ms of 30000`);
      // A new agent process sees the same node: nothing to apply, nothing to renew yet.
      const restarted = planNode([w], found);
      assert.deepEqual(restarted.actions, []);
      assert.ok(restarted.wakeInMs !== undefined && restarted.wakeInMs > 7_000 && restarted.wakeInMs <= 10_000, `wakes in ${restarted.wakeInMs}`);
      // Nothing wanted: the one table goes, the foreign one stays.
      const plan = planNode([], found);
      assert.deepEqual(plan.actions, [{ kind: 'revert', netns: w.target.netns, id: w.id, reason: 'not-wanted' }]);
      for (const a of plan.actions) await carryOut(a);
      assert.deepEqual(chaosrunTables(B), []);
      assert.match(nftText(B, 'list', 'tables'), /^table inet keepme$/m);
      assert.deepEqual(await listFound(w.target.netns), []);
    } finally {
      await revertIn(w.target.netns, w.id);
      nftText(B, 'delete', 'table', 'inet', 'keepme');
    }
  });
});
