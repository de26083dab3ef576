// Traffic probes the agent's end-to-end tests run inside a pod's sandbox (the host enters it with
// `nsenter --net=<ns> -- node test/e2e/net-probe.ts <mode> ...`; see probeIn in node-net.ts), so what
// they measure is what the packets really met there. Each mode writes one JSON line on stdout; a
// receiver first writes "ready" once it listens, and reports when its stdin ends (the test closes it
// once the sender is done) or, for the TCP sink, when the connection closes. Measured at the
// receiving side, because a drop on the sender's own egress comes back to the sender as ENOBUFS
// instead of being lost on the way.
//   udp-recv <port>                        -> {"distinct": n}: datagrams received, by sequence number
//   udp-send <host> <port> <count> <gapMs> -> {"sent": n, "errors": {"ENOBUFS": n, ...}}
//   tcp-sink <port>                        -> {"samples": [[msSinceFirstByte, bytesSoFar], ...]} every 100 ms
//   tcp-source <host> <port> <seconds>     -> {"written": bytes}: writes as fast as TCP takes, then resets
//   connect-times <host> <port> <n>        -> {"ms": [...]}: n TCP connects one after another, each timed to its SYN-ACK
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const [mode, ...args] = process.argv.slice(2);
const say = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function udpRecv(port: number): Promise<void> {
  const sock = createSocket('udp4');
  const seen = new Set<number>();
  sock.on('message', (m) => { if (m.length >= 4) seen.add(m.readUInt32BE(0)); });
  await new Promise<void>((r) => sock.bind(port, '0.0.0.0', r));
  say('ready');
  process.stdin.resume();
  process.stdin.on('end', () => { say({ distinct: seen.size }); sock.close(); });
}

async function udpSend(host: string, port: number, count: number, gapMs: number): Promise<void> {
  const sock = createSocket('udp4');
  const errors: Record<string, number> = {};
  let sent = 0;
  for (let seq = 0; seq < count; seq++) {
    const m = Buffer.alloc(64);
    m.writeUInt32BE(seq, 0);
    await new Promise<void>((r) => sock.send(m, port, host, (err) => {
      if (err) { const code = (err as NodeJS.ErrnoException).code ?? 'error'; errors[code] = (errors[code] ?? 0) + 1; } else sent++;
      r();
    }));
    await sleep(gapMs);
  }
  sock.close();
  say({ sent, errors });
}

async function tcpSink(port: number): Promise<void> {
  const server = createServer((s) => {
    let bytes = 0;
    let first: number | undefined;
    const samples: Array<[number, number]> = [];
    const tick = setInterval(() => { if (first !== undefined) samples.push([Math.round(nowMs() - first), bytes]); }, 100);
    s.on('data', (b: Buffer) => { first ??= nowMs(); bytes += b.length; });
    s.on('error', () => { /* the source resets the connection when it is done */ });
    s.on('close', () => {
      clearInterval(tick);
      if (first !== undefined) samples.push([Math.round(nowMs() - first), bytes]);
      say({ samples });
      server.close();
    });
  });
  await new Promise<void>((r) => server.listen(port, '0.0.0.0', r));
  say('ready');
}

async function tcpSource(host: string, port: number, seconds: number): Promise<void> {
  const s = connect({ host, port });
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const until = nowMs() + seconds * 1000;
  let written = 0;
  while (nowMs() < until) {
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), sleep(Math.max(0, until - nowMs()))]);
    written += chunk.length;
  }
  // A reset, not a FIN: what is still buffered would drain at the limited rate for seconds more.
  s.resetAndDestroy();
  say({ written });
}

async function connectTimes(host: string, port: number, n: number): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const s = connect({ host, port });
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      s.once('connect', () => { clearTimeout(timer); resolve(true); });
      s.once('error', () => { clearTimeout(timer); resolve(false); });
    });
    if (ok) ms.push(nowMs() - t0);
    s.destroy();
    await sleep(20);
  }
  say({ ms });
}

const n = (i: number) => Number(args[i]);
switch (mode) {
  case 'udp-recv': await udpRecv(n(0)); break;
  case 'udp-send': await udpSend(args[0], n(1), n(2), n(3)); break;
  case 'tcp-sink': await tcpSink(n(0)); break;
  case 'tcp-source': await tcpSource(args[0], n(1), n(2)); break;
  case 'connect-times': await connectTimes(args[0], n(1), n(2)); break;
  default: process.stderr.write(`net-probe: unknown mode ${JSON.stringify(mode)}\n`); process.exit(2);
}
