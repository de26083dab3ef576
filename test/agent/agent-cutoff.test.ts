// An agent cut off from the API server cannot see a STOP, a PAUSE or a holder's end, so it must not
// keep a fault in force on what it last saw: it lets go once the API server has not answered for
// API_SILENCE_MS, and takes the fault up again when it answers. The agent runs as a process whose only
// way to the API server is a TCP relay the test cuts (every connection dropped, new ones refused);
// the target's sandbox is a real network namespace found through a /proc stand-in, as in
// agent-shell.test.ts. Needs root (a network namespace, nft); without it the test is registered as
// skipped with the reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { API_SILENCE_MS } from '../../src/agent/main.ts';
import { listFound } from '../../src/agent/nft.ts';
import { addPauseProcess, createBareRun, createHolder, rootWithTools, spawnAgent, stopChild } from '../helpers/node-lab.ts';
import { eventually, testEnv, type TestEnv } from '../helpers/env.ts';

const need = rootWithTools('node agent cut-off test', ['ip', 'nft', 'nsenter'], 'to create a network namespace');
const skip = need ? { skip: need } : {};

const NODE = 'cutoff-node';
const netnsName = `crt-cutoff-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${netnsName}`;
const targetUid = randomUUID();
const proc = mkdtempSync(join(tmpdir(), 'agent-proc-'));
const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4 };
const env: TestEnv = need ? (undefined as unknown as TestEnv) : await testEnv('agent-cutoff');
let agent: ChildProcess | undefined;
let agentLog = '';

/** A TCP relay to the API server that can be cut (all connections dropped, new ones refused) and restored. */
class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly to: URL;
  port = 0;
  constructor(to: URL) { this.to = to; }
  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.to.port), this.to.hostname);
      for (const s of [client, upstream]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); s.on('error', () => s.destroy()); }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of this.sockets) s.destroy(); });
  }
}

describe('the agent cut off from the API server', { concurrency: false }, () => {
  let relay: Relay;
  before(async () => {
    if (need) return;
    execFileSync('ip', ['netns', 'add', netnsName]);
    addPauseProcess(proc, 4545, targetUid, netns);
    const server = /server: (\S+)/.exec(readFileSync(env.kubeconfig, 'utf8'))![1];
    relay = new Relay(new URL(server));
    await relay.open();
    // The same cluster and credentials, reached only through the relay (the API server's certificate names 127.0.0.1, whatever the port).
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'agent-cutoff-')), 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(env.kubeconfig, 'utf8').replace(server, `https://127.0.0.1:${relay.port}`));
    agent = spawnAgent(['--node', NODE, '--proc', proc], kubeconfig, (t) => { agentLog += t; });
  });
  after(async () => {
    await stopChild(agent, 'SIGTERM');
    await relay?.cut(); // its server and connections would keep this file's process alive
    if (!need) execFileSync('ip', ['netns', 'del', netnsName], { stdio: 'ignore' });
  });

  it(`lets the fault go within ${API_SILENCE_MS / 1000} s of the API server's silence (+ a pass), and takes it up again when it answers`, { ...skip, timeout: 90_000 }, async () => {
    await createBareRun(env.client, env.namespace, 'held', 'RUN');
    const id = (await createHolder(env.client, env.namespace, { name: 'holder', run: 'held', spec, targets: [{ namespace: 'shop', name: 'web-0', uid: targetUid, node: NODE }] })).toLowerCase();
    const inForce = async () => ((await listFound(netns)).find((f) => f.id === id)?.leaseExpiresInMs ?? 0) > 0;
    await eventually('the fault in force', inForce, 30_000, 50);

    await relay.cut();
    const cut = Date.now();
    await eventually('the fault let go with the API server silent', async () => !(await listFound(netns)).some((f) => f.id === id), API_SILENCE_MS + 10_000, 50);
    const letGoMs = Date.now() - cut;
    console.log(`API server cut off -> fault reverted: ${letGoMs} ms (API_SILENCE_MS ${API_SILENCE_MS})`);
    assert.ok(letGoMs >= API_SILENCE_MS - 1500, `not before the silence counts (${letGoMs} ms): a second's blip ends nothing`);
    assert.ok(letGoMs <= API_SILENCE_MS + 2500, `within the silence + a heartbeat and a pass (${letGoMs} ms)`);
    assert.match(agentLog, /the API server has not answered: every fault here is let go/);

    await relay.open();
    await eventually('the fault taken up again once the API server answers', inForce, 30_000, 100);
    assert.match(agentLog, /the API server answers again/);
  });
});
