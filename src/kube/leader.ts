// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews every
// retry period; others take over once they have seen no renewal for a lease duration (measured on
// their own clock, so clock skew between nodes does not matter); a leader that cannot renew within
// the renew deadline stops leading at once. Writes carry the resourceVersion they were based on, so
// two candidates can never both win the same term.
import type { Logger } from '../log.ts';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from './client.ts';
import { paths } from './paths.ts';

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly o: LeaderElectionOptions;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastRenew = 0;
  private observed?: { holder?: string; renewTime?: string; at: number };

  constructor(options: LeaderElectionOptions) { this.o = options; }

  isLeader(): boolean { return this.leading && Date.now() - this.lastRenew < this.o.renewDeadlineMs; }

  start(): void { void this.tick(); }

  /** Stops campaigning; a leader releases the lease so a peer takes over without waiting it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.o.client.request<Lease>('GET', paths.leases(this.o.namespace, this.o.name));
      if (lease.spec.holderIdentity === this.o.identity) {
        lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) };
        await this.o.client.request('PUT', paths.leases(this.o.namespace, this.o.name), { body: lease, timeoutMs: 2000 });
      }
    } catch (err) {
      this.o.log.warn({ err }, 'could not release the leader lease; a peer takes over when it expires');
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.log.warn({ err }, 'leader election: lease request failed');
    }
    if (this.stopped) return;
    if (ok) {
      this.lastRenew = Date.now();
      if (!this.leading) this.setLeading(true);
    } else if (this.leading && Date.now() - this.lastRenew >= this.o.renewDeadlineMs) {
      this.o.log.error({ lease: this.o.name }, 'leader election: could not renew the lease in time; stopping');
      this.setLeading(false);
    }
    this.timer = setTimeout(() => void this.tick(), this.o.retryPeriodMs);
    this.timer.unref();
  }

  private setLeading(on: boolean): void {
    this.leading = on;
    this.o.log.info({ lease: this.o.name, identity: this.o.identity, leading: on }, on ? 'became leader' : 'stopped leading');
    if (on) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const now = Date.now();
    const durationSeconds = Math.ceil(this.o.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await client.request<Lease>('GET', paths.leases(namespace, name), { timeoutMs: this.o.retryPeriodMs * 2 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        await client.request('POST', paths.leases(namespace), { body: fresh });
        return true;
      } catch (e) {
        if (isAlreadyExists(e)) return false;
        throw e;
      }
    }
    const { holderIdentity: holder, renewTime } = lease.spec;
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: now };
    }
    const heldByOther = holder && holder !== identity;
    const observedDurationMs = (lease.spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && this.observed.at + observedDurationMs > now) return false;
    const taking = holder !== identity;
    lease.spec = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
      ...(taking ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      await client.request('PUT', paths.leases(namespace, name), { body: lease, timeoutMs: this.o.retryPeriodMs * 2 });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
