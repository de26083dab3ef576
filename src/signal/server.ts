// The signal server as a running thing: a ChaosRun informer for reads, a client for patches, the
// Express app on HTTP or HTTPS. It needs no leader lease: every replica can serve.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ChaosRun } from '../api/types.ts';
import { KubeClient } from '../kube/client.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { Informer } from '../kube/informer.ts';
import { podNamespace } from '../kube/namespace.ts';
import { paths } from '../kube/paths.ts';
import { createLogger, type Logger } from '../log.ts';
import { createSignalApp } from './app.ts';
import { kubernetesAuth, noAuth } from './auth.ts';
import { scopeText } from './kill-switch.ts';

export interface SignalServerOptions {
  kubeconfig?: string | KubeConfig;
  /** Default 8081, like krkn; 0 picks a free port. */
  port?: number;
  /** Default 0.0.0.0. */
  bind?: string;
  auth: 'kubernetes' | 'none';
  tlsCert?: string;
  tlsKey?: string;
  /** Namespaces whose runs are in scope; default all the server can see. */
  namespaces?: string[];
  labelSelector?: string;
  log?: Logger;
  watchdogMs?: number;
  /** How long an event stream lasts before the client must reconnect; default 30 min. */
  streamMaxMs?: number;
  /** The operator's namespace, where POST /STOP writes the kill-switch record; default its pod's (src/kube/namespace.ts); none outside a pod: no record. */
  killSwitchNamespace?: string;
}

export interface SignalServer { url: string; port: number; stop(): Promise<void> }

/** Stragglers on keep-alive connections get this long after stop() before they are cut. */
const CLOSE_GRACE_MS = 5000;

export async function startSignalServer(opts: SignalServerOptions): Promise<SignalServer> {
  const log = opts.log ?? createLogger('signal-server');
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new Error('TLS needs both a certificate and a key file');
  const client = new KubeClient(loadClusterAccess(opts.kubeconfig));
  const cache = new Informer<ChaosRun>(client, {
    path: (ns) => paths.chaosRuns(ns), namespaces: opts.namespaces, labelSelector: opts.labelSelector,
    watchdogMs: opts.watchdogMs, log, name: 'chaosruns',
  });
  const auth = opts.auth === 'none' ? noAuth : kubernetesAuth(client);
  const recordNamespace = opts.killSwitchNamespace ?? podNamespace();
  const killSwitch = recordNamespace ? { namespace: recordNamespace, scope: scopeText(opts.namespaces, opts.labelSelector) } : undefined;
  const app = createSignalApp({ client, cache, auth, log, streamMaxMs: opts.streamMaxMs, killSwitch });

  const tls = opts.tlsCert !== undefined;
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(opts.tlsCert!), key: readFileSync(opts.tlsKey!) }, app)
    : createHttpServer(app);
  // A client that never finishes its request must not hold a socket for ever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const bind = opts.bind ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8081, bind, () => { server.off('error', reject); resolve(); });
  });
  server.on('clientError', (err, socket) => {
    log.debug({ err }, 'bad HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const port = (server.address() as AddressInfo).port;
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind.includes(':') ? `[${bind}]` : bind;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  if (auth.mode === 'none') {
    log.warn({ bind, port }, 'authentication is OFF (--auth=none): anyone who can reach this port can signal every run in scope');
  }
  log.info({ url, auth: auth.mode, namespaces: opts.namespaces ?? 'all', labelSelector: opts.labelSelector, killSwitch: recordNamespace ?? 'none (not in a pod, and no --operator-namespace)' }, 'signal server listening');

  // Listening before the cache syncs lets probes in: /healthz answers, /readyz says not yet.
  await cache.start();
  log.info({ runs: cache.list().length }, 'ChaosRun cache synced');

  return {
    url, port,
    async stop() {
      cache.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cut);
      client.close();
    },
  };
}
