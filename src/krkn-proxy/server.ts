// The krkn API proxy: a sidecar of a krkn step whose krkn makes its helpers in namespace `default`
// (src/krkn-proxy/rewrite.ts says why). It listens on the pod's loopback only, in plain HTTP, and
// forwards every request to the API server with the credentials of the kubeconfig it was given (the
// step's kubeconfigSecret) or of the pod's ServiceAccount, after moving requests about `default` into
// the step's helper namespace. krkn reads a kubeconfig that points at it (written once it listens).
//
// Hand-rolled on node:http/https rather than a proxy library: what it must do beyond piping bytes is
// one pure rewrite of the request line and body, and the upgrade of `exec` (krkn execs into its
// helper pod over a WebSocket) is ten lines of socket piping; client-node supplies the credentials
// (applyToHTTPSOptions: CA, client certificate, bearer token, re-read per request so a rotated
// ServiceAccount token is used).
import { renameSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { loadKubeConfig } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { isJsonBody, proxyKubeconfig, rewriteBody, rewriteResponse, rewriteTarget } from './rewrite.ts';

export interface KrknProxyOptions {
  /** The kubeconfig whose credentials the proxy uses; absent: KUBECONFIG, ~/.kube/config or the pod's ServiceAccount, as kubectl. */
  kubeconfig?: string;
  /** The namespace krkn hard-codes (`default`). */
  from: string;
  /** The step's helper namespace, where its requests go instead. */
  to: string;
  host: string;
  port: number;
  /** Where to write the kubeconfig krkn reads, once the proxy listens. */
  kubeconfigOut?: string;
  log: Logger;
}

export interface RunningKrknProxy { url: string; close(): Promise<void> }

/** Request bodies the proxy reads whole to rewrite: krkn's are a pod or a Job; a bigger one is refused. */
const MAX_BODY_BYTES = 8 << 20;

/** Hop-by-hop headers, and those the proxy sets itself. */
const DROPPED = new Set(['host', 'authorization', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length']);

/** A watch: its answer is a stream of JSON events, one a line. */
function isWatch(target: string): boolean {
  const q = target.indexOf('?');
  return /\/watch\//.test(q < 0 ? target : target.slice(0, q)) || (q >= 0 && /^(true|1)$/.test(new URLSearchParams(target.slice(q + 1)).get('watch') ?? ''));
}

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !DROPPED.has(k)) out[k] = v;
  return out;
}

/** A Kubernetes Status, as the API server answers errors (krkn's client reads it as one). */
function statusBody(code: number, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason: code === 413 ? 'RequestEntityTooLarge' : 'ServiceUnavailable', message });
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) { resolve(undefined); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startKrknProxy(o: KrknProxyOptions): Promise<RunningKrknProxy> {
  const kc = loadKubeConfig(o.kubeconfig);
  const upstream = new URL(kc.getCurrentCluster()!.server);
  const agent = new https.Agent({ keepAlive: true });

  /** The request options to the API server for one request: credentials read now, headers merged. */
  async function upstreamOptions(method: string, target: string, headers: Record<string, string | string[]>): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    return {
      ...opts,
      // One keep-alive pool; Node keys its connections by the TLS options (CA, certificate) too.
      agent,
      protocol: upstream.protocol, hostname: upstream.hostname.replace(/^\[|\]$/g, ''), port: upstream.port || (upstream.protocol === 'http:' ? 80 : 443),
      method, path: `${upstream.pathname.replace(/\/$/, '')}${target}`,
      headers: { ...headers, ...(opts.headers as Record<string, string> | undefined) },
    };
  }

  function moved(method: string, original: string, target: string): void {
    if (original !== target) o.log.info({ method, from: original, to: target }, `moved a request about namespace ${o.from} into ${o.to}`);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const original = req.url ?? '/';
    const target = rewriteTarget(original, o.from, o.to);
    const method = req.method ?? 'GET';
    moved(method, original, target);
    const headers = forwardedHeaders(req.headers);
    let body: Buffer | undefined;
    if (isJsonBody(req.headers['content-type']) && method !== 'GET') {
      body = await readBody(req);
      if (body === undefined) {
        res.writeHead(413, { 'content-type': 'application/json' }).end(statusBody(413, `the krkn API proxy reads request bodies of at most ${MAX_BODY_BYTES} bytes`));
        return;
      }
      body = Buffer.from(rewriteBody(body.toString('utf8'), o.from, o.to));
      headers['content-length'] = String(body.length);
    } else if (req.headers['content-length'] !== undefined) {
      headers['content-length'] = req.headers['content-length'];
    } else if (req.headers['transfer-encoding'] !== undefined) {
      headers['transfer-encoding'] = req.headers['transfer-encoding'];
    }
    const client = (upstream.protocol === 'http:' ? http : https).request(await upstreamOptions(method, target, headers), (up) => {
      const out = forwardedHeaders(up.headers);
      if (target === original || !isJsonBody(up.headers['content-type'])) {
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        return;
      }
      // A moved request's JSON answer says `from` again: a watch event by event (one a line), anything else whole.
      res.writeHead(up.statusCode ?? 502, out);
      const watch = isWatch(target);
      let rest = '';
      up.setEncoding('utf8');
      up.on('data', (chunk: string) => {
        rest += chunk;
        if (!watch) return;
        const lines = rest.split('\n');
        rest = lines.pop()!;
        for (const line of lines) res.write(`${rewriteResponse(line, o.from, o.to)}\n`);
      });
      up.on('end', () => res.end(rest ? rewriteResponse(rest, o.from, o.to) : undefined));
      up.on('error', () => res.destroy());
    });
    client.on('error', (err) => {
      o.log.warn({ err: err.message, method, path: target }, 'the API server could not be reached');
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' }).end(statusBody(503, `the krkn API proxy could not reach the API server: ${err.message}`));
      else res.destroy();
    });
    if (body !== undefined) client.end(body); else req.pipe(client);
  }

  /** An upgrade (exec, attach, port-forward over WebSocket or SPDY): the API server's answer, then bytes both ways. */
  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const original = req.url ?? '/';
    const target = rewriteTarget(original, o.from, o.to);
    moved(req.method ?? 'GET', original, target);
    const headers = { ...forwardedHeaders(req.headers), connection: 'Upgrade', upgrade: req.headers.upgrade ?? 'websocket' };
    const client = (upstream.protocol === 'http:' ? http : https).request({ ...(await upstreamOptions(req.method ?? 'GET', target, headers)), agent: false });
    client.on('upgrade', (up, upSocket, upHead) => {
      const lines = [`HTTP/1.1 ${up.statusCode ?? 101} ${up.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i < up.rawHeaders.length; i += 2) lines.push(`${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.pipe(socket).pipe(upSocket);
      const end = () => { upSocket.destroy(); socket.destroy(); };
      upSocket.on('error', end); socket.on('error', end); upSocket.on('close', end); socket.on('close', end);
    });
    client.on('response', (up) => {
      // Refused (no upgrade): the API server's status and body, then close.
      const lines = [`HTTP/1.1 ${up.statusCode ?? 502} ${up.statusMessage ?? ''}`];
      for (let i = 0; i < up.rawHeaders.length; i += 2) if (!/^(connection|transfer-encoding)$/i.test(up.rawHeaders[i])) lines.push(`${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}`);
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        const b = Buffer.concat(chunks);
        socket.end(`${lines.join('\r\n')}\r\ncontent-length: ${b.length}\r\nconnection: close\r\n\r\n${b.toString('binary')}`, 'binary');
      });
    });
    client.on('error', (err) => {
      o.log.warn({ err: err.message, path: target }, 'the API server could not be reached for an upgrade');
      const b = statusBody(503, `the krkn API proxy could not reach the API server: ${err.message}`);
      socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\nconnection: close\r\n\r\n${b}`);
    });
    client.end();
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      o.log.warn({ err: (err as Error).message }, 'a request failed in the proxy');
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' }).end(statusBody(503, (err as Error).message));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((err: unknown) => { o.log.warn({ err: (err as Error).message }, 'an upgrade failed in the proxy'); socket.destroy(); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  if (o.kubeconfigOut) {
    // Whole or not at all: the step's startup probe waits for this file, then krkn reads it.
    writeFileSync(`${o.kubeconfigOut}.tmp`, proxyKubeconfig(url), { mode: 0o644 });
    renameSync(`${o.kubeconfigOut}.tmp`, o.kubeconfigOut);
  }
  o.log.info({ url, upstream: upstream.origin, from: o.from, to: o.to }, 'krkn API proxy listening');
  return {
    url,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); agent.destroy(); }),
  };
}
