// Traffic probes for test/agent/nft-lease.test.ts and delay.test.ts, run inside a network namespace with
// `ip netns exec <ns> node test/agent/netns-probe.ts <mode> ...`. Each prints JSON lines on stdout;
// servers print {"ready":true} once listening and their result when their stdin closes (or at maxMs).
// Every loop is bounded by a count or a time.
//   connects <host> <port> <count> <timeoutMs>         sequential TCP connects -> {ok, failed}
//   until-connect <host> <port> <maxMs> <attemptMs>     connect until one succeeds -> {at: epoch ms | null, attempts}
//   connect-times <host> <port> <count> <timeoutMs>     sequential TCP connects, each one's time from connect() to
//                                                       the SYN/ACK's arrival -> {times: [ms], failed}
//   until-fast <host> <port> <maxMs> <underMs> <attemptMs>
//                                                       {ready}, then connect (each attempt given up after attemptMs)
//                                                       until one takes under underMs -> {at: epoch ms | null, attempts, lastMs}
//   tcp-sink <ip> <port> <maxMs>                        accept, count bytes -> {bytes, firstAt, lastAt, marks: [[ms, bytes]]} per connection
//                                                       that carried data
//   tcp-send <host> <port> <ms>                         write as fast as TCP takes it for ms -> {written}
//   udp-recv <ip> <port> <maxMs>                        count datagrams -> {received}
//   udp-send <host> <port> <count> <perMs>              {ready} then count datagrams, perMs of them each ms -> {sent, errors}
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const [mode, host, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);
const num = (i: number) => Number(rest[i]);
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** One connect's time in milliseconds (the SYN -> SYN/ACK round trip), or undefined when it failed. */
function timeConnect(timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = connect({ host, port });
    const done = (ms: number | undefined) => { clearTimeout(timer); s.destroy(); resolve(ms); };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.once('connect', () => done(Math.round((performance.now() - started) * 1000) / 1000));
    s.once('error', () => done(undefined));
  });
}

function tryConnect(timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { clearTimeout(timer); s.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Ends a server when its stdin closes (the test is done with it) or at maxMs, whichever is first. */
function untilStopped(maxMs: number, stop: () => void): void {
  const timer = setTimeout(stop, maxMs);
  process.stdin.resume();
  process.stdin.once('end', () => { clearTimeout(timer); stop(); });
}

switch (mode) {
  case 'connects': {
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < num(0); i++) (await tryConnect(num(1))) ? ok++ : failed++;
    say({ ok, failed });
    break;
  }
  case 'until-connect': {
    const end = Date.now() + num(0);
    let attempts = 0;
    let at: number | null = null;
    while (Date.now() < end) {
      attempts++;
      const started = Date.now();
      if (await tryConnect(num(1))) { at = Date.now(); break; }
      await sleep(Math.max(0, num(1) - (Date.now() - started)));
    }
    say({ at, attempts });
    break;
  }
  case 'connect-times': {
    const times: number[] = [];
    let failed = 0;
    for (let i = 0; i < num(0); i++) {
      const ms = await timeConnect(num(1));
      if (ms === undefined) failed++; else times.push(ms);
    }
    say({ times, failed });
    break;
  }
  case 'until-fast': {
    const end = Date.now() + num(0);
    let attempts = 0;
    let at: number | null = null;
    let lastMs: number | undefined;
    say({ ready: true });
    while (Date.now() < end) {
      attempts++;
      lastMs = await timeConnect(Math.max(1, Math.min(num(2), end - Date.now())));
      if (lastMs !== undefined && lastMs < num(1)) { at = Date.now(); break; }
      if (lastMs === undefined) await sleep(10);
    }
    say({ at, attempts, lastMs });
    break;
  }
  case 'tcp-sink': {
    const conns: Array<{ bytes: number; firstAt: number; lastAt: number; marks: Array<[number, number]> }> = [];
    const server = createServer((s) => {
      const c = { bytes: 0, firstAt: 0, lastAt: 0, marks: [] as Array<[number, number]> };
      conns.push(c);
      s.on('data', (d: Buffer) => {
        c.lastAt = Date.now();
        if (!c.firstAt) c.firstAt = c.lastAt;
        c.bytes += d.length;
        if (!c.marks.length || c.lastAt - c.marks[c.marks.length - 1][0] >= 100) c.marks.push([c.lastAt, c.bytes]);
      });
      s.on('error', () => {});
    });
    server.listen(port, host, () => say({ ready: true }));
    // What each connection that carried data brought, open or closed, when the test is done.
    untilStopped(num(0), () => { for (const c of conns) if (c.bytes) say(c); process.exit(0); });
    break;
  }
  case 'tcp-send': {
    const s = connect({ host, port });
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    let written = 0;
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    const end = Date.now() + num(0);
    while (Date.now() < end) {
      written += chunk.length;
      if (!s.write(chunk)) {
        await Promise.race([new Promise((r) => s.once('drain', r)), sleep(Math.max(1, end - Date.now()))]);
      }
    }
    // Whatever is still queued is not waited for: the receiver measures what arrived.
    say({ written });
    s.destroy();
    break;
  }
  case 'udp-recv': {
    const sock = createSocket('udp4');
    let received = 0;
    sock.on('message', () => { received++; });
    sock.bind(port, host, () => say({ ready: true }));
    untilStopped(num(0), () => { say({ received }); sock.close(); });
    break;
  }
  case 'udp-send': {
    const sock = createSocket('udp4');
    const payload = Buffer.alloc(64, 0x62);
    let sent = 0;
    const errors: Record<string, number> = {};
    say({ ready: true });
    for (let i = 0; i < num(0); i++) {
      await new Promise<void>((resolve) => sock.send(payload, port, host, (err) => {
        if (err) { const code = (err as NodeJS.ErrnoException).code ?? err.message; errors[code] = (errors[code] ?? 0) + 1; } else sent++;
        resolve();
      }));
      if ((i + 1) % num(1) === 0) await sleep(1);
    }
    say({ sent, errors });
    sock.close();
    break;
  }
  default:
    console.error(`netns-probe: unknown mode ${JSON.stringify(mode)}`);
    process.exit(2);
}
