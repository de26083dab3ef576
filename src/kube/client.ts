// A thin REST client. One keep-alive agent per process, explicit patch content types, a timeout on
// every call, watches as streams of JSON lines on connections of their own, and a count of every
// request by verb for the metrics. The operator's processes read their kubeconfig with kubeconfig.ts
// and never load @kubernetes/client-node (about 80 MiB); loadKubeConfig, for the commands that need
// client-node's KubeConfig (contexts, exec plugins: the kubectl plugin), loads it when called.
import type { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { delimiter } from 'node:path';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { apiRequests } from '../metrics/registry.ts';
import { isKubeConfig, loadClusterAccess, type ClusterAccess, type TlsAuth } from './kubeconfig.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export const MERGE_PATCH = 'application/merge-patch+json';
/** RFC 6902: a list of operations, whose `test` makes a patch conditional on a field's value. */
export const JSON_PATCH = 'application/json-patch+json';
/** A JSON pointer's segment (RFC 6901): `~` and `/` escaped, as in a label key. */
export const pointerSegment = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** A failed API call: the HTTP status (0 when the server could not be reached) and the Status reason. */
export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409 && e.reason !== 'AlreadyExists';
export const isAlreadyExists = (e: unknown) => e instanceof KubeError && e.status === 409 && e.reason === 'AlreadyExists';
/** The API server refuses what was sent (malformed, invalid, too large): sending it again cannot help. */
export const isTerminal = (e: unknown) => e instanceof KubeError && (e.status === 400 || e.status === 413 || e.status === 422);
export const isUnreachable = (e: unknown) => e instanceof KubeError && (e.status === 0 || e.status === 503 || e.status === 504);

export interface CallOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  /** Answer the body as text (a pod's log), not parsed JSON. */
  text?: boolean;
}

/**
 * Loads KUBECONFIG, ~/.kube/config or the in-cluster service account, as kubectl does (a loaded config
 * passes through). A missing or unreadable file is a one-line error naming it (`KUBECONFIG /x: no such
 * file`), for every command that starts with one.
 */
export function loadKubeConfig(path?: string | KubeConfig): KubeConfig {
  if (path && typeof path !== 'string') return path;
  const { KubeConfig } = createRequire(import.meta.url)('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  const named = path ? { source: path === process.env.KUBECONFIG ? 'KUBECONFIG' : '--kubeconfig', files: [path] }
    : { source: 'KUBECONFIG', files: (process.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean) };
  for (const file of named.files) {
    if (!existsSync(file)) throw new Error(`${named.source} ${file}: no such file`);
  }
  const kc = new KubeConfig();
  const where = named.files.length ? `${named.source} ${named.files.join(delimiter)}` : 'the kubeconfig';
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`${where}: not a usable kubeconfig: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(named.files.length ? `${where}: no cluster for its current context` : 'no Kubernetes cluster configured: set KUBECONFIG or run in a pod');
  }
  return kc;
}

const resourceOf = (path: string): string => {
  // /api/v1/namespaces/ns/pods/name/status -> pods/status ; /apis/g/v/chaosruns -> chaosruns
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  const r = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
  return r.length > 2 ? `${r[0]}/${r[2]}` : (r[0] ?? '');
};

function verbOf(method: Method, path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  const named = rest[0] === 'namespaces' ? rest.length >= 4 || rest.length === 2 : rest.length >= 2;
  switch (method) {
    case 'GET': return named ? 'get' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    default: return 'delete';
  }
}

/** What code that only calls the API needs of a client (narrow, so it can be replaced in unit tests). */
export interface ApiClient {
  request<T>(method: Method, path: string, options?: CallOptions): Promise<T>;
}

export class KubeClient implements ApiClient {
  readonly access: ClusterAccess;
  /** For callers that sign their own requests (a pod's log stream): what the client authenticates with. */
  readonly kc: { applyToHTTPSOptions(options: object): Promise<void> };
  readonly server: URL;
  private agent?: HttpAgent | HttpsAgent;
  /** How many times resetConnections() has run: a request it cut off mid-flight is told apart by it. */
  private resets = 0;
  private readonly timeoutMs: number;

  constructor(access: ClusterAccess | KubeConfig, options: { timeoutMs?: number } = {}) {
    this.access = isKubeConfig(access) ? loadClusterAccess(access) : access;
    this.kc = { applyToHTTPSOptions: (o) => this.access.applyToHTTPSOptions(o as TlsAuth) };
    this.server = new URL(this.access.server);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The user this client acts as, for logs. */
  get userName(): string { return this.access.userName; }

  async request<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
    const auth: TlsAuth = {};
    await this.access.applyToHTTPSOptions(auth);
    const tls = this.server.protocol === 'https:';
    // Every attempt takes the pool as it is then: a retry after resetConnections() gets a fresh one with
    // this client's TLS options, never `agent: undefined` (Node's global agent, which knows neither
    // the cluster's CA nor the client certificate: "unable to verify the first certificate").
    const agent = () => (this.agent ??= tls
      ? new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: auth.ca, cert: auth.cert, key: auth.key,
        rejectUnauthorized: auth.rejectUnauthorized, servername: auth.servername })
      : new HttpAgent({ keepAlive: true, maxSockets: 64 }));
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { Accept: options.text ? 'text/plain, */*' : 'application/json', ...(auth.headers as Record<string, string> | undefined) };
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const verb = verbOf(method, path);
    const resource = resourceOf(path);
    const send = tls ? httpsRequest : httpRequest;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const attempt = (retried: boolean) => new Promise<T>((resolve, reject) => {
      const resets = this.resets;
      const req = send(url, { method, headers, agent: agent() }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new KubeError(0, 'Unreachable', `${method} ${url.pathname}: ${e.message}`)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          apiRequests.inc({ verb, resource, code: String(status) });
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
          if (status >= 200 && status < 300) { resolve((options.text ? text : parsed) as T); return; }
          const st = (parsed ?? {}) as { reason?: string; message?: string };
          reject(new KubeError(status, st.reason ?? String(status), st.message ?? (text.slice(0, 300) || `HTTP ${status}`)));
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A keep-alive socket the server closed while it sat idle in the pool (an API server that
        // restarted, or its idle timeout) fails the first request written on it with ECONNRESET
        // before the server read it. Node's documented remedy is to send it once more on a fresh
        // socket; anything else, or a second failure, is the caller's Unreachable.
        if (!retried && req.reusedSocket && e.code === 'ECONNRESET') { resolve(attempt(true)); return; }
        // This client's own resetConnections() (an informer's watchdog: a silent watch) destroyed the
        // pool, this request's socket with it ("socket hang up"): the server did not fail it, so it is
        // sent once more on a fresh socket. Not a create: it may have been carried out already.
        if (!retried && resets !== this.resets && method !== 'POST') { resolve(attempt(true)); return; }
        apiRequests.inc({ verb, resource, code: '0' });
        reject(new KubeError(0, 'Unreachable', `${method} ${url.pathname}: ${e.message}`));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
    return attempt(false);
  }

  /**
   * Watches a collection: a GET with watch=1 whose answer is a stream of JSON events, one per line,
   * on a connection of its own (a watch holds it for minutes). Resolves when the server ends the
   * stream (its timeout), rejects on an error or an abort.
   */
  async watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (event: { type: string; object: unknown }) => void, signal: AbortSignal): Promise<void> {
    const auth: TlsAuth = {};
    await this.access.applyToHTTPSOptions(auth);
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries({ ...query, watch: 1 })) if (v !== undefined) url.searchParams.set(k, String(v));
    const tls = this.server.protocol === 'https:';
    const resource = resourceOf(path);
    const options: RequestOptions = {
      method: 'GET', signal, agent: false,
      headers: { Accept: 'application/json', ...auth.headers },
      ...(tls ? { ca: auth.ca, cert: auth.cert, key: auth.key, rejectUnauthorized: auth.rejectUnauthorized, servername: auth.servername } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(url, options, (res) => {
        // A cut connection errors the response ("aborted"); it ends this watch like any other failure.
        res.on('error', (e) => reject(e.name === 'AbortError' ? e : new KubeError(0, 'Unreachable', `watch ${url.pathname}: ${e.message}`)));
        const status = res.statusCode ?? 0;
        apiRequests.inc({ verb: 'watch', resource, code: String(status) });
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let st: { reason?: string; message?: string } = {};
            try { st = JSON.parse(text) as typeof st; } catch { /* not a Status */ }
            reject(new KubeError(status, st.reason ?? String(status), st.message ?? (text.slice(0, 300) || `HTTP ${status}`)));
          });
          return;
        }
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        lines.on('error', () => {}); // readline repeats the response's error, which is handled above
        lines.on('line', (line) => {
          if (!line.trim()) return;
          try { onEvent(JSON.parse(line) as { type: string; object: unknown }); } catch (err) { req.destroy(err as Error); }
        });
        res.on('end', () => resolve());
        // Closed without an end or an error (the promise settles once: after 'end' this does nothing).
        res.on('close', () => reject(new KubeError(0, 'Unreachable', `watch ${url.pathname}: connection closed`)));
      });
      req.on('error', (e) => reject(e.name === 'AbortError' ? e : new KubeError(0, 'Unreachable', `watch ${url.pathname}: ${e.message}`)));
      req.end();
    });
  }

  /** Drops every pooled connection; the next request opens a fresh one. */
  resetConnections(): void { this.resets++; this.agent?.destroy(); this.agent = undefined; }

  /** Drops the pool for good: unlike resetConnections(), nothing cut off by it is sent again. */
  close(): void { this.agent?.destroy(); this.agent = undefined; }
}
