// A thin REST client over the kubeconfig handling of @kubernetes/client-node. One keep-alive agent
// per process (client-node's generated APIs open a new TLS connection per request), explicit patch
// content types, a timeout on every call, and a count of every request by verb for the metrics.
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { delimiter } from 'node:path';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { apiRequests } from '../metrics/registry.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export const MERGE_PATCH = 'application/merge-patch+json';

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
  if (path instanceof KubeConfig) return path;
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
  readonly kc: KubeConfig;
  readonly server: URL;
  private agent?: HttpAgent | HttpsAgent;
  private readonly timeoutMs: number;

  constructor(kc: KubeConfig, options: { timeoutMs?: number } = {}) {
    this.kc = kc;
    this.server = new URL(kc.getCurrentCluster()!.server);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The user this client acts as, for logs. */
  get userName(): string { return this.kc.getCurrentUser()?.name ?? 'unknown'; }

  async request<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
    const auth: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    const tls = this.server.protocol === 'https:';
    this.agent ??= tls
      ? new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: auth.ca, cert: auth.cert, key: auth.key,
        rejectUnauthorized: auth.rejectUnauthorized, servername: auth.servername })
      : new HttpAgent({ keepAlive: true, maxSockets: 64 });
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
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent }, (res) => {
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
      req.on('error', (e) => {
        apiRequests.inc({ verb, resource, code: '0' });
        reject(new KubeError(0, 'Unreachable', `${method} ${url.pathname}: ${e.message}`));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** Drops every pooled connection; the next request opens a fresh one. */
  resetConnections(): void { this.agent?.destroy(); this.agent = undefined; }

  close(): void { this.resetConnections(); }
}
