// The REST client against a plain HTTP server that plays an API server closing idle keep-alive
// sockets: the request written on such a socket is sent once more on a fresh one; a server that
// never answers is still the caller's Unreachable, not an endless retry. And over TLS: what the
// client's own resetConnections() cuts off.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePki } from '../../src/local/pki.ts';
import { KubeClient, KubeError } from '../../src/kube/client.ts';

function access(port: number) {
  return { server: `http://127.0.0.1:${port}`, userName: 'test', applyToHTTPSOptions: async () => {} };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

it('a request on a pooled socket the server dropped is sent again on a fresh socket', async () => {
  const served = new WeakSet<Socket>();
  let requests = 0;
  let resets = 0;
  const server = createServer((req, res) => {
    requests++;
    // The second request on a socket: reset it without answering, as a restarted API server's
    // kernel does to a connection the old process held.
    if (served.has(req.socket)) { resets++; req.socket.resetAndDestroy(); return; }
    served.add(req.socket);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ n: requests }));
  });
  const port = await listen(server);
  try {
    const client = new KubeClient(access(port));
    assert.deepEqual(await client.request('GET', '/a'), { n: 1 });
    // Same agent, so the idle socket is reused, reset, and the request retried on a new socket.
    assert.deepEqual(await client.request('GET', '/b'), { n: 3 });
    assert.equal(resets, 1, 'the reused socket was reset once');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

it('a fresh socket that is reset is not retried: the caller gets Unreachable', async () => {
  let requests = 0;
  const server = createServer((req) => { requests++; req.socket.resetAndDestroy(); });
  const port = await listen(server);
  try {
    const client = new KubeClient(access(port));
    await assert.rejects(client.request('GET', '/a'), (e: unknown) => e instanceof KubeError && e.status === 0 && e.reason === 'Unreachable');
    assert.equal(requests, 1, 'sent once');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

// Over TLS with the local plane's certificates, as the API server serves: an informer's watchdog calls
// resetConnections() while other requests are in flight on the shared pool. Those were sent again
// without the pool (Node's global agent, no CA: "unable to verify the first certificate") or failed
// with "socket hang up"; both crashed the fault campaign on a GET.
async function tlsServer(delayMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'client-tls-'));
  ensurePki(dir);
  const read = (f: string) => readFileSync(join(dir, f));
  let requests = 0;
  const server = createHttpsServer({ key: read('apiserver.key'), cert: read('apiserver.crt') }, (req, res) => {
    requests++;
    setTimeout(() => { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify({ path: req.url })); }, req.url === '/slow' ? delayMs : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = new KubeClient({ server: `https://127.0.0.1:${port}`, userName: 'test', applyToHTTPSOptions: async (o: { ca?: Buffer }) => { o.ca = read('ca.crt'); } });
  return {
    client, requests: () => requests,
    close: () => { client.close(); server.closeAllConnections(); server.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

it('a request cut off by resetConnections() is sent again on a fresh pool with the cluster\'s CA', async () => {
  const lab = await tlsServer(300);
  try {
    assert.deepEqual(await lab.client.request('GET', '/warm'), { path: '/warm' });
    // On the pooled socket (reusedSocket), then on a fresh one: each cut off mid-flight by a reset.
    for (const what of ['reused', 'fresh']) {
      if (what === 'fresh') lab.client.resetConnections();
      const pending = lab.client.request('GET', '/slow');
      setTimeout(() => lab.client.resetConnections(), 100);
      assert.deepEqual(await pending, { path: '/slow' }, `${what} socket`);
    }
    assert.equal(lab.requests(), 5, 'each cut-off GET was sent twice');
  } finally {
    lab.close();
  }
});

it('a create cut off by resetConnections() on a fresh socket is not sent again: Unreachable', async () => {
  const lab = await tlsServer(300);
  try {
    const pending = lab.client.request('POST', '/slow', { body: {} });
    setTimeout(() => lab.client.resetConnections(), 100);
    await assert.rejects(pending, (e: unknown) => e instanceof KubeError && e.status === 0 && /socket hang up/.test(e.message));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(lab.requests(), 1, 'sent once');
  } finally {
    lab.close();
  }
});
