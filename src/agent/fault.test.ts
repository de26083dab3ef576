// The fault contract's pure helpers: rates, CIDRs, peer groups, validation and the spec hash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  idOfTable, leaseElements, normalAction, parseCidr, parseLatency, parseRate, peerGroups, queueNumber, specHash, tableName, validateFault, type WantedFault,
} from './fault.ts';
import { mkFault as fault } from '../../test/agent/fault-fixture.ts';

describe('parseRate', () => {
  it('reads tc units to bytes per second: bits, bytes (bps), SI and IEC prefixes', () => {
    assert.equal(parseRate('1mbit'), 125_000);
    assert.equal(parseRate('500kbit'), 62_500);
    assert.equal(parseRate('10mbps'), 10_000_000);
    assert.equal(parseRate('1.5Mbit'), 187_500);
    assert.equal(parseRate('8kibit'), 1024);
    assert.equal(parseRate('2gbit'), 250_000_000);
    assert.equal(parseRate('64000bit'), 8000);
  });
  it('says what is wrong in one line', () => {
    assert.throws(() => parseRate('1mb'), /invalid rate "1mb": unknown unit "mb"; mbit for bits or mbps for bytes per second/);
    assert.throws(() => parseRate('fast'), /invalid rate "fast": use a number with a unit, like 1mbit/);
    assert.throws(() => parseRate('1'), /use a number with a unit/);
    assert.throws(() => parseRate('1kbit'), /at least 8kbit/);
    assert.throws(() => parseRate('-1mbit'), /use a number with a unit/);
    assert.throws(() => parseRate(undefined as unknown as string), /invalid rate undefined/);
  });
});

describe('latencies and queues', () => {
  it('parseLatency reads us, ms and s to whole microseconds', () => {
    assert.equal(parseLatency('100ms'), 100_000);
    assert.equal(parseLatency('1.5s'), 1_500_000);
    assert.equal(parseLatency('500us'), 500);
    assert.equal(parseLatency('0.25ms'), 250);
    assert.equal(parseLatency('0ms', 'jitter'), 0);
    assert.throws(() => parseLatency('100'), /invalid latency "100": use a number with a unit, like 100ms, 1.5s or 500us/);
    assert.throws(() => parseLatency('1m'), /invalid latency "1m"/);
    assert.throws(() => parseLatency('0.0001ms', 'jitter'), /invalid jitter "0.0001ms": at most microsecond precision/);
    assert.throws(() => parseLatency(undefined as unknown as string), /invalid latency undefined/);
  });
  it('a delay in normal form: 100ms and 0.1s are one spec; latency 1ms..10s, jitter at most the latency', () => {
    assert.deepEqual(normalAction({ delay: { latency: '100ms', jitter: '10ms' } }), { kind: 'delay', latencyUs: 100_000, jitterUs: 10_000 });
    assert.deepEqual(normalAction({ delay: { latency: '0.1s' } }), { kind: 'delay', latencyUs: 100_000, jitterUs: 0 });
    assert.throws(() => normalAction({ delay: { latency: '500us' } }), /invalid latency "500us": use 1ms to 10s/);
    assert.throws(() => normalAction({ delay: { latency: '11s' } }), /use 1ms to 10s/);
    assert.throws(() => normalAction({ delay: { latency: '10ms', jitter: '20ms' } }), /invalid jitter "20ms": at most the latency \(10ms\)/);
  });
  it('queueNumber: one per id, in 1000..64999, the same every time', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
    const qs = ids.map(queueNumber);
    assert.ok(qs.every((q) => Number.isInteger(q) && q >= 1000 && q <= 64_999), String(qs.find((q) => q < 1000 || q > 64_999)));
    assert.deepEqual(ids.map(queueNumber), qs);
    assert.ok(new Set(qs).size > 490, 'spread over the range');
  });
});

describe('CIDRs', () => {
  it('parses addresses and prefixes, refusing host bits and IPv6', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { addr: 0x0a000000, len: 8 });
    assert.deepEqual(parseCidr('198.18.251.2'), { addr: 0xc612fb02, len: 32 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { addr: 0, len: 0 });
    assert.throws(() => parseCidr('198.18.251.1/30'), /host bits are set; did you mean 198.18.251.0\/30\?/);
    assert.throws(() => parseCidr('fd00::/8'), /IPv6 is not supported yet/);
    assert.throws(() => parseCidr('256.1.1.1'), /invalid cidr/);
    assert.throws(() => parseCidr('1.1.1.1/33'), /invalid cidr/);
  });
  it('the lease holds every peer once, without those another one contains (nft refuses overlaps)', () => {
    assert.deepEqual(leaseElements(undefined), ['0.0.0.0/0']);
    assert.deepEqual(leaseElements([{ cidr: '10.1.0.0/16' }, { cidr: '192.168.1.5' }, { cidr: '10.0.0.0/8', ports: [80] }, { cidr: '192.168.1.5' }]),
      ['10.0.0.0/8', '192.168.1.5']);
    assert.deepEqual(leaseElements([{ cidr: '10.0.0.0/25' }, { cidr: '10.0.0.128/25' }]), ['10.0.0.0/25', '10.0.0.128/25']);
  });
  it('groups peers by port list, every-port group first, ports sorted and unique', () => {
    assert.deepEqual(peerGroups([{ cidr: '10.0.0.0/8', ports: [443, 80, 80] }, { cidr: '192.168.0.0/16' }, { cidr: '172.16.0.0/12', ports: [80, 443] }]), [
      { cidrs: ['192.168.0.0/16'] },
      { cidrs: ['10.0.0.0/8', '172.16.0.0/12'], ports: [80, 443] },
    ]);
  });
});

describe('tags', () => {
  it('table names carry the id; only valid ids are ours', () => {
    assert.equal(tableName('a1-b2'), 'chaosrun_a1-b2');
    assert.equal(idOfTable('chaosrun_a1-b2'), 'a1-b2');
    assert.equal(idOfTable('chaosrun_'), undefined);
    assert.equal(idOfTable('chaosrun_A'), undefined);
    assert.equal(idOfTable('filter'), undefined);
    assert.equal(idOfTable('xchaosrun_a'), undefined);
    assert.throws(() => tableName('Bad_Id'), /invalid fault id "Bad_Id"/);
  });
});

describe('validateFault', () => {
  it('accepts a whole fault', () => assert.equal(validateFault(fault()), undefined));
  it('accepts a delay on ingress', () => assert.equal(validateFault(fault({ direction: 'ingress', action: { delay: { latency: '100ms', jitter: '10ms' } } })), undefined));
  const cases: Array<[string, Partial<WantedFault>, RegExp]> = [
    ['bad id', { id: 'x_y' }, /invalid fault id "x_y"/],
    ['relative netns', { target: { namespace: 'a', pod: 'p', podUid: 'u', netns: 'ns/net' } }, /netns must be an absolute path/],
    ['bad direction', { direction: 'up' as 'both' }, /invalid direction "up"/],
    ['short lease', { leaseSeconds: 1 }, /leaseSeconds must be a whole number from 2 to 3600, got 1/],
    ['empty to', { to: [] }, /to is empty; leave it out/],
    ['empty ports', { to: [{ cidr: '10.0.0.0/8', ports: [] }] }, /ports of 10.0.0.0\/8 is empty/],
    ['bad port', { to: [{ cidr: '10.0.0.0/8', ports: [0] }] }, /invalid port 0 for 10.0.0.0\/8/],
    ['bad cidr', { to: [{ cidr: '10.0.0.1/8' }] }, /fault f1: invalid cidr "10.0.0.1\/8": host bits/],
    ['loss 0', { action: { loss: { percent: 0 } } }, /invalid loss percent 0/],
    ['loss 101', { action: { loss: { percent: 101 } } }, /invalid loss percent 101/],
    ['loss 3 decimals', { action: { loss: { percent: 1.234 } } }, /two decimals at most/],
    ['bad rate', { action: { bandwidth: { rate: '1mb' } } }, /fault f1: invalid rate "1mb"/],
    ['two actions', { action: { partition: {}, loss: { percent: 1 } } as unknown as WantedFault['action'] }, /exactly one of partition, loss, bandwidth, delay/],
    ['unknown action', { action: { corrupt: {} } as unknown as WantedFault['action'] }, /unknown action "corrupt": use partition, loss, bandwidth or delay/],
    ['delay without a latency', { direction: 'ingress', action: { delay: {} } as unknown as WantedFault['action'] }, /fault f1: invalid latency undefined/],
    ['delay on egress', { direction: 'egress', action: { delay: { latency: '100ms' } } }, /fault f1: delay holds packets where they arrive, so it takes direction ingress, got egress/],
    ['delay on both', { action: { delay: { latency: '100ms' } } }, /takes direction ingress, got both/],
  ];
  for (const [name, over, re] of cases) it(`refuses ${name}`, () => assert.match(validateFault(fault(over)) ?? '', re));
});

describe('specHash', () => {
  it('is the same for the same rules written differently', () => {
    const a = fault({ to: [{ cidr: '10.0.0.0/8', ports: [80, 443] }, { cidr: '192.168.0.1' }], action: { bandwidth: { rate: '1mbit' } } });
    const b = fault({ to: [{ cidr: '192.168.0.1/32' }, { cidr: '10.0.0.0/8', ports: [443, 80] }], action: { bandwidth: { rate: '1000kbit' } } });
    assert.equal(specHash(a), specHash(b));
    assert.match(specHash(a), /^[0-9a-f]{16}$/);
  });
  it('ignores the lease and where the table lives', () => {
    assert.equal(specHash(fault()), specHash(fault({ leaseSeconds: 5, target: { namespace: 'x', pod: 'y', podUid: 'z', netns: '/proc/1/ns/net' } })));
  });
  it('changes with anything the table is made of', () => {
    const base = specHash(fault());
    for (const over of [
      { id: 'f2' }, { step: 'other' }, { run: { namespace: 'chaos', name: 'run-b' } }, { direction: 'egress' as const },
      { to: [{ cidr: '10.0.0.0/8' }] }, { action: { loss: { percent: 30 } } },
    ]) assert.notEqual(specHash(fault(over)), base, JSON.stringify(over));
  });
  it('a delay\'s hash follows its latency and jitter in normal form', () => {
    const d = (latency: string, jitter?: string) => specHash(fault({ direction: 'ingress', action: { delay: { latency, ...(jitter ? { jitter } : {}) } } }));
    assert.equal(d('100ms'), d('0.1s'));
    assert.equal(d('100ms'), d('100ms', '0ms'));
    assert.notEqual(d('100ms'), d('101ms'));
    assert.notEqual(d('100ms'), d('100ms', '1ms'));
  });
});
