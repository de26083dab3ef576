// The nft scripts, the error lines and the read-back, pure: no nft runs here (test/agent/nft-lease.test.ts
// proves the same scripts in real network namespaces).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeNftFailure, describeQueueRuleFailure, foundFromRuleset, pendingComment, queueRuleArgs, recreateScript, renderTable, renewScript,
  revertScript, ruleComment, tableComment,
} from './nft.ts';
import { queueNumber, specHash, type Direction, type FaultAction, type Peer } from './fault.ts';
import { mkFault } from '../../test/agent/fault-fixture.ts';

describe('renderTable', () => {
  it('partition, both directions, every address: the skeleton where missing, then its content replaced, in one script', () => {
    const w = mkFault();
    const c = `comment "chaosrun hash=${specHash(w)} run=chaos/run-a step=cut-db"`;
    assert.equal(renderTable(w), [
      'table inet chaosrun_f1 {',
      '\tcomment "chaosrun fault=f1 run=chaos/run-a step=cut-db"',
      '\tset lease {',
      '\t\ttype ipv4_addr',
      '\t\tflags interval, timeout',
      '\t}',
      '\tchain input {',
      '\t\ttype filter hook input priority filter - 10; policy accept;',
      '\t}',
      '\tchain output {',
      '\t\ttype filter hook output priority filter - 10; policy accept;',
      '\t}',
      '\tchain ingress_fault {',
      '\t}',
      '\tchain egress_fault {',
      '\t}',
      '}',
      'flush chain inet chaosrun_f1 input',
      'flush chain inet chaosrun_f1 ingress_fault',
      'flush chain inet chaosrun_f1 output',
      'flush chain inet chaosrun_f1 egress_fault',
      'flush set inet chaosrun_f1 lease',
      'add element inet chaosrun_f1 lease { 0.0.0.0/0 timeout 30s }',
      `add rule inet chaosrun_f1 input iifname != "lo" ip saddr @lease goto ingress_fault ${c}`,
      `add rule inet chaosrun_f1 ingress_fault drop ${c}`,
      `add rule inet chaosrun_f1 output oifname != "lo" ip daddr @lease goto egress_fault ${c}`,
      `add rule inet chaosrun_f1 egress_fault drop ${c}`,
      '',
    ].join('\n'));
  });

  it('recreateScript deletes the table and defines it again, in the same one script', () => {
    const w = mkFault({ direction: 'egress' });
    assert.equal(recreateScript(w), `table inet chaosrun_f1 {}\ndelete table inet chaosrun_f1\n${renderTable(w)}`);
  });

  const actions: Array<[string, FaultAction, string]> = [
    ['partition', { partition: {} }, 'drop'],
    ['loss 30%', { loss: { percent: 30 } }, 'numgen random mod 100 < 30 drop'],
    ['loss 0.25%', { loss: { percent: 0.25 } }, 'numgen random mod 10000 < 25 drop'],
    ['loss 100%', { loss: { percent: 100 } }, 'numgen random mod 100 < 100 drop'],
    ['bandwidth 1mbit', { bandwidth: { rate: '1mbit' } }, 'limit rate over 125000 bytes/second drop'],
    ['bandwidth 10mbps (bytes)', { bandwidth: { rate: '10mbps' } }, 'limit rate over 10000000 bytes/second drop'],
  ];
  const peers: Array<[string, Peer[] | undefined, { in: string[]; out: string[] }, string]> = [
    ['every address', undefined,
      { in: ['ip saddr @lease goto'], out: ['ip daddr @lease goto'] }, '0.0.0.0/0 timeout 30s'],
    ['one peer, no ports', [{ cidr: '198.18.251.2' }],
      { in: ['ip saddr @lease goto'], out: ['ip daddr @lease goto'] }, '198.18.251.2 timeout 30s'],
    ['one peer, one port', [{ cidr: '10.0.0.0/8', ports: [5432] }],
      { in: ['ip saddr @lease meta l4proto { tcp, udp, sctp } th sport 5432 goto'], out: ['ip daddr @lease meta l4proto { tcp, udp, sctp } th dport 5432 goto'] },
      '10.0.0.0/8 timeout 30s'],
    ['peers sharing ports', [{ cidr: '10.0.0.0/8', ports: [443, 80] }, { cidr: '192.168.1.5', ports: [80, 443] }],
      { in: ['ip saddr @lease meta l4proto { tcp, udp, sctp } th sport { 80, 443 } goto'], out: ['ip daddr @lease meta l4proto { tcp, udp, sctp } th dport { 80, 443 } goto'] },
      '10.0.0.0/8 timeout 30s, 192.168.1.5 timeout 30s'],
    ['peers with different ports: one rule each, the peer named', [{ cidr: '10.0.0.0/8', ports: [80] }, { cidr: '192.168.0.0/16' }, { cidr: '172.16.0.0/12', ports: [80] }],
      {
        in: ['ip saddr @lease ip saddr 192.168.0.0/16 goto', 'ip saddr @lease ip saddr { 10.0.0.0/8, 172.16.0.0/12 } meta l4proto { tcp, udp, sctp } th sport 80 goto'],
        out: ['ip daddr @lease ip daddr 192.168.0.0/16 goto', 'ip daddr @lease ip daddr { 10.0.0.0/8, 172.16.0.0/12 } meta l4proto { tcp, udp, sctp } th dport 80 goto'],
      }, '10.0.0.0/8 timeout 30s, 172.16.0.0/12 timeout 30s, 192.168.0.0/16 timeout 30s'],
  ];
  const directions: Direction[] = ['ingress', 'egress', 'both'];
  const skeleton = renderTable(mkFault()).split('\n').slice(0, 22).join('\n');

  for (const [actionName, action, verdict] of actions) {
    for (const [peerName, to, rules, elements] of peers) {
      for (const direction of directions) {
        it(`${actionName}, ${direction}, ${peerName}`, () => {
          const w = mkFault({ action, direction, ...(to ? { to } : {}) });
          const script = renderTable(w);
          // The same skeleton and flushes whatever the fault: a change of any kind only changes rules.
          assert.ok(script.startsWith(`${skeleton}\n`), script);
          assert.ok(script.includes(`\nadd element inet chaosrun_f1 lease { ${elements} }\n`), script);
          const comment = ` comment "chaosrun hash=${specHash(w)} run=chaos/run-a step=cut-db"`;
          const rulesOf = (chain: string) => script.split('\n').filter((l) => l.startsWith(`add rule inet chaosrun_f1 ${chain} `))
            .map((l) => { assert.ok(l.endsWith(comment), l); return l.slice(`add rule inet chaosrun_f1 ${chain} `.length, -comment.length); });
          const ingress = direction !== 'egress';
          const egress = direction !== 'ingress';
          assert.deepEqual(rulesOf('input'), ingress ? rules.in.map((r) => `iifname != "lo" ${r} ingress_fault`) : []);
          assert.deepEqual(rulesOf('ingress_fault'), ingress ? [verdict] : []);
          assert.deepEqual(rulesOf('output'), egress ? rules.out.map((r) => `oifname != "lo" ${r} egress_fault`) : []);
          assert.deepEqual(rulesOf('egress_fault'), egress ? [verdict] : []);
          // Nothing but our one table is named anywhere in the script.
          assert.deepEqual([...new Set(script.match(/(?:table|chain|set|element|rule) inet \S+/g)!.map((m) => m.split(' ')[2]))], ['chaosrun_f1']);
        });
      }
    }
  }

  it('delay, ingress: the input rule as for any fault, and in its fault chain a placeholder whose comment is not the hash', () => {
    const w = mkFault({ direction: 'ingress', action: { delay: { latency: '100ms', jitter: '10ms' } }, to: [{ cidr: '198.18.252.1' }] });
    const rules = renderTable(w).split('\n').filter((l) => l.startsWith('add rule '));
    assert.deepEqual(rules, [
      `add rule inet chaosrun_f1 input iifname != "lo" ip saddr @lease goto ingress_fault comment "${ruleComment(w)}"`,
      'add rule inet chaosrun_f1 ingress_fault counter comment "chaosrun queue-pending run=chaos/run-a step=cut-db"',
    ]);
    assert.equal(pendingComment(w), 'chaosrun queue-pending run=chaos/run-a step=cut-db');
    assert.ok(renderTable(w).startsWith(`${skeleton}\n`));
    assert.throws(() => renderTable({ ...w, direction: 'both' }), /delay holds packets where they arrive/);
  });

  it('queueRuleArgs: the helper writes the fault chain\'s rule to the fault\'s queue, with the hash comment', () => {
    const w = mkFault({ direction: 'ingress', action: { delay: { latency: '100ms' } } });
    assert.deepEqual(queueRuleArgs(w), ['queue-rule', '--table', 'chaosrun_f1', '--chain', 'ingress_fault', '--queue', String(queueNumber('f1')), '--comment', ruleComment(w)]);
  });

  it('the comments lead with what identifies them, keep only characters nft can hold and fit in 128', () => {
    const w = mkFault({ run: { namespace: 'n'.repeat(63), name: 'r'.repeat(200) }, step: 'say "hi"; drop' });
    assert.equal(ruleComment(w).length, 128);
    assert.ok(ruleComment(w).startsWith(`chaosrun hash=${specHash(w)} run=${'n'.repeat(63)}/rrr`));
    assert.equal(tableComment(w).length, 128);
    assert.ok(tableComment(w).startsWith(`chaosrun fault=f1 run=${'n'.repeat(63)}/rrr`));
    assert.equal(ruleComment(mkFault({ step: 'say "hi"; drop' })).endsWith('step=say__hi___drop'), true);
  });

  it('refuses an invalid fault instead of rendering it', () => {
    assert.throws(() => renderTable(mkFault({ id: 'Bad' })), /invalid fault id "Bad"/);
    assert.throws(() => renewScript(mkFault({ action: { loss: { percent: 0 } } })), /invalid loss percent 0/);
  });
});

describe('renewScript and revertScript', () => {
  it('renewal: flush the lease and add every element with a fresh timeout, in one transaction', () => {
    assert.equal(renewScript(mkFault({ leaseSeconds: 4, to: [{ cidr: '10.0.0.0/8', ports: [80] }, { cidr: '10.1.0.0/16' }, { cidr: '192.168.0.1' }] })),
      'flush set inet chaosrun_f1 lease\nadd element inet chaosrun_f1 lease { 10.0.0.0/8 timeout 4s, 192.168.0.1 timeout 4s }\n');
  });
  it('revert: delete the one table, succeeding when it is already gone', () => {
    assert.equal(revertScript('f1'), 'table inet chaosrun_f1 {}\ndelete table inet chaosrun_f1\n');
    assert.throws(() => revertScript('x; flush ruleset'), /invalid fault id/);
  });
});

describe('describeNftFailure', () => {
  const ns = '/proc/42/ns/net';
  const err = (stderr: string) => { const e = describeNftFailure(ns, stderr); return [e.reason, e.message]; };

  it('a missing table (renewal after the table went away) is no-table, without nft suggesting another table', () => {
    assert.deepEqual(err('/dev/stdin:1:16-28: Error: No such file or directory; did you mean table ‘chaosrun_t1’ in family inet?\nflush set inet chaosrun_nope lease\n               ^^^^^^^^^^^^^\n'),
      ['no-table', `nft in netns ${ns}: No such file or directory (in: flush set inet chaosrun_nope lease): the fault's table is not there`]);
  });
  it('names the kernel feature a refused line needs', () => {
    const refused = (line: string) => err(`/dev/stdin:18:3-40: Error: Could not process rule: No such file or directory\n${line}\n  ^^^^^^^^\n`);
    assert.deepEqual(refused('\t\tnumgen random mod 100 < 30 drop'),
      ['missing-feature', `nft in netns ${ns}: Could not process rule: No such file or directory (in: numgen random mod 100 < 30 drop): this kernel lacks the numgen expression (module nft_numgen, CONFIG_NFT_NUMGEN), which loss needs`]);
    assert.match(refused('\t\tlimit rate over 125000 bytes/second drop')[1], /lacks the limit expression \(module nft_limit, CONFIG_NFT_LIMIT\), which bandwidth needs$/);
    assert.match(err('/dev/stdin:9:3-40: Error: Could not process rule: Operation not supported\n\t\telements = { 0.0.0.0/0 timeout 30s }\n')[1],
      /lacks interval sets with timeouts \(module nft_set_rbtree, CONFIG_NF_TABLES_SET\), which every lease needs$/);
    assert.deepEqual(refused('\t\tiifname != "lo" ip saddr @lease goto ingress_fault')[0], 'missing-feature');
  });
  it('an existing chain with another hook or priority is said so, not blamed on the kernel', () => {
    assert.deepEqual(err('/dev/stdin:7:8-12: Error: Could not process rule: Operation not supported\n\tchain input {\n\t      ^^^^^\n'),
      ['failed', `nft in netns ${ns}: Could not process rule: Operation not supported (in: chain input {): the table already has it with another type, hook or priority`]);
  });
  it('a namespace that is gone, no permission, no nft, or a syntax error: one line each', () => {
    assert.deepEqual(err('nsenter: cannot open /proc/42/ns/net: No such file or directory\n'),
      ['netns-gone', `nft in netns ${ns}: the network namespace is gone (nsenter: cannot open /proc/42/ns/net: No such file or directory)`]);
    assert.equal(err("nsenter: reassociate to namespace 'ns/net' failed: Operation not permitted\n")[0], 'not-permitted');
    assert.equal(err('nsenter: failed to execute nft: No such file or directory\n')[0], 'not-installed');
    assert.deepEqual(err('Error: Could not process rule: Operation not permitted\nadd table inet chaosrun_f1\n'),
      ['not-permitted', `nft in netns ${ns}: Could not process rule: Operation not permitted (in: add table inet chaosrun_f1): needs CAP_NET_ADMIN`]);
    assert.deepEqual(err('/dev/stdin:1:39-42: Error: syntax error, unexpected drop\nadd rule inet chaosrun_f1 input blah drop\n                                      ^^^^\n'),
      ['failed', `nft in netns ${ns}: syntax error, unexpected drop (in: add rule inet chaosrun_f1 input blah drop)`]);
    assert.deepEqual(err(''), ['failed', `nft in netns ${ns}: nft failed without a message`]);
    for (const [, message] of [err('a\nb\nError: x\ny\n'), err('nsenter: odd\n')]) assert.doesNotMatch(message, /\n/);
  });
});

describe('describeQueueRuleFailure', () => {
  const ns = '/proc/42/ns/net';
  const err = (stderr: string) => { const e = describeQueueRuleFailure(ns, stderr, '/opt/chaosrun-delayer'); return [e.reason, e.message]; };
  it('one line each: a kernel without either queue verdict, no table, no delayer, a namespace that is gone', () => {
    assert.deepEqual(err('chaosrun-delayer queue-rule: this kernel lacks both nft\'s queue expression (nft_queue, CONFIG_NFT_QUEUE) and the xtables NFQUEUE target (...), which delay needs\n'),
      ['missing-feature', `the queue rule in netns ${ns}: this kernel lacks both nft's queue expression (nft_queue, CONFIG_NFT_QUEUE) and the xtables NFQUEUE target (...), which delay needs`]);
    assert.equal(err('chaosrun-delayer queue-rule: table inet chaosrun_f1 has no chain ingress_fault (x)\n')[0], 'no-table');
    assert.deepEqual(err('nsenter: failed to execute /opt/chaosrun-delayer: No such file or directory\n'),
      ['not-installed', `the queue rule in netns ${ns}: /opt/chaosrun-delayer is not installed (nsenter: failed to execute /opt/chaosrun-delayer: No such file or directory); set CHAOSRUN_DELAYER or --delayer`]);
    assert.equal(err('nsenter: cannot open /proc/42/ns/net: No such file or directory\n')[0], 'netns-gone');
    assert.deepEqual(err(''), ['failed', `the queue rule in netns ${ns}: chaosrun-delayer queue-rule failed without a message`]);
  });
});

describe('foundFromRuleset', () => {
  // `nft -j list ruleset` from nft 1.0.6 in a namespace holding two faults, a foreign table, a table
  // with our prefix and an id we never make, and an ip-family table (chains and rule expressions left out).
  const c3 = 'chaosrun hash=c396e1577d010455 run=chaos/run-a step=cut-db';
  const c1 = 'chaosrun hash=ffb492c7bd35361b run=chaos/run-b step=slow';
  const rule = (table: string, chain: string, comment?: string) =>
    ({ rule: { family: 'inet', table, chain, handle: 9, ...(comment === undefined ? {} : { comment }), expr: [{ drop: null }] } });
  const ruleset = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'chaosrun_f3', handle: 6 } },
    { set: { family: 'inet', name: 'lease', table: 'chaosrun_f3', type: 'ipv4_addr', handle: 3, flags: ['interval', 'timeout'],
      elem: [{ elem: { val: '10.1.2.3', timeout: 30, expires: 16 } }] } },
    rule('chaosrun_f3', 'input', c3), rule('chaosrun_f3', 'ingress_fault', c3),
    { table: { family: 'inet', name: 'chaosrun_f1', handle: 7 } },
    { set: { family: 'inet', name: 'lease', table: 'chaosrun_f1', type: 'ipv4_addr', handle: 5, flags: ['interval', 'timeout'],
      elem: [
        { elem: { val: { prefix: { addr: '10.0.0.0', len: 8 } }, timeout: 30, expires: 16 } },
        { elem: { val: { prefix: { addr: '172.16.0.0', len: 12 } }, timeout: 30, expires: 15 } },
      ] } },
    rule('chaosrun_f1', 'output', c1), rule('chaosrun_f1', 'egress_fault', c1),
    { table: { family: 'inet', name: 'other', handle: 9 } },
    { set: { family: 'inet', name: 'lease', table: 'other', type: 'ipv4_addr', handle: 1, flags: ['interval'], elem: ['1.2.3.4'] } },
    rule('other', 'input', c1),
    { table: { family: 'inet', name: 'chaosrun_BAD', handle: 10 } },
    { table: { family: 'ip', name: 'chaosrun_ipfam', handle: 11 } },
  ] });

  it('reads back our tables only, with hash, run and step from the rules and the least time left', () => {
    assert.deepEqual(foundFromRuleset('/n', ruleset), [
      { id: 'f1', netns: '/n', specHash: 'ffb492c7bd35361b', run: 'chaos/run-b', step: 'slow', leaseExpiresInMs: 15_000 },
      { id: 'f3', netns: '/n', specHash: 'c396e1577d010455', run: 'chaos/run-a', step: 'cut-db', leaseExpiresInMs: 16_000 },
    ]);
  });
  const doc = (extra: object[]) => JSON.stringify({ nftables: [{ table: { family: 'inet', name: 'chaosrun_a' } }, ...extra] });
  const lease = (elem?: unknown[]) => ({ set: { family: 'inet', name: 'lease', table: 'chaosrun_a', ...(elem ? { elem } : {}) } });
  it('an expired lease (no elements listed) reads 0; no lease set, or an element without a timeout, reads no lease', () => {
    assert.deepEqual(foundFromRuleset('/n', doc([lease(), rule('chaosrun_a', 'input', 'chaosrun hash=0123456789abcdef run=a/b step=c')])),
      [{ id: 'a', netns: '/n', specHash: '0123456789abcdef', run: 'a/b', step: 'c', leaseExpiresInMs: 0 }]);
    assert.deepEqual(foundFromRuleset('/n', doc([])), [{ id: 'a', netns: '/n', specHash: '' }]);
    assert.deepEqual(foundFromRuleset('/n', doc([lease(['1.2.3.4'])])), [{ id: 'a', netns: '/n', specHash: '' }]);
    assert.deepEqual(foundFromRuleset('/n', doc([lease([{ elem: { val: '1.2.3.4', timeout: 4 } }])])),
      [{ id: 'a', netns: '/n', specHash: '', leaseExpiresInMs: 0 }]);
  });
  it('rules that disagree, or one without our comment, read no hash (the fault is rebuilt)', () => {
    const h = (comments: Array<string | undefined>) => foundFromRuleset('/n', doc([lease(), ...comments.map((c) => rule('chaosrun_a', 'input', c))]))[0].specHash;
    assert.equal(h(['chaosrun hash=0123456789abcdef', 'chaosrun hash=0123456789abcdef']), '0123456789abcdef');
    assert.equal(h(['chaosrun hash=0123456789abcdef', 'chaosrun hash=fedcba9876543210']), '');
    assert.equal(h(['chaosrun hash=0123456789abcdef', undefined]), '');
    assert.equal(h(['hash=0123456789abcdef']), '');
  });
  it('a delay reads back whole only once the helper\'s queue rule (nft lists it as xt) has replaced the placeholder', () => {
    const hash = 'chaosrun hash=0123456789abcdef run=a/b step=c';
    const xt = { rule: { family: 'inet', table: 'chaosrun_a', chain: 'ingress_fault', handle: 4, comment: hash, expr: [{ xt: { type: 'target', name: 'NFQUEUE' } }] } };
    assert.equal(foundFromRuleset('/n', doc([lease(), rule('chaosrun_a', 'input', hash), rule('chaosrun_a', 'ingress_fault', 'chaosrun queue-pending run=a/b step=c')]))[0].specHash, '');
    assert.equal(foundFromRuleset('/n', doc([lease(), rule('chaosrun_a', 'input', hash), xt]))[0].specHash, '0123456789abcdef');
  });
  it('unreadable output is one line', () => {
    assert.throws(() => foundFromRuleset('/n', 'nope'), /^NftError: nft in netns \/n: unreadable JSON from nft -j list ruleset$/);
    assert.deepEqual(foundFromRuleset('/n', '{}'), []);
  });
});
