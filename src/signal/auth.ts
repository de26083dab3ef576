// Who may talk to the signal server. With Kubernetes auth, a bearer token is checked with a TokenReview
// and each access with a SubjectAccessReview on the ChaosRun, so HTTP obeys exactly the RBAC that
// kubectl obeys. Positive answers are cached briefly (a burst of signals costs one review, not one per
// request); negative ones are not, so a freshly granted Role works at once.
import { createHash } from 'node:crypto';
import { GROUP, PLURAL } from '../api/constants.ts';
import type { KubeClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';

export interface User {
  name: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/**
 * An access to ChaosRuns: `name` narrows it to one run, as `kubectl patch crun NAME` does. `resource`
 * asks about the core resources the console shows beside a run instead: its Events, its steps' pod logs.
 */
export interface Access {
  verb: 'get' | 'list' | 'patch';
  namespace: string;
  name?: string;
  resource?: 'events' | 'pods/log';
}

/** The SubjectAccessReview resourceAttributes of an access. */
function attributes(a: Access) {
  const { resource, ...rest } = a;
  if (resource === 'events') return { group: '', resource: 'events', ...rest };
  if (resource === 'pods/log') return { group: '', resource: 'pods', subresource: 'log', ...rest };
  return { group: GROUP, resource: PLURAL, ...rest };
}

export interface Auth {
  readonly mode: 'kubernetes' | 'none';
  /** The user behind an Authorization header, or undefined when it carries no valid bearer token. */
  authenticate(authorization: string | undefined): Promise<User | undefined>;
  allowed(user: User, access: Access): Promise<boolean>;
}

/** No checks at all: an explicit opt-in for a server bound to loopback. */
export const noAuth: Auth = {
  mode: 'none',
  authenticate: async () => ({ name: 'anonymous' }),
  allowed: async () => true,
};

const BEARER = /^Bearer +(\S+) *$/i;
const MAX_CACHED = 10_000;

/** A map whose entries expire, bounded so a flood of distinct tokens cannot grow it without end. */
class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly ttlMs: number;
  constructor(ttlMs: number) { this.ttlMs = ttlMs; }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires > Date.now()) return e.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: V): void {
    if (this.entries.size >= MAX_CACHED) this.entries.clear();
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
  }
}

interface TokenReviewStatus { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } }

export function kubernetesAuth(client: KubeClient, options: { cacheTtlMs?: number } = {}): Auth {
  const ttl = options.cacheTtlMs ?? 10_000;
  const users = new ExpiringCache<User>(ttl);
  const grants = new ExpiringCache<true>(ttl);
  return {
    mode: 'kubernetes',
    async authenticate(authorization) {
      const token = authorization?.match(BEARER)?.[1];
      if (!token) return undefined;
      // Keyed by a hash so the cache never holds a usable token.
      const key = createHash('sha256').update(token).digest('hex');
      const cached = users.get(key);
      if (cached) return cached;
      const review = await client.request<{ status?: TokenReviewStatus }>('POST', paths.tokenReviews(), {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
      const u = review.status?.user;
      if (!review.status?.authenticated || !u?.username) return undefined;
      const user: User = { name: u.username, uid: u.uid, groups: u.groups, extra: u.extra };
      users.set(key, user);
      return user;
    },
    async allowed(user, access) {
      const key = JSON.stringify([user.name, user.uid, user.groups, access.verb, access.namespace, access.name, access.resource]);
      if (grants.get(key)) return true;
      const review = await client.request<{ status?: { allowed?: boolean } }>('POST', paths.subjectAccessReviews(), {
        body: {
          apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
          spec: {
            user: user.name, uid: user.uid, groups: user.groups, extra: user.extra,
            resourceAttributes: attributes(access),
          },
        },
      });
      if (review.status?.allowed !== true) return false;
      grants.set(key, true);
      return true;
    },
  };
}
