// What the node agent knows of its faults on the node between passes: the last reading of each sandbox
// network namespace's chaosrun_ tables (listFound), kept up with the agent's own actions there, so a
// pass plans from memory and a watch event's reverts need no listing first. Listing every sandbox's
// ruleset cost ~650 ms at p50 here with 25 tables in each of 4 namespaces (and ~100 ms with one each on
// a busy machine); a revert's one transaction, ~25 ms. Pure (times are passed in); main.ts reads.
//
// A cache of the node, never a record of it:
// - It starts empty: a restarted agent reads every namespace before it plans anything there.
// - Every namespace is read again once its reading is `everyMs` old (RELIST_MS), in the background,
//   so a table someone else changed or added is seen within about that. A table someone removed is
//   seen sooner: the next renewal (a third of a lease at most) fails on the missing table and applies
//   the fault whole.
// - A namespace whose action failed is read again at once (what it holds is then unknown); one whose
//   path leads to another namespace (by its nsfs inode) or to none is forgotten.
//
// Readings race actions: a listing that began before an action ended may or may not show it. So while
// a reading of a namespace is in flight, each action's effect there is kept and laid over the reading
// when it comes (an apply or a renewal: the table with that spec and a fresh lease; a revert: no
// table), which is what the kernel holds after both, whichever came first. Of two readings, the one
// begun later wins.
//
// Leases are kept as when they end. A reading's `expires` counts from when its listing began, and an
// action's lease from when its transaction was sent, so the time left is never overstated: renewals
// fall due early, never late. nft lists `expires` in whole seconds rounded down, so a reading up to a
// second short of what the agent's own renewal set is taken as that renewal's (not as a shorter lease).
import type { FoundFault } from './fault.ts';

/** How old a namespace's reading may grow before it is read again. */
export const RELIST_MS = 5_000;

/** One of our tables as known: its spec's hash and when its lease ends (absent: no lease readable). */
interface Held { specHash: string; endsAt?: number; run?: string; step?: string }

type Effect = { kind: 'holds'; id: string; held: Held } | { kind: 'gone'; id: string };

interface Space { identity: string; readAt: number; stale: boolean; faults: Map<string, Held> }

/** A reading in flight, from begin() to record() or abort(). */
export interface ReadingToken { readonly netns: string; readonly startedAt: number; readonly identity: string | undefined; readonly effects: Effect[] }

const same = (a: Map<string, Held>, b: Map<string, Held>): boolean =>
  a.size === b.size && [...a].every(([id, h]) => b.get(id)?.specHash === h.specHash && (b.get(id)?.endsAt === undefined) === (h.endsAt === undefined));

export class Readings {
  private readonly spaces = new Map<string, Space>();
  private readonly inFlight = new Map<string, Set<ReadingToken>>();
  private identities = new Map<string, string>();

  readonly everyMs: number;

  constructor(everyMs = RELIST_MS) { this.everyMs = everyMs; }

  /** The sandbox namespaces there are now, each with its identity (undefined: gone): others are forgotten. */
  sync(namespaces: Iterable<[netns: string, identity: string | undefined]>): void {
    this.identities = new Map([...namespaces].filter((e): e is [string, string] => e[1] !== undefined));
    for (const [netns, space] of this.spaces) {
      if (this.identities.get(netns) !== space.identity) this.spaces.delete(netns);
    }
  }

  /** Of these namespaces, those never read (since they appeared or changed): to read before planning there. */
  unread(namespaces: string[]): string[] {
    return namespaces.filter((ns) => !this.spaces.has(ns));
  }

  /** Namespaces read `everyMs` ago or more, or marked stale, and not being read now: oldest first. */
  due(now: number): string[] {
    return [...this.spaces].filter(([ns, s]) => (s.stale || now - s.readAt >= this.everyMs) && !this.inFlight.get(ns)?.size)
      .sort(([a, x], [b, y]) => x.readAt - y.readAt || (a < b ? -1 : 1)).map(([ns]) => ns);
  }

  /** A reading of `netns` begins (call right before listing it). */
  begin(netns: string, now: number): ReadingToken {
    const token: ReadingToken = { netns, startedAt: now, identity: this.identities.get(netns), effects: [] };
    const set = this.inFlight.get(netns) ?? new Set();
    set.add(token);
    this.inFlight.set(netns, set);
    return token;
  }

  /**
   * The reading came back with these faults. Returns whether it differs from what was known (a table
   * added, removed or changed by someone else, or a first reading that found any): false when it was
   * not kept (the namespace changed meanwhile, or a later reading is already in).
   */
  record(token: ReadingToken, found: FoundFault[]): boolean {
    this.end(token);
    const before = this.spaces.get(token.netns);
    if (token.identity === undefined || this.identities.get(token.netns) !== token.identity) return false;
    if (before && before.readAt > token.startedAt) return false;
    const faults = new Map<string, Held>();
    for (const f of found) {
      if (f.netns !== token.netns) continue;
      const held: Held = { specHash: f.specHash, ...(f.run ? { run: f.run } : {}), ...(f.step ? { step: f.step } : {}) };
      if (f.leaseExpiresInMs !== undefined) {
        const endsAt = token.startedAt + f.leaseExpiresInMs;
        const known = before?.faults.get(f.id);
        // The listing's whole seconds, rounded down: a known end within the second after it is that end.
        const keep = known?.specHash === f.specHash && known.endsAt !== undefined && known.endsAt >= endsAt && known.endsAt < endsAt + 1000;
        held.endsAt = keep ? known.endsAt : endsAt;
      }
      faults.set(f.id, held);
    }
    for (const e of token.effects) apply(faults, e);
    this.spaces.set(token.netns, { identity: token.identity, readAt: token.startedAt, stale: false, faults });
    return before ? !same(before.faults, faults) : faults.size > 0;
  }

  /** The reading failed: what was known stays, to be read again at the next chance. */
  abort(token: ReadingToken): void {
    this.end(token);
    const space = this.spaces.get(token.netns);
    if (space) space.stale = true;
  }

  /** An apply or a renewal succeeded: the table holds this spec, its lease `leaseMs` from `sentAt`. */
  holds(netns: string, id: string, specHash: string, leaseMs: number, sentAt: number): void {
    this.effect(netns, { kind: 'holds', id, held: { specHash, endsAt: sentAt + leaseMs } });
  }

  /** A revert succeeded: the table is gone. */
  gone(netns: string, id: string): void {
    this.effect(netns, { kind: 'gone', id });
  }

  /** An action failed there: what the namespace holds is unknown until it is read again. */
  unsure(netns: string): void {
    const space = this.spaces.get(netns);
    if (space) space.stale = true;
  }

  /** Every fault known, with the time left on its lease at `now` (0 once it has run out). */
  found(now: number): FoundFault[] {
    return [...this.spaces].flatMap(([netns, s]) => [...s.faults].map(([id, h]): FoundFault => ({
      id, netns, specHash: h.specHash,
      ...(h.endsAt === undefined ? {} : { leaseExpiresInMs: Math.max(0, Math.round(h.endsAt - now)) }),
      ...(h.run ? { run: h.run } : {}), ...(h.step ? { step: h.step } : {}),
    })));
  }

  private effect(netns: string, e: Effect): void {
    const space = this.spaces.get(netns);
    if (space) apply(space.faults, e);
    for (const token of this.inFlight.get(netns) ?? []) token.effects.push(e);
  }

  private end(token: ReadingToken): void {
    const set = this.inFlight.get(token.netns);
    set?.delete(token);
    if (set && !set.size) this.inFlight.delete(token.netns);
  }
}

function apply(faults: Map<string, Held>, e: Effect): void {
  if (e.kind === 'gone') { faults.delete(e.id); return; }
  const prev = faults.get(e.id);
  faults.set(e.id, { ...(prev?.run ? { run: prev.run } : {}), ...(prev?.step ? { step: prev.step } : {}), ...e.held });
}
