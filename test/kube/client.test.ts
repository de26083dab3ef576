// The REST client against a plain HTTP server that plays an API server closing idle keep-alive
// sockets: the request written on such a socket is sent once more on a fresh one; a server that
// never answers is still the caller's Unreachable, not an endless retry.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
