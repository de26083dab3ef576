// The nftables lease applier: a wanted network fault as an `nft -f` script (pure), and the node-side
// calls that run nft inside a pod's network namespace (`nsenter --net=<path> nft ...`, no shell).
//
// Invariants:
// - Only tables named chaosrun_<id> (a valid id) are created, renewed, listed or deleted: every script
//   names its one table; nothing is ever addressed by position or handle, nothing else is flushed.
// - The kernel ends the fault: every rule matches only addresses in the set `lease`, whose elements
//   carry `timeout <lease>s`. If no process of ours renews them, they expire and the rules match
//   nothing (the empty table stays until it is reverted, or until the namespace goes with its pod).
// - Every script is one nft transaction (one `nft -f`): a fault is created, changed, renewed and
//   removed atomically, and no packet sees half a fault, or no fault, in the middle of a change.
//
// The table, for `partition`, direction both, to 10.0.0.0/8 port 80 (renderTable):
//   table inet chaosrun_<id> {                 the skeleton, created where missing, left as it is where not
//     comment "chaosrun fault=<id> run=<ns>/<name> step=<step>"
//     set lease { type ipv4_addr; flags interval, timeout }
//     chain input  { type filter hook input  priority filter - 10; policy accept }
//     chain output { type filter hook output priority filter - 10; policy accept }
//     chain ingress_fault {}  chain egress_fault {}
//   }
//   flush chain ... (all four), flush set ... lease   the old content goes...
//   add element inet chaosrun_<id> lease { 10.0.0.0/8 timeout 30s }
//   add rule ... input iifname != "lo" ip saddr @lease meta l4proto { tcp, udp, sctp } th sport 80 goto ingress_fault comment "chaosrun hash=..."
//   add rule ... ingress_fault drop comment "chaosrun hash=..."     ...and the new comes, in the same transaction
//   (the same for output / egress_fault with daddr and dport)
// The base chains stay put and only their rules change. Deleting the table and defining it again in
// one transaction (recreateScript) is atomic for each chain but not for a packet that crosses two base
// chains on one hook: the new chain is hooked in (empty in the old generation) ahead of the old one
// (empty in the new), and a packet passing between the two while the generation flips meets neither.
// Measured on Linux 6.18 with a UDP flood to a port both specs drop: 9 of 40,000 datagrams got
// through 265 delete-and-define rebuilds (twice), none through about 290 in-place ones (twice); the
// lease test holds renderTable to that. Both base chains are always there (an unused direction's is
// empty, policy accept), so a change of direction is a change of rules too.
//
// The spec hash rides on every rule's comment: rules are written on every apply, while a table's or a
// set's comment is fixed when it is created (and nft 1.0.6's JSON listing omits table comments). The
// table's comment says which fault, run and step made it, for a person reading `nft list ruleset`.
//
// Loopback is never matched: a fault cuts the pod off its peers, not from itself. Peers with different
// port lists get one rule each, all going (goto, not jump) to the one fault chain of their direction:
// a packet meets the fault at most once (a loss is not compounded) and a bandwidth limit is one bucket
// per direction.
//
// Priority filter - 10 (-10): after conntrack (-200) and the namespace's own DNAT (-100), so the rules
// see the addresses packets really carry; before the usual filter chains (0, iptables-nft's included),
// so a pod's own counters, logs or rate limits do not count packets the fault drops.
//
// Bandwidth is a policer (`limit rate over <bytes>/second drop`), not a shaper: excess packets are
// dropped and TCP backs off. The kernel's bucket for a byte limit holds one second of the rate, so a
// flow that starts idle gets up to one second's worth at once.
//
// Delay (ingress only) sends the packets to NFQUEUE queue N (queueNumber(id)) with bypass, where a
// delayer holds them (src/agent/delayers.ts). nft writes that verdict only with nft_queue, which some
// kernels lack; the xtables NFQUEUE target through nft_compat does the same and is on every node that
// runs iptables-nft, but nft cannot write it. So the fault chain's rule is written by the delayer's own
// helper (`chaosrun-delayer queue-rule`: nft's expression where the kernel has it, else the xtables
// target; flush and add in one transaction), right after the table's transaction. That transaction
// leaves a placeholder there (`counter`, passing packets as the chain's end does) whose comment is not
// the fault's: until the helper has replaced it, the rules' comments disagree, listFound reads the
// hash as '' and the next pass applies the fault again. So a table is never taken as whole without
// its queue rule, and between the two transactions packets pass undelayed (never dropped).
import { execFile } from 'node:child_process';
import {
  idOfTable, leaseElements, normalAction, peerGroups, queueNumber, specHash, tableName, validateFault,
  type FoundFault, type NormalAction, type WantedFault,
} from './fault.ts';
import type { AgentAction } from './plan.ts';

/** nft's limit for a comment. */
const COMMENT_MAX = 128;
const PRIORITY = 'filter - 10';

const clean = (s: string) => String(s).replace(/[^A-Za-z0-9._/=-]/g, '_');
const origin = (w: WantedFault) => `run=${clean(w.run.namespace)}/${clean(w.run.name)} step=${clean(w.step)}`;

/** The comment on every rule: the hash first, so a cut run or step never loses it. */
export function ruleComment(w: WantedFault): string {
  return `chaosrun hash=${specHash(w)} ${origin(w)}`.slice(0, COMMENT_MAX);
}

/** The table's comment, set when it is created: which fault, run and step made it. */
export function tableComment(w: WantedFault): string {
  return `chaosrun fault=${w.id} ${origin(w)}`.slice(0, COMMENT_MAX);
}

const elements = (w: WantedFault) => `{ ${leaseElements(w.to).map((e) => `${e} timeout ${w.leaseSeconds}s`).join(', ')} }`;
const oneOrSet = (items: Array<string | number>) => (items.length === 1 ? String(items[0]) : `{ ${items.join(', ')} }`);

/** The comment of a delay's placeholder: the hash of no spec, so the table reads back as not whole. */
export function pendingComment(w: WantedFault): string {
  return `chaosrun queue-pending ${origin(w)}`.slice(0, COMMENT_MAX);
}

/** The fault chain's rule: the action's verdict, with its comment (a delay's is its placeholder). */
function faultRule(a: NormalAction, w: WantedFault): string {
  switch (a.kind) {
    case 'partition': return `drop comment "${ruleComment(w)}"`;
    case 'loss': return `${a.basisPoints % 100 === 0
      ? `numgen random mod 100 < ${a.basisPoints / 100}`
      : `numgen random mod 10000 < ${a.basisPoints}`} drop comment "${ruleComment(w)}"`;
    case 'bandwidth': return `limit rate over ${a.bytesPerSecond} bytes/second drop comment "${ruleComment(w)}"`;
    case 'delay': return `counter comment "${pendingComment(w)}"`;
  }
}

const SIDES = [
  { dir: 'ingress', chain: 'input', fault: 'ingress_fault', ifname: 'iifname', addr: 'saddr', port: 'sport' },
  { dir: 'egress', chain: 'output', fault: 'egress_fault', ifname: 'oifname', addr: 'daddr', port: 'dport' },
] as const;

/**
 * The script that makes the fault's table hold exactly this fault, whatever of it was there before
 * (nothing, an older spec, an expired lease), in one transaction. Throws when the fault is invalid.
 */
export function renderTable(w: WantedFault): string {
  const invalid = validateFault(w);
  if (invalid) throw new Error(invalid);
  const t = `inet ${tableName(w.id)}`;
  const comment = ruleComment(w);
  const groups = peerGroups(w.to);
  const action = normalAction(w.action);
  const lines = [
    `table ${t} {`,
    `	comment "${tableComment(w)}"`,
    '	set lease {',
    '		type ipv4_addr',
    '		flags interval, timeout',
    '	}',
    ...SIDES.flatMap((s) => [`	chain ${s.chain} {`, `		type filter hook ${s.chain} priority ${PRIORITY}; policy accept;`, '	}']),
    ...SIDES.flatMap((s) => [`	chain ${s.fault} {`, '	}']),
    '}',
    ...SIDES.flatMap((s) => [`flush chain ${t} ${s.chain}`, `flush chain ${t} ${s.fault}`]),
    `flush set ${t} lease`,
    `add element ${t} lease ${elements(w)}`,
  ];
  for (const s of SIDES) {
    if (w.direction !== s.dir && w.direction !== 'both') continue;
    for (const g of groups) {
      const peers = groups.length > 1 ? ` ip ${s.addr} ${oneOrSet(g.cidrs)}` : '';
      const ports = g.ports ? ` meta l4proto { tcp, udp, sctp } th ${s.port} ${oneOrSet(g.ports)}` : '';
      lines.push(`add rule ${t} ${s.chain} ${s.ifname} != "lo" ip ${s.addr} @lease${peers}${ports} goto ${s.fault} comment "${comment}"`);
    }
    lines.push(`add rule ${t} ${s.fault} ${faultRule(action, w)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The table deleted and defined again, in one transaction: for a table whose skeleton is not the one
 * renderTable keeps (made by another version, or changed by hand). Atomic for each chain, not across
 * the two base chains of one hook (see the top of this file), so it is the fallback, not the rule.
 */
export function recreateScript(w: WantedFault): string {
  const table = tableName(w.id);
  return `table inet ${table} {}\ndelete table inet ${table}\n${renderTable(w)}`;
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
  if (/^(chain \S+|set lease) \{$/.test(line) && /Operation not supported|File exists|Device or resource busy/.test(said)) {
    return new NftError(netns, 'failed', `${base}: the table already has it with another type, hook or priority`);
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

/** Where the agent finds chaosrun-delayer: CHAOSRUN_DELAYER, else on PATH (the agent image's /usr/local/bin). */
export const defaultDelayer = (): string => process.env.CHAOSRUN_DELAYER || 'chaosrun-delayer';

/** The helper's arguments that write a delay fault's queue rule (in the chain ingress_fault). */
export function queueRuleArgs(w: WantedFault): string[] {
  return ['queue-rule', '--table', tableName(w.id), '--chain', 'ingress_fault', '--queue', String(queueNumber(w.id)), '--comment', ruleComment(w)];
}

/** One line for a failed queue-rule helper run, as an NftError (its reasons are nft's). */
export function describeQueueRuleFailure(netns: string, stderr: string, delayer: string): NftError {
  const first = stderr.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  const where = `the queue rule in netns ${netns}`;
  if (/^nsenter: /.test(first)) {
    if (/cannot open .*No such file or directory/.test(first)) return new NftError(netns, 'netns-gone', `${where}: the network namespace is gone (${first})`);
    if (/failed to execute/.test(first)) return new NftError(netns, 'not-installed', `${where}: ${delayer} is not installed (${first}); set CHAOSRUN_DELAYER or --delayer`);
    return new NftError(netns, 'failed', `${where}: ${first}`);
  }
  const said = first.replace(/^chaosrun-delayer queue-rule: /, '');
  if (/this kernel lacks/.test(said)) return new NftError(netns, 'missing-feature', `${where}: ${said}`);
  if (/has no chain/.test(said)) return new NftError(netns, 'no-table', `${where}: ${said}`);
  return new NftError(netns, 'failed', `${where}: ${said || 'chaosrun-delayer queue-rule failed without a message'}`);
}

/** Writes a delay fault's queue rule in its table (after the table's own transaction). */
export function queueRuleIn(w: WantedFault, delayer = defaultDelayer()): Promise<void> {
  const netns = w.target.netns;
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=${netns}`, '--', delayer, ...queueRuleArgs(w)], { encoding: 'utf8', timeout: NFT_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (!err) { resolve(); return; }
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT') reject(new NftError(netns, 'not-installed', `the queue rule in netns ${netns}: nsenter is not installed (util-linux)`));
      else if (e.killed) reject(new NftError(netns, 'timeout', `the queue rule in netns ${netns}: no answer within ${NFT_TIMEOUT_MS / 1000}s`));
      else reject(describeQueueRuleFailure(netns, stderr, delayer));
    });
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

export interface CarryOutOptions {
  /** The chaosrun-delayer binary that writes a delay's queue rule (default: defaultDelayer()). */
  delayer?: string;
}

/** The fault's table whole: its transaction, then (for a delay) its queue rule. */
async function applyWhole(w: WantedFault, opts: CarryOutOptions): Promise<void> {
  try { await applyIn(w.target.netns, renderTable(w)); } catch (err) {
    // A skeleton renderTable cannot keep (another hook or priority, another set type): rebuild it whole.
    if (!isNftError(err) || (err.reason !== 'failed' && err.reason !== 'missing-feature')) throw err;
    await applyIn(w.target.netns, recreateScript(w));
  }
  if (normalAction(w.action).kind === 'delay') await queueRuleIn(w, opts.delayer);
}

/**
 * Carries one planned action out. An apply whose table has a skeleton renderTable cannot keep falls
 * back to recreateScript; a renewal that finds its table gone applies the fault whole.
 */
export async function carryOut(action: AgentAction, opts: CarryOutOptions = {}): Promise<void> {
  switch (action.kind) {
    case 'apply': return applyWhole(action.fault, opts);
    case 'renew':
      try { await applyIn(action.fault.target.netns, renewScript(action.fault)); } catch (err) {
        if (!isNoTable(err)) throw err;
        await applyWhole(action.fault, opts);
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
 * the hash, run and step its rules' comments carry (all rules must agree, or the hash reads '') and the
 * least time left on its lease set's elements. nft's JSON gives that time in whole seconds (rounded
 * down), so the lease read back is at most a second short: renewals fall due a little early, never
 * late. Expired elements are not listed: a lease with none left reads 0.
 */
export function foundFromRuleset(netns: string, json: string): FoundFault[] {
  let doc: unknown;
  try { doc = JSON.parse(json); } catch { throw new NftError(netns, 'failed', `nft in netns ${netns}: unreadable JSON from nft -j list ruleset`); }
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables.filter(isObj) : [];
  const found = new Map<string, FoundFault>();
  const comments = new Map<string, Set<string>>();
  const ours = (o: unknown): o is Json => isObj(o) && o.family === 'inet' && typeof o.table === 'string' && found.has(o.table);
  for (const item of items) {
    const t = item.table;
    if (!isObj(t) || t.family !== 'inet' || typeof t.name !== 'string') continue;
    const id = idOfTable(t.name);
    if (id) { found.set(t.name, { id, netns, specHash: '' }); comments.set(t.name, new Set()); }
  }
  for (const item of items) {
    const r = item.rule;
    if (ours(r)) comments.get(r.table as string)!.add(typeof r.comment === 'string' ? r.comment : '');
    const s = item.set;
    if (!ours(s) || s.name !== 'lease') continue;
    const f = found.get(s.table as string)!;
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
  for (const [table, f] of found) {
    const seen = [...comments.get(table)!];
    if (seen.length !== 1) continue;
    const hash = /^chaosrun hash=([0-9a-f]{16})(?: |$)/.exec(seen[0])?.[1];
    if (!hash) continue;
    f.specHash = hash;
    const run = / run=(\S+)/.exec(seen[0])?.[1];
    const step = / step=(\S+)/.exec(seen[0])?.[1];
    if (run) f.run = run;
    if (step) f.step = step;
  }
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
