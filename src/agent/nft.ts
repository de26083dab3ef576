// The nftables lease applier: a wanted network fault as an `nft -f` script (pure), and the node-side
// calls that run nft inside a pod's network namespace (`nsenter --net=<path> nft ...`, no shell).
//
// Invariants:
// - Only tables named chaosrun_<id> (a valid id) are created, renewed, listed or deleted: every script
//   names its one table; nothing is ever addressed by position or handle, nothing else is flushed.
// - The kernel ends the fault: every rule matches only addresses in the set `lease`, whose elements
//   carry `timeout <lease>s`. If no process of ours renews them, they expire and the rules match
//   nothing (the empty table stays until it is reverted, or until the namespace goes with its pod).
// - Every script is one nft transaction (one `nft -f`), so a fault is created, replaced, renewed and
//   removed atomically: no packet ever sees half a fault, or no fault in the middle of a change.
//
// The table, for `partition`, direction both, to 10.0.0.0/8 port 80:
//   table inet chaosrun_<id> {}          create it if missing, so that...
//   delete table inet chaosrun_<id>      ...this delete always succeeds (nft 1.0.6 has no `destroy`)
//   table inet chaosrun_<id> {           the whole definition
//     comment "chaosrun hash=<specHash> run=<ns>/<name> step=<step>"
//     set lease { type ipv4_addr; flags interval, timeout; comment "<same>"; elements = { 10.0.0.0/8 timeout 30s } }
//     chain input  { type filter hook input  priority filter - 10; policy accept;
//                    iifname != "lo" ip saddr @lease meta l4proto { tcp, udp, sctp } th sport 80 goto ingress_fault }
//     chain ingress_fault { drop }
//     chain output { ... oifname != "lo" ip daddr @lease ... th dport 80 goto egress_fault }
//     chain egress_fault { drop }
//   }
// The comment is on the set as well because nft 1.0.6's JSON listing omits table comments; that is
// where listFound reads the hash back. Loopback is never matched: a fault cuts the pod off its peers,
// not from itself. Peers with different port lists get one rule each, all going (goto, not jump) to the
// one fault chain of their direction: a packet meets the fault at most once (a loss is not compounded),
// and a bandwidth limit is one bucket per direction.
//
// Priority filter - 10 (-10): after conntrack (-200) and the namespace's own DNAT (-100), so the rules
// see the addresses packets really carry; before the usual filter chains (0, iptables-nft's included),
// so a pod's own counters, logs or rate limits do not count packets the fault drops.
//
// Bandwidth is a policer (`limit rate over <bytes>/second drop`), not a shaper: excess packets are
// dropped and TCP backs off. The kernel's bucket for a byte limit holds one second of the rate, so a
// flow that starts idle gets up to one second's worth at once.
import { execFile } from 'node:child_process';
import {
  idOfTable, leaseElements, normalAction, peerGroups, specHash, tableName, validateFault,
  type FoundFault, type NormalAction, type WantedFault,
} from './fault.ts';
import type { AgentAction } from './plan.ts';

/** nft's limit for a comment. */
const COMMENT_MAX = 128;
const PRIORITY = 'filter - 10';

/** The comment on the table and its lease set: the hash first, so a cut run or step never loses it. */
export function tableComment(w: WantedFault): string {
  const clean = (s: string) => String(s).replace(/[^A-Za-z0-9._/=-]/g, '_');
  return `chaosrun hash=${specHash(w)} run=${clean(w.run.namespace)}/${clean(w.run.name)} step=${clean(w.step)}`.slice(0, COMMENT_MAX);
}

const elements = (w: WantedFault) => `{ ${leaseElements(w.to).map((e) => `${e} timeout ${w.leaseSeconds}s`).join(', ')} }`;
const oneOrSet = (items: Array<string | number>) => (items.length === 1 ? String(items[0]) : `{ ${items.join(', ')} }`);

function verdict(a: NormalAction): string {
  switch (a.kind) {
    case 'partition': return 'drop';
    case 'loss': return a.basisPoints % 100 === 0
      ? `numgen random mod 100 < ${a.basisPoints / 100} drop`
      : `numgen random mod 10000 < ${a.basisPoints} drop`;
    case 'bandwidth': return `limit rate over ${a.bytesPerSecond} bytes/second drop`;
  }
}

/** The script that (re)creates the fault's table whole, in one transaction. Throws when the fault is invalid. */
export function renderTable(w: WantedFault): string {
  const invalid = validateFault(w);
  if (invalid) throw new Error(invalid);
  const table = tableName(w.id);
  const comment = tableComment(w);
  const groups = peerGroups(w.to);
  const act = verdict(normalAction(w.action));
  const lines = [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `\tcomment "${comment}"`,
    '\tset lease {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval, timeout',
    `\t\tcomment "${comment}"`,
    `\t\telements = ${elements(w)}`,
    '\t}',
  ];
  const sides = [
    { dir: 'ingress', chain: 'input', hook: 'input', ifname: 'iifname', addr: 'saddr', port: 'sport' },
    { dir: 'egress', chain: 'output', hook: 'output', ifname: 'oifname', addr: 'daddr', port: 'dport' },
  ] as const;
  for (const s of sides) {
    if (w.direction !== s.dir && w.direction !== 'both') continue;
    lines.push(`\tchain ${s.chain} {`, `\t\ttype filter hook ${s.hook} priority ${PRIORITY}; policy accept;`);
    for (const g of groups) {
      const peers = groups.length > 1 ? ` ip ${s.addr} ${oneOrSet(g.cidrs)}` : '';
      const ports = g.ports ? ` meta l4proto { tcp, udp, sctp } th ${s.port} ${oneOrSet(g.ports)}` : '';
      lines.push(`\t\t${s.ifname} != "lo" ip ${s.addr} @lease${peers}${ports} goto ${s.dir}_fault`);
    }
    lines.push('\t}', `\tchain ${s.dir}_fault {`, `\t\t${act}`, '\t}');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Fresh timeouts on every lease element, in one transaction; fails (no-table) when the table is gone. */
export function renewScript(w: WantedFault): string {
  const invalid = validateFault(w);
  if (invalid) throw new Error(invalid);
  const table = tableName(w.id);
  return `flush set inet ${table} lease\nadd element inet ${table} lease ${elements(w)}\n`;
}

/** Deletes the fault's one table; succeeds when it is already gone (created empty, then deleted, in one transaction). */
export function revertScript(id: string): string {
  const table = tableName(id);
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

// --- errors --------------------------------------------------------------------------------------------

export type NftFailure = 'netns-gone' | 'no-table' | 'missing-feature' | 'not-permitted' | 'not-installed' | 'timeout' | 'failed';

export class NftError extends Error {
  readonly netns: string;
  readonly reason: NftFailure;
  constructor(netns: string, reason: NftFailure, message: string) {
    super(message);
    this.name = 'NftError';
    this.netns = netns;
    this.reason = reason;
  }
}

export const isNftError = (e: unknown): e is NftError => e instanceof NftError;
export const isNetnsGone = (e: unknown): boolean => isNftError(e) && e.reason === 'netns-gone';
export const isNoTable = (e: unknown): boolean => isNftError(e) && e.reason === 'no-table';

/** Kernel features a rule needs, named when the kernel refuses a line that uses them. */
const FEATURES: Array<[RegExp, string]> = [
  [/\bnumgen\b/, 'the numgen expression (module nft_numgen, CONFIG_NFT_NUMGEN), which loss needs'],
  [/\blimit rate\b/, 'the limit expression (module nft_limit, CONFIG_NFT_LIMIT), which bandwidth needs'],
  [/\bflags interval, timeout\b|\belements = |\bset lease\b|\btimeout \d+s\b/, 'interval sets with timeouts (module nft_set_rbtree, CONFIG_NF_TABLES_SET), which every lease needs'],
  [/\bhook (input|output)\b/, 'inet filter chains (CONFIG_NF_TABLES_INET)'],
  [/\bcomment "/, 'table and set comments (Linux 5.10 or later)'],
];

/** One line for a failed nft run in a namespace: what nft said, the line it refused, and the kernel feature when recognisable. */
export function describeNftFailure(netns: string, stderr: string): NftError {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter(Boolean);
  const where = `nft in netns ${netns}`;
  const first = lines[0] ?? '';
  if (/^nsenter: /.test(first)) {
    if (/cannot open .*No such file or directory/.test(first)) return new NftError(netns, 'netns-gone', `${where}: the network namespace is gone (${first})`);
    if (/failed to execute nft/.test(first)) return new NftError(netns, 'not-installed', `${where}: nft is not installed (${first})`);
    if (/Operation not permitted|Permission denied/.test(first)) return new NftError(netns, 'not-permitted', `${where}: not permitted to enter it (needs CAP_SYS_ADMIN and the host's PID namespace) (${first})`);
    return new NftError(netns, 'failed', `${where}: ${first}`);
  }
  const at = lines.findIndex((l) => /\bError: /.test(l));
  if (at < 0) return new NftError(netns, 'failed', `${where}: ${first || 'nft failed without a message'}`);
  // nft's suggestion ("did you mean table 'x'?") names another table: not ours to mention.
  const said = lines[at].replace(/^.*?\bError: /, '').replace(/; did you mean .*$/, '');
  const line = (lines[at + 1] ?? '').trim();
  const shown = line && !/^[\^~ ]+$/.test(line) ? ` (in: ${line.length > 120 ? `${line.slice(0, 117)}...` : line})` : '';
  const base = `${where}: ${said}${shown}`;
  if (/Operation not permitted/.test(said)) return new NftError(netns, 'not-permitted', `${base}: needs CAP_NET_ADMIN`);
  if (/No such file or directory/.test(said) && /^(flush set|add element|delete table|list )/.test(line)) {
    return new NftError(netns, 'no-table', `${base}: the fault's table is not there`);
  }
  if (/No such file or directory|Operation not supported|not supported/.test(said)) {
    const feature = FEATURES.find(([re]) => re.test(line));
    if (feature) return new NftError(netns, 'missing-feature', `${base}: this kernel lacks ${feature[1]}`);
    if (/Could not process rule/.test(said)) return new NftError(netns, 'missing-feature', `${base}: this kernel lacks an nftables feature this line needs`);
  }
  return new NftError(netns, 'failed', base);
}

// --- running nft in a namespace ------------------------------------------------------------------------

const NFT_TIMEOUT_MS = 10_000;

/** Runs `nft <args>` inside the network namespace at `netns` (stdin: `input`); resolves to its stdout. */
export function nftIn(netns: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nsenter', [`--net=${netns}`, '--', 'nft', ...args],
      { encoding: 'utf8', timeout: NFT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) { resolve(stdout); return; }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === 'ENOENT') reject(new NftError(netns, 'not-installed', `nft in netns ${netns}: nsenter is not installed (util-linux)`));
        else if (e.killed) reject(new NftError(netns, 'timeout', `nft in netns ${netns}: no answer within ${NFT_TIMEOUT_MS / 1000}s (nft ${args.join(' ')})`));
        else reject(describeNftFailure(netns, stderr));
      });
    child.stdin?.on('error', () => { /* the process failed before reading: its exit says why */ });
    child.stdin?.end(input ?? '');
  });
}

/** Runs one nft script (one transaction) in the namespace. */
export async function applyIn(netns: string, script: string): Promise<void> {
  await nftIn(netns, ['-f', '-'], script);
}

/** Deletes fault `id`'s table in the namespace (nothing else); done when it is already gone. */
export async function revertIn(netns: string, id: string): Promise<void> {
  await applyIn(netns, revertScript(id));
}

/** The faults of ours in the namespace, from `nft -j list ruleset`. */
export async function listFound(netns: string): Promise<FoundFault[]> {
  return foundFromRuleset(netns, await nftIn(netns, ['-j', 'list', 'ruleset']));
}

/** Carries one planned action out; a renewal that finds its table gone applies the fault whole. */
export async function carryOut(action: AgentAction): Promise<void> {
  switch (action.kind) {
    case 'apply': return applyIn(action.fault.target.netns, renderTable(action.fault));
    case 'renew':
      try { await applyIn(action.fault.target.netns, renewScript(action.fault)); } catch (err) {
        if (!isNoTable(err)) throw err;
        await applyIn(action.fault.target.netns, renderTable(action.fault));
      }
      return;
    case 'revert': return revertIn(action.netns, action.id);
    case 'refuse': return;
  }
}

// --- reading back --------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The faults of ours in `nft -j list ruleset` output: inet tables named chaosrun_<valid id>, each with
 * the hash, run and step from its lease set's comment and the least time left on the set's elements.
 * nft's JSON gives that time in whole seconds (rounded down), so the lease read back is at most a
 * second short: renewals fall due a little early, never late. Expired elements are not listed: a set
 * with none left reads as 0.
 */
export function foundFromRuleset(netns: string, json: string): FoundFault[] {
  let doc: unknown;
  try { doc = JSON.parse(json); } catch { throw new NftError(netns, 'failed', `nft in netns ${netns}: unreadable JSON from nft -j list ruleset`); }
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables.filter(isObj) : [];
  const found = new Map<string, FoundFault>();
  for (const item of items) {
    const t = item.table;
    if (!isObj(t) || t.family !== 'inet' || typeof t.name !== 'string') continue;
    const id = idOfTable(t.name);
    if (id) found.set(t.name, { id, netns, specHash: '' });
  }
  for (const item of items) {
    const s = item.set;
    if (!isObj(s) || s.family !== 'inet' || s.name !== 'lease' || typeof s.table !== 'string') continue;
    const f = found.get(s.table);
    if (!f) continue;
    const comment = typeof s.comment === 'string' ? s.comment : '';
    f.specHash = /(?:^| )hash=([0-9a-f]{16})(?: |$)/.exec(comment)?.[1] ?? '';
    const run = /(?:^| )run=(\S+)/.exec(comment)?.[1];
    const step = /(?:^| )step=(\S+)/.exec(comment)?.[1];
    if (run) f.run = run;
    if (step) f.step = step;
    const elems = Array.isArray(s.elem) ? s.elem : [];
    let least = Infinity;
    let leased = true;
    for (const e of elems) {
      const el = isObj(e) && isObj(e.elem) ? e.elem : undefined;
      if (!el || typeof el.timeout !== 'number') { leased = false; break; }
      least = Math.min(least, typeof el.expires === 'number' ? el.expires * 1000 : 0);
    }
    if (leased) f.leaseExpiresInMs = elems.length ? least : 0;
  }
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
