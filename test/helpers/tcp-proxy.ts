// A TCP proxy between a client and the API server that a test controls: cut every connection at
// once, or freeze the open ones silently (no bytes either way, nothing closed) as a half-open link
// does, while new connections still go through.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface TcpProxy {
  port: number;
  /** A kubeconfig like the admin one, but pointing at the proxy. */
  kubeconfig: string;
  connections(): number;
  cut(): void;
  freeze(): void;
  close(): Promise<void>;
}

export async function startProxy(target: URL, adminKubeconfig: string): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const frozen = new WeakSet<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const pipe = (from: Socket, to: Socket) => from.on('data', (chunk: Buffer) => { if (!frozen.has(from)) to.write(chunk); });
    pipe(client, upstream);
    pipe(upstream, client);
    const end = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const kubeconfig = join(tmpdir(), `chaosrun-proxy-${randomBytes(4).toString('hex')}.kubeconfig`);
  writeFileSync(kubeconfig, readFileSync(adminKubeconfig, 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${port}`));
  return {
    port,
    kubeconfig,
    connections: () => pairs.size,
    cut: () => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } pairs.clear(); },
    // Bytes on a frozen connection are dropped, as a black-holed link would lose them.
    freeze: () => { for (const [a, b] of pairs) { frozen.add(a); frozen.add(b); } },
    close: () => new Promise<void>((r) => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } server.close(() => r()); }),
  };
}
