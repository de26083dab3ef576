// A small HTTP endpoint for a process's /metrics, /healthz and /readyz (the controller's probes).
import { createServer, type Server } from 'node:http';
import { registry } from './registry.ts';

/**
 * `json` adds read-only routes answered with JSON (the node agent's GET /faults); a handler that
 * throws answers 500 with its message.
 */
export function startMetricsServer(port: number, bind: string, ready: () => boolean, beforeScrape?: () => void, json: Record<string, () => unknown> = {}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'method not allowed', reason: 'MethodNotAllowed' }));
      return;
    }
    if (path === '/healthz') { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n'); return; }
    if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    if (path === '/metrics') {
      beforeScrape?.();
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(err.message),
      );
      return;
    }
    const route = Object.hasOwn(json, path) ? json[path] : undefined;
    if (route) {
      try {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(route()));
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message, reason: 'InternalError' }));
      }
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: `no route ${path}`, reason: 'NotFound' }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve(server));
  });
}
