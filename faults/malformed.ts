// Malformed HTTP requests for the bad-input storm: random methods, paths, headers and bodies through
// an HTTP client, and raw bytes that are not valid HTTP at all. None is a valid signal: a POST to a
// signal route always carries a bad `for` query (answered 400 before anything is written), so any
// state change the storm causes is the server's fault.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Random } from './random.ts';

export type BadRequest =
  | { kind: 'http'; method: string; path: string; headers: Record<string, string>; body?: Buffer }
  | { kind: 'raw'; bytes: Buffer };

const JUNK = 'abcXYZ019-._~!$&\'()*+,;=:@/%?#[] é\u0000\u00ff\\"<>{}|^`';
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'BREW'];
const SIGNALS = ['RUN', 'PAUSE', 'STOP'];

const junk = (rng: Random, max: number) => Array.from({ length: rng.int(0, max) }, () => JUNK[rng.int(0, JUNK.length - 1)]).join('');
const pathJunk = (rng: Random, max: number) => encodeURI(junk(rng, max)).replace(/#/g, '%23');

function decoded(path: string): string {
  try { return decodeURIComponent(path.split('?')[0]); } catch { return path.split('?')[0]; }
}

/** A POST that routes to a signal would be a real signal; this makes sure it is refused (400) instead. */
export function defuse(method: string, path: string): string {
  const signalRoute = /^\/+(RUN|PAUSE|STOP)\/?$|^\/+runs\/+[^/]+\/+[^/]+\/+[^/]+\/?$/i;
  const posted = method.toUpperCase() === 'POST' || method.toUpperCase() === 'PUT' || method.toUpperCase() === 'PATCH';
  if (!posted || !(signalRoute.test(path.split('?')[0]) || signalRoute.test(decoded(path)))) return path;
  // `for` twice is refused for every signal ("give for once"), before the run is even looked up.
  return `${path.split('?')[0]}?for=1x&for=%zz`;
}

function randomPath(rng: Random, runs: Array<{ namespace: string; name: string }>): string {
  const run = rng.pick(runs);
  switch (rng.int(0, 7)) {
    case 0: return `/${pathJunk(rng, 40)}`;
    case 1: return `/${rng.pick(SIGNALS)}${rng.pick(['?for=', '?for=-1s', '?for=99999h', '?for=abc', '/', '/..', 'X', '%00'])}${pathJunk(rng, 5)}`;
    case 2: return `/runs/${run.namespace}/${run.name}/${rng.pick(['stop', 'STOPP', 'ST%4FP', 'RUN/', 'PAUSE/x', '', '%ZZ', pathJunk(rng, 10)])}`;
    case 3: return `/runs/${pathJunk(rng, 20)}/${pathJunk(rng, 20)}/${rng.pick(SIGNALS)}?for=${pathJunk(rng, 8)}`;
    case 4: return `/${'a'.repeat(rng.int(2_000, 40_000))}`;
    case 5: return `/runs/${run.namespace}/${run.name}${rng.pick(['', '/', '?x=1&x=2', '/%2e%2e/%2e%2e'])}`;
    case 6: return rng.pick(['/openapi.json/', '/metrics?x=' + pathJunk(rng, 50), '/healthz/..', '//RUN', '/%', '/runs%2f', '*']);
    default: return `/${rng.pick(SIGNALS)}?for=${rng.pick(['1m', '0s', '10m'])}&for=${pathJunk(rng, 6)}`;
  }
}

function randomHeaders(rng: Random): Record<string, string> {
  const h: Record<string, string> = {};
  if (rng.chance(0.5)) h['content-type'] = rng.pick(['application/json', 'text/plain', 'multipart/form-data; boundary=', 'application/x-www-form-urlencoded', junk(rng, 30).replace(/[^\x20-\x7e]/g, 'x')]);
  if (rng.chance(0.2)) h['content-encoding'] = rng.pick(['gzip', 'deflate', 'br', 'identity', 'bogus']);
  if (rng.chance(0.3)) h.authorization = `${rng.pick(['Bearer', 'Basic', ''])} ${junk(rng, 100).replace(/[^\x21-\x7e]/g, 'x')}`;
  if (rng.chance(0.2)) h[`x-junk-${rng.int(0, 999)}`] = 'v'.repeat(rng.int(1, 9_000));
  if (rng.chance(0.1)) h.accept = junk(rng, 40).replace(/[^\x20-\x7e]/g, '*');
  return h;
}

function randomBody(rng: Random): Buffer | undefined {
  const r = rng.next();
  if (r < 0.4) return undefined;
  if (r < 0.7) return Buffer.from(Array.from({ length: rng.int(1, 2048) }, () => rng.int(0, 255)));
  if (r < 0.97) return Buffer.from(rng.pick(['{', '{"signal":"STOP"}', 'null', '[]', '{"a":' + '['.repeat(5000), 'signal=STOP', '\u0000\u0000']));
  return Buffer.alloc(rng.int(1, 3) * 1024 * 1024, 0x41); // a huge body
}

function randomRaw(rng: Random, runs: Array<{ namespace: string; name: string }>): Buffer {
  const path = defuse('POST', randomPath(rng, runs));
  return Buffer.from(rng.pick([
    `${junk(rng, 200)}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n`,
    `GET / HTTP/9.9\r\n\r\n`,
    `GET /\u0000 HTTP/1.1\r\nHost: \u0000\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX: ${'y'.repeat(rng.int(10_000, 70_000))}\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort`,
    `${rng.pick(METHODS)} ${path}\r\n\r\n`,
  ]), 'latin1');
}

export function randomBadRequest(rng: Random, runs: Array<{ namespace: string; name: string }>): BadRequest {
  if (rng.chance(0.3)) return { kind: 'raw', bytes: randomRaw(rng, runs) };
  const method = rng.pick(METHODS);
  const body = randomBody(rng);
  return { kind: 'http', method, path: defuse(method, randomPath(rng, runs)), headers: randomHeaders(rng), ...(body ? { body } : {}) };
}

/** Sends one request to 127.0.0.1:port; resolves with the answer's status (0: no answer). Never rejects. */
export function send(port: number, req: BadRequest, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number) => { if (!settled) { settled = true; resolve(status); } };
    if (req.kind === 'raw') {
      const socket = connect(port, '127.0.0.1');
      let head = '';
      socket.setTimeout(timeoutMs, () => { socket.destroy(); done(0); });
      socket.on('data', (c: Buffer) => {
        head += c.toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (m) { done(Number(m[1])); socket.destroy(); }
      });
      socket.on('error', () => done(0));
      socket.on('close', () => done(0));
      socket.end(req.bytes);
      return;
    }
    try {
      const r = request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers, timeout: timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(res.statusCode ?? 0));
      });
      r.on('timeout', () => r.destroy());
      r.on('error', () => done(0));
      r.end(req.body);
    } catch {
      done(0); // the client itself refused the request (e.g. an invalid character in the path)
    }
  });
}
