// Instant queries against the Prometheus HTTP API (GET /api/v1/query), with a timeout.
export interface QueryOptions { bearerToken?: string; timeoutMs?: number }

/** Runs a PromQL instant query and returns the sample values of its vector or scalar result. */
export async function instantQuery(baseUrl: string, query: string, options: QueryOptions = {}): Promise<number[]> {
  const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.searchParams.set('query', query);
  const res = await fetch(url, {
    headers: options.bearerToken ? { Authorization: `Bearer ${options.bearerToken}` } : {},
    signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
  });
  const body = await res.json().catch(() => undefined) as
    | { status: string; error?: string; data?: { resultType: string; result: unknown } } | undefined;
  if (!res.ok || body?.status !== 'success') throw new Error(`Prometheus answered ${res.status}: ${body?.error ?? 'no result'}`);
  const { resultType, result } = body.data!;
  if (resultType === 'scalar') return [Number((result as [number, string])[1])];
  if (resultType === 'vector') return (result as Array<{ value: [number, string] }>).map((s) => Number(s.value[1]));
  throw new Error(`unsupported result type ${resultType}: the query must return an instant vector or a scalar`);
}

/** The PromQL of an alerts gate: krkn's critical-alerts check, plus optional matchers. */
export function alertsQuery(severity: string, matchers?: string): string {
  const extra = matchers?.trim() ? `, ${matchers.trim()}` : '';
  return `ALERTS{alertstate="firing", severity=~${JSON.stringify(severity)}${extra}}`;
}
