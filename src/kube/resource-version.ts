// Ordering resourceVersions. Kubernetes calls them opaque, but every API server stores objects in etcd,
// whose revisions are increasing integers, and client-go's own watch cache relies on that too. Where a
// value is not an integer the order is unknown and callers must act as if the cache were current.

/** -1, 0 or 1 as `a` is older than, the same as or newer than `b`; undefined when they cannot be ordered. */
export function compareResourceVersions(a: string | undefined, b: string | undefined): -1 | 0 | 1 | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (a === b) return 0;
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The cache has caught up with `wanted` (or they cannot be ordered and are equal). */
export function isAtLeast(cached: string | undefined, wanted: string | undefined): boolean {
  const order = compareResourceVersions(cached, wanted);
  return order === 0 || order === 1;
}
