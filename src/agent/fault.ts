// The node agent's contract: a fault it is asked to hold (WantedFault) and one it finds on the node
// (FoundFault), with the small pure helpers both sides of it share. A leaf but for the holder contract's types (src/api/fault-holder.ts).
//
// A lasting network fault is a lease the kernel itself ends: one nftables table per fault in the target
// pod's network namespace, named `chaosrun_<id>` (the tag), whose rules only match addresses in a set
// whose elements carry a timeout. The agent renews the elements while the fault is wanted; if every
// process of ours is gone the elements expire and the fault ends by itself. The agent touches only
// tables named with its prefix and a valid id, never a rule by position, and rebuilds a fault whole.
//
// `specHash` names everything the table's rules are made of (not the lease's timeouts), so a table
// found with the wanted hash needs only its lease renewed, and one with another hash gets its content
// replaced whole.
//
// A delay is the one action the kernel cannot do alone here: the rule sends matching packets to an
// NFQUEUE queue with bypass, and a delayer process (agent/delayer/, supervised by src/agent/delayers.ts)
// holds them. The lease still bounds the rule, and bypass lets packets through undelayed whenever no
// delayer is bound, so a dead agent's delay ends as its other faults do. The queue number comes from
// the fault id (queueNumber): queue numbers are per network namespace, so two faults only need
// different numbers where they share a target, and planNode refuses the rare pair that does not.
import { createHash } from 'node:crypto';

// The holder's contract (src/api/fault-holder.ts, a leaf of types) is the one definition of a fault's
// direction, peers and effect; the agent names them as it always has.
export type { FaultDirection as Direction, FaultPeer as Peer, NetworkEffect as FaultAction } from '../api/fault-holder.ts';
import type { FaultDirection as Direction, FaultPeer as Peer, NetworkEffect as FaultAction } from '../api/fault-holder.ts';

export interface FaultTarget {
  namespace: string;
  pod: string;
  podUid: string;
  /** The pod sandbox's network namespace: /proc/<sandbox pid>/ns/net or /run/netns/<name>. */
  netns: string;
}

export interface WantedFault {
  /** A DNS-label-like tag (lower case letters, digits, '-'; at most 63), e.g. from the step's uid; the table is chaosrun_<id>. */
  id: string;
  run: { namespace: string; name: string };
  step: string;
  target: FaultTarget;
  direction: Direction;
  /** The peers the fault applies to; absent: every IPv4 address (0.0.0.0/0). Loopback is never touched. */
  to?: Peer[];
  action: FaultAction;
  /** How long the fault outlives its last renewal. */
  leaseSeconds: number;
}

export interface FoundFault {
  id: string;
  netns: string;
  /** Read back from the comment every rule of the table carries; '' when missing, unreadable or not the same on all. */
  specHash: string;
  /** The least time left on the lease's elements (0: all expired, the rules match nothing); absent: no lease could be read. */
  leaseExpiresInMs?: number;
  /** "namespace/name" and step, read back from the same comment, for logs. */
  run?: string;
  step?: string;
}

export const TABLE_PREFIX = 'chaosrun_';
const ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Leases shorter than this cannot be renewed in time by a loop that also lists and plans. */
export const MIN_LEASE_SECONDS = 2;
export const MAX_LEASE_SECONDS = 3600;

export const isValidId = (id: string): boolean => typeof id === 'string' && ID.test(id);

export function tableName(id: string): string {
  if (!isValidId(id)) throw new Error(`invalid fault id ${JSON.stringify(id)}: use lower case letters, digits and '-' (at most 63)`);
  return `${TABLE_PREFIX}${id}`;
}

/** The fault id a table name carries, or undefined when the table is not one of ours. */
export function idOfTable(name: string): string | undefined {
  if (!name.startsWith(TABLE_PREFIX)) return undefined;
  const id = name.slice(TABLE_PREFIX.length);
  return isValidId(id) ? id : undefined;
}

/** The identity of a fault on a node: one table per id per network namespace. */
export const faultKey = (netns: string, id: string): string => `${netns}\u0000${id}`;

// --- rates ---------------------------------------------------------------------------------------------

/** tc's units (tc-bandwidth(8)): bit-based and byte-based ("bps" is bytes per second), SI and IEC prefixes. */
const RATE_UNITS: Record<string, number> = {
  bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8, tbit: 1e12 / 8,
  kibit: 1024 / 8, mibit: 1024 ** 2 / 8, gibit: 1024 ** 3 / 8, tibit: 1024 ** 4 / 8,
  bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9, tbps: 1e12,
  kibps: 1024, mibps: 1024 ** 2, gibps: 1024 ** 3, tibps: 1024 ** 4,
};
const RATE = /^(\d+(?:\.\d+)?)([a-z]+)$/;
/** The least rate the policer is given: below a few packets a second nothing useful gets through. */
const MIN_RATE_BYTES = 1000;

/** Parses a tc-style rate ("1mbit", "500kbit", "10mbps" = 10 megabytes/s) to whole bytes per second. */
export function parseRate(text: string): number {
  const m = typeof text === 'string' ? RATE.exec(text.trim().toLowerCase()) : null;
  if (!m) throw new Error(`invalid rate ${JSON.stringify(text)}: use a number with a unit, like 1mbit, 500kbit or 10mbps (bytes)`);
  const unit = RATE_UNITS[m[2]];
  if (unit === undefined) {
    const hint = m[2] === 'mb' || m[2] === 'kb' || m[2] === 'gb' ? `; ${m[2]}it for bits or ${m[2]}ps for bytes per second` : '';
    throw new Error(`invalid rate ${JSON.stringify(text)}: unknown unit ${JSON.stringify(m[2])}${hint} (units: ${Object.keys(RATE_UNITS).join(', ')})`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < MIN_RATE_BYTES) throw new Error(`invalid rate ${JSON.stringify(text)}: at least 8kbit (${MIN_RATE_BYTES} bytes per second)`);
  if (bytes > 1e12) throw new Error(`invalid rate ${JSON.stringify(text)}: at most 8tbit`);
  return bytes;
}

// --- latencies -----------------------------------------------------------------------------------------

const LATENCY = /^(\d+(?:\.\d+)?)(us|ms|s)$/;
const LATENCY_UNITS: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000 };
/** The longest latency a delay holds packets for: beyond a few seconds TCP gives up on a connect. */
export const MAX_LATENCY_US = 10_000_000;
/** The least latency: below a millisecond the delayer's timers are as large as the delay. */
export const MIN_LATENCY_US = 1000;

/** Parses a latency or jitter ("100ms", "1.5s", "500us") to whole microseconds (0 allowed; callers bound it). */
export function parseLatency(text: string, what = 'latency'): number {
  const m = typeof text === 'string' ? LATENCY.exec(text.trim()) : null;
  if (!m) throw new Error(`invalid ${what} ${JSON.stringify(text)}: use a number with a unit, like 100ms, 1.5s or 500us`);
  const us = Number(m[1]) * LATENCY_UNITS[m[2]];
  if (Math.abs(us - Math.round(us)) > 1e-6) {
    throw new Error(`invalid ${what} ${JSON.stringify(text)}: at most microsecond precision`);
  }
  return Math.round(us);
}

/** The per-netns NFQUEUE queue a delay fault's rule and delayer use: a hash of its id into 1000..64999. */
export const QUEUE_MIN = 1000;
export const QUEUE_SPAN = 64_000;
export function queueNumber(id: string): number {
  return QUEUE_MIN + (createHash('sha256').update(id).digest().readUInt32BE(0) % QUEUE_SPAN);
}

// --- addresses -----------------------------------------------------------------------------------------

export interface Cidr { addr: number; len: number }

/** Parses an IPv4 address or CIDR; host bits must be zero (a typo there would otherwise widen or narrow the fault silently). */
export function parseCidr(text: string): Cidr {
  const m = typeof text === 'string' ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text) : null;
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const len = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets.some((o) => o > 255) || len > 32) {
    throw new Error(`invalid cidr ${JSON.stringify(text)}: use an IPv4 address or CIDR like 10.0.0.0/8 (IPv6 is not supported yet)`);
  }
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((addr & ~mask) >>> 0 !== 0) {
    throw new Error(`invalid cidr ${JSON.stringify(text)}: host bits are set; did you mean ${formatCidr({ addr: (addr & mask) >>> 0, len })}?`);
  }
  return { addr, len };
}

export function formatCidr(c: Cidr): string {
  const a = [24, 16, 8, 0].map((s) => Math.floor(c.addr / 2 ** s) % 256).join('.');
  return c.len === 32 ? a : `${a}/${c.len}`;
}

const contains = (outer: Cidr, inner: Cidr) =>
  outer.len <= inner.len && Math.floor(outer.addr / 2 ** (32 - outer.len)) === Math.floor(inner.addr / 2 ** (32 - outer.len));

/**
 * The CIDRs without those another one contains, sorted: nft refuses overlapping elements in an interval
 * set, and two CIDRs either nest or are disjoint, so what is left never overlaps.
 */
export function reduceCidrs(cidrs: Cidr[]): Cidr[] {
  const sorted = [...cidrs].sort((a, b) => a.len - b.len || a.addr - b.addr);
  const kept: Cidr[] = [];
  for (const c of sorted) if (!kept.some((k) => contains(k, c))) kept.push(c);
  return kept.sort((a, b) => a.addr - b.addr || a.len - b.len);
}

/** Peers grouped by port list (one rule per group), each group's CIDRs reduced; absent `to`: everything. */
export interface PeerGroup { cidrs: string[]; ports?: number[] }

export function peerGroups(to: Peer[] | undefined): PeerGroup[] {
  const byPorts = new Map<string, { ports?: number[]; cidrs: Cidr[] }>();
  for (const p of to ?? [{ cidr: '0.0.0.0/0' }]) {
    const ports = p.ports === undefined ? undefined : [...new Set(p.ports)].sort((a, b) => a - b);
    const key = ports ? ports.join(',') : '*';
    const g = byPorts.get(key) ?? { ...(ports ? { ports } : {}), cidrs: [] };
    g.cidrs.push(parseCidr(p.cidr));
    byPorts.set(key, g);
  }
  // Groups in a fixed order (every-port first, then by port list) so the rendering and the hash are stable.
  return [...byPorts.entries()].sort(([a], [b]) => (a === '*' ? -1 : b === '*' ? 1 : a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({ cidrs: reduceCidrs(g.cidrs).map(formatCidr), ...(g.ports ? { ports: g.ports } : {}) }));
}

/** The lease set's elements: every group's CIDRs together, reduced. */
export function leaseElements(to: Peer[] | undefined): string[] {
  return reduceCidrs((to ?? [{ cidr: '0.0.0.0/0' }]).map((p) => parseCidr(p.cidr))).map(formatCidr);
}

// --- validation and the hash ---------------------------------------------------------------------------

/** Why a wanted fault cannot be applied, or undefined when it can. */
export function validateFault(w: WantedFault): string | undefined {
  try {
    if (!isValidId(w.id)) return `invalid fault id ${JSON.stringify(w.id)}: use lower case letters, digits and '-' (at most 63)`;
    if (typeof w.target?.netns !== 'string' || !w.target.netns.startsWith('/')) return `fault ${w.id}: target netns must be an absolute path, got ${JSON.stringify(w.target?.netns)}`;
    if (!['ingress', 'egress', 'both'].includes(w.direction)) return `fault ${w.id}: invalid direction ${JSON.stringify(w.direction)}: use ingress, egress or both`;
    if (!Number.isInteger(w.leaseSeconds) || w.leaseSeconds < MIN_LEASE_SECONDS || w.leaseSeconds > MAX_LEASE_SECONDS) {
      return `fault ${w.id}: leaseSeconds must be a whole number from ${MIN_LEASE_SECONDS} to ${MAX_LEASE_SECONDS}, got ${w.leaseSeconds}`;
    }
    if (w.to !== undefined && (!Array.isArray(w.to) || w.to.length === 0)) return `fault ${w.id}: to is empty; leave it out to match every address`;
    for (const p of w.to ?? []) {
      parseCidr(p.cidr);
      if (p.ports === undefined) continue;
      if (!Array.isArray(p.ports) || p.ports.length === 0) return `fault ${w.id}: ports of ${p.cidr} is empty; leave it out to match every port`;
      const bad = p.ports.find((n) => !Number.isInteger(n) || n < 1 || n > 65535);
      if (bad !== undefined) return `fault ${w.id}: invalid port ${JSON.stringify(bad)} for ${p.cidr}: use 1 to 65535`;
    }
    const a = normalAction(w.action);
    if (a.kind === 'delay' && w.direction !== 'ingress') {
      return `fault ${w.id}: delay holds packets where they arrive, so it takes direction ingress, got ${w.direction} ` +
        '(held on the target\'s own egress, a TCP upload fell to 0.24 Mbit/s; an ingress delay adds the latency to every round trip of the target\'s connections too)';
    }
    return undefined;
  } catch (err) {
    return `fault ${w.id}: ${(err as Error).message}`;
  }
}

/** The action as the rules see it: loss in hundredths of a percent, bandwidth in bytes per second, delay in microseconds. */
export type NormalAction =
  | { kind: 'partition' } | { kind: 'loss'; basisPoints: number } | { kind: 'bandwidth'; bytesPerSecond: number }
  | { kind: 'delay'; latencyUs: number; jitterUs: number };

export function normalAction(a: FaultAction): NormalAction {
  const keys = a && typeof a === 'object' ? Object.keys(a) : [];
  if (keys.length !== 1) throw new Error(`action must have exactly one of partition, loss, bandwidth, delay, got ${JSON.stringify(a)}`);
  if ('partition' in a) return { kind: 'partition' };
  if ('loss' in a) {
    const p = a.loss?.percent;
    const bp = Math.round(p * 100);
    if (typeof p !== 'number' || !(p > 0 && p <= 100) || Math.abs(bp - p * 100) > 1e-6) {
      throw new Error(`invalid loss percent ${JSON.stringify(p)}: use a number above 0 and at most 100, with two decimals at most`);
    }
    return { kind: 'loss', basisPoints: bp };
  }
  if ('bandwidth' in a) return { kind: 'bandwidth', bytesPerSecond: parseRate(a.bandwidth?.rate) };
  if ('delay' in a) {
    const latencyUs = parseLatency(a.delay?.latency);
    if (latencyUs < MIN_LATENCY_US || latencyUs > MAX_LATENCY_US) {
      throw new Error(`invalid latency ${JSON.stringify(a.delay.latency)}: use 1ms to 10s`);
    }
    const jitterUs = a.delay.jitter === undefined ? 0 : parseLatency(a.delay.jitter, 'jitter');
    if (jitterUs > latencyUs) throw new Error(`invalid jitter ${JSON.stringify(a.delay.jitter)}: at most the latency (${a.delay.latency})`);
    return { kind: 'delay', latencyUs, jitterUs };
  }
  throw new Error(`unknown action ${JSON.stringify(keys[0])}: use partition, loss, bandwidth or delay`);
}

/** Bumped when the rendering of the same spec changes, so an upgraded agent rebuilds older tables. */
export const RENDER_VERSION = 1;

/**
 * A short hash of everything a fault's table is made of except its lease's timeouts (those change on
 * every renewal): the id, run and step (its comment), the direction, the peers and the action, in
 * normal form, so `1mbit` and `1000kbit` or reordered peers give the same hash. The target pod and
 * netns are where the table lives, not what it is.
 */
export function specHash(w: WantedFault): string {
  const canonical = JSON.stringify([RENDER_VERSION, w.id, w.run.namespace, w.run.name, w.step, w.direction, peerGroups(w.to), normalAction(w.action)]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
