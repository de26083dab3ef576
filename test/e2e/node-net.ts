// What the real node's network shows and does, for the node agent's end-to-end tests: every network
// namespace of the node and the chaosrun_* tables in them (read from /proc and nft on the host, not
// from what the agent reports), a pod's sandbox, the demo workload (a busybox httpd target and client),
// and traffic made from the host inside a pod's sandbox (nsenter): HTTP requests on new connections,
// and the probes of net-probe.ts that measure loss, throughput and connect times where the packets go.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, placement, type Pod } from './e2e.ts';
import type { TestEnv } from '../helpers/env.ts';
import { BUSYBOX_IMAGE } from '../../src/realnode/images.ts';
import { findSandboxes } from '../../src/agent/sandboxes.ts';
import { listFound } from '../../src/agent/nft.ts';
import { ANNOTATION_FAULT_TARGETS, LABEL_FAULT } from '../../src/api/fault-holder.ts';
import { LABEL_RUN } from '../../src/api/constants.ts';

// --- what the node shows -------------------------------------------------------------------------------

/**
 * Every distinct network namespace of the node (one process path each; `ip netns` lists none of the
 * CNI's): the host's own and that of every process in the node's pod cgroups (sandboxes and
 * containers). Read from /proc, not from what the agent reports. Other namespaces on this machine
 * (other tests' own, made with `ip netns add`) are not the node's and are left out.
 */
export function everyNetns(): string[] {
  const seen = new Map<string, string>([[readlinkSync('/proc/self/ns/net'), '/proc/self/ns/net']]);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes('/kubepods')) continue;
      const id = readlinkSync(`/proc/${pid}/ns/net`);
      if (!seen.has(id)) seen.set(id, `/proc/${pid}/ns/net`);
    } catch { /* gone, or a kernel thread */ }
  }
  return [...seen.values()];
}

/** chaosrun_* tables anywhere on the node, as "netns: table". */
export function chaosrunTablesOnNode(): string[] {
  const out: string[] = [];
  for (const netns of everyNetns()) {
    const r = spawnSync('nsenter', [`--net=${netns}`, '--', 'nft', 'list', 'tables'], { encoding: 'utf8' });
    for (const line of (r.stdout ?? '').split('\n')) if (/\bchaosrun_/.test(line)) out.push(`${netns}: ${line.trim()}`);
  }
  return out;
}

/** The network namespace of a pod's sandbox on the node, as the agent finds it (/proc/<pause pid>/ns/net). */
export function sandboxOf(uid: string): string {
  const netns = findSandboxes().get(uid);
  if (!netns) throw new Error(`no sandbox found on the node for pod uid ${uid}`);
  return netns;
}

// --- the workload --------------------------------------------------------------------------------------

/** A busybox httpd on :8080 serving "ok"; the document root is in httpd's own argv, so the host's pgrep finds it. */
export function httpdPod(namespace: string, name: string, app: string, docroot: string): unknown {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { app } },
    spec: {
      ...placement, terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'httpd', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never',
        command: ['sh', '-c', `mkdir -p ${docroot} && echo ok > ${docroot}/index.html && exec httpd -f -p 8080 -h ${docroot}`],
      }],
    },
  };
}

export interface Workload { target: Pod; client: Pod; targetNetns: string; clientNetns: string; toTarget: string; toClient: string }

export const getPod = (env: TestEnv, namespace: string, name: string): Pod =>
  JSON.parse(env.kubectl(['get', 'pod', '-n', namespace, name, '-o', 'json'])) as Pod;

/**
 * Pods `target` (app=target, its httpd's document root `targetDocroot`) and `client` (app=client) in
 * `namespace`, Running, each reaching the other's httpd from inside its own sandbox.
 */
export async function startWorkload(env: TestEnv, namespace: string, targetDocroot: string): Promise<Workload> {
  const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  apply(httpdPod(namespace, 'target', 'target', targetDocroot));
  apply(httpdPod(namespace, 'client', 'client', '/tmp/client'));
  for (const name of ['target', 'client']) {
    await eventually(`${name} Running with an address`, () => { const p = getPod(env, namespace, name); return p.status.phase === 'Running' && p.status.podIP; }, 90_000, 250);
  }
  const target = getPod(env, namespace, 'target');
  const client = getPod(env, namespace, 'client');
  const w: Workload = {
    target, client, targetNetns: sandboxOf(target.metadata.uid), clientNetns: sandboxOf(client.metadata.uid),
    toTarget: `http://${target.status.podIP}:8080/`, toClient: `http://${client.status.podIP}:8080/`,
  };
  await eventually('client -> target before the fault', () => request(w.clientNetns, w.toTarget), 30_000, 200);
  await eventually('target -> client before the fault', () => request(w.targetNetns, w.toClient), 30_000, 200);
  return w;
}

export type HolderPod = Pod & { metadata: { annotations?: Record<string, string> } };

/** Waits for the Running holder pod of `run`'s lasting step (network unless `kind` says), its targets recorded on it. */
export async function runningHolder(env: TestEnv, namespace: string, run: string, timeoutMs = 120_000, kind = 'network'): Promise<HolderPod> {
  return eventually(`the holder pod of ${namespace}/${run} Running with its targets recorded`, () => {
    const pods = JSON.parse(env.kubectl(['get', 'pods', '-n', namespace, '-l', `${LABEL_FAULT}=${kind},${LABEL_RUN}=${run}`, '-o', 'json'])).items as HolderPod[];
    return pods.find((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp && p.metadata.annotations?.[ANNOTATION_FAULT_TARGETS]);
  }, timeoutMs, 200);
}

// --- requests from inside a sandbox --------------------------------------------------------------------

/** One HTTP request on a new connection, from inside `netns` (undefined: the host's own). */
export function request(netns: string | undefined, url: string): Promise<boolean> {
  const curl = ['curl', '-sf', '--connect-timeout', '1', '-m', '1', '-o', '/dev/null', url];
  const [cmd, ...args] = netns ? ['nsenter', `--net=${netns}`, '--', ...curl] : curl;
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.on('exit', (code) => { clearTimeout(kill); resolve(code === 0); });
    child.on('error', () => { clearTimeout(kill); resolve(false); });
  });
}

/** `n` requests at once: all of them fail. */
export async function allFail(netns: string | undefined, url: string, n = 3): Promise<boolean> {
  return (await Promise.all(Array.from({ length: n }, () => request(netns, url)))).every((ok) => !ok);
}

/**
 * Starts a request every `everyMs` until one succeeds; returns how long after `since` that first
 * successful request was started (so the figure is the heal time to within `everyMs`, not a request
 * timeout). Throws when none succeeds within `withinMs` + 3 s.
 */
export async function healedAfter(netns: string, url: string, since: number, withinMs: number, everyMs = 50): Promise<number> {
  const deadline = since + withinMs + 3000;
  let firstOk: number | undefined;
  const inFlight: Promise<void>[] = [];
  while (firstOk === undefined && Date.now() < deadline) {
    const started = Date.now();
    inFlight.push(request(netns, url).then((ok) => { if (ok && (firstOk === undefined || started < firstOk)) firstOk = started; }));
    await sleep(everyMs);
  }
  await Promise.all(inFlight);
  if (firstOk === undefined) throw new Error(`no request from ${netns} to ${url} succeeded within ${withinMs + 3000} ms`);
  return firstOk - since;
}

/** Waits until the fault's table is in `netns` with a live lease; returns how long after `since` it was seen. */
export async function tableAfter(netns: string, id: string, since: number, timeoutMs = 30_000): Promise<number> {
  return eventually(`the table of ${id} in force in ${netns}`, async () =>
    ((await listFound(netns)).some((f) => f.id === id && (f.leaseExpiresInMs ?? 0) > 0) ? Date.now() - since : undefined), timeoutMs, 20);
}

/** Waits until requests fail (the fault applied); returns how long after `since`. */
export async function cutAfter(netns: string, url: string, since: number, timeoutMs = 30_000): Promise<number> {
  return eventually(`requests from ${netns} to ${url} to fail`, async () => (await allFail(netns, url, 2) ? Date.now() - since : undefined), timeoutMs, 50);
}

// --- probes (net-probe.ts) inside a sandbox ------------------------------------------------------------

const PROBE = join(import.meta.dirname, 'net-probe.ts');

export interface Probe<T> {
  /** A receiver's "ready": it listens. */
  ready: Promise<void>;
  /** Its one JSON report. */
  result: Promise<T>;
  /** Closes its stdin: a UDP receiver reports what it counted and exits. */
  done(): void;
}

/** Runs `net-probe.ts <args>` with this Node inside `netns`; killed after `timeoutMs`. */
export function probeIn<T>(netns: string, args: string[], timeoutMs = 120_000): Probe<T> {
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, PROBE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  const ready = new Promise<void>((r) => { markReady = r; });
  const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = new Promise<T>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (/^"ready"$/m.test(stdout)) markReady();
    });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(kill);
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as T);
      else reject(new Error(`net-probe ${args.join(' ')} in ${netns} ended ${signal ?? `with ${code}`}: ${stderr.trim() || stdout.trim() || 'no output'}`));
    });
  });
  // A probe that fails before it is ready must not leave its waiter hanging.
  const readyOrFailed = Promise.race([ready, result.then(() => { throw new Error(`net-probe ${args.join(' ')} reported before it was ready`); })]);
  result.catch(() => { /* read through `result` */ });
  readyOrFailed.catch(() => { /* read through `ready` */ });
  child.stdin.on('error', () => { /* gone already */ });
  return { ready: readyOrFailed, result, done: () => child.stdin.end() };
}

/** `count` UDP datagrams from `from` to host:port, `gapMs` apart, counted by a receiver in `at`. */
export async function udpDelivery(from: string, at: string, host: string, port: number, count: number, gapMs: number): Promise<{ sent: number; received: number; errors: Record<string, number> }> {
  const receiver = probeIn<{ distinct: number }>(at, ['udp-recv', String(port)]);
  await receiver.ready;
  const sender = await probeIn<{ sent: number; errors: Record<string, number> }>(from, ['udp-send', host, String(port), String(count), String(gapMs)]).result;
  // The last datagrams are on their way: a moment for them to land.
  await sleep(500);
  receiver.done();
  return { sent: sender.sent, received: (await receiver.result).distinct, errors: sender.errors };
}

/**
 * One TCP connection from `from` to a sink in `at` (host:port), written to as fast as TCP takes for
 * `seconds`; the receiver's goodput in bits per second from `skipSeconds` after the first byte to the
 * last sample (so the policer's initial burst and TCP's start are left out).
 */
export async function tcpGoodput(from: string, at: string, host: string, port: number, seconds: number, skipSeconds: number): Promise<{ bitsPerSecond: number; overMs: number; bytes: number }> {
  const sink = probeIn<{ samples: Array<[number, number]> }>(at, ['tcp-sink', String(port)]);
  await sink.ready;
  await probeIn<{ written: number }>(from, ['tcp-source', host, String(port), String(seconds)]).result;
  const { samples } = await sink.result;
  const start = samples.find(([ms]) => ms >= skipSeconds * 1000);
  const end = samples.at(-1);
  if (!start || !end || end[0] - start[0] < 1000) throw new Error(`too few samples to measure over: ${JSON.stringify(samples)}`);
  const overMs = end[0] - start[0];
  const bytes = end[1] - start[1];
  return { bitsPerSecond: (bytes * 8 * 1000) / overMs, overMs, bytes };
}

/** `n` TCP connects from `from` to host:port one after another; each one's time to its SYN-ACK, in ms. */
export async function connectTimes(from: string, host: string, port: number, n: number): Promise<number[]> {
  return (await probeIn<{ ms: number[] }>(from, ['connect-times', host, String(port), String(n)]).result).ms;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
