// The operator under test: `chaosrun controller` and `chaosrun signal-server` as two child processes,
// started as `npm run local` starts them but from the compiled JavaScript the image runs (`npm run build`
// first, so the figures are the shipped form's), their output in a log file, their metrics read over HTTP.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { closeSync, openSync } from 'node:fs';
import { freePort } from '../src/local/controlplane.ts';
import { BUILT_CLI, spawnController, spawnOperator } from '../src/local/run-local.ts';
import { byLabel, scrape, total, type Sample } from './metrics.ts';

const repoRoot = resolve(import.meta.dirname, '..');

export const WRITE_VERBS = ['create', 'update', 'patch', 'delete'];

export interface Operator {
  signalUrl: string;
  metricsUrl: string;
  controllerArgs: string[];
  /** The controller's and the signal server's /metrics, read now. */
  scrape(): Promise<{ controller: Sample[]; signal: Sample[] }>;
  /** SIGKILL the controller (the dead-man bench), and start it again as before. */
  killController(): Promise<void>;
  restartController(): Promise<void>;
  stop(): Promise<void>;
}

/** What the bench reads from one scrape of both processes. */
export interface Reading {
  at: number;
  /** The controller's API requests by verb, and the signal server's as "signal-server VERB". */
  requestsByVerb: Record<string, number>;
  /** The controller's API requests by "verb resource". */
  controllerRequests: Record<string, number>;
  cpuSeconds: number;
  signalCpuSeconds: number;
  rssBytes: number;
  stepsStarted: number;
}

const requests = 'chaosrun_api_requests_total';

export async function read(op: Operator): Promise<Reading> {
  const { controller, signal } = await op.scrape();
  const verbs = byLabel(controller, requests, 'verb');
  for (const [verb, n] of Object.entries(byLabel(signal, requests, 'verb'))) verbs[`signal-server ${verb}`] = n;
  return {
    at: performance.now(),
    requestsByVerb: verbs,
    controllerRequests: byLabel(controller, requests, 'verb', 'resource'),
    cpuSeconds: total(controller, 'chaosrun_process_cpu_seconds_total'),
    signalCpuSeconds: total(signal, 'chaosrun_process_cpu_seconds_total'),
    rssBytes: total(controller, 'chaosrun_process_resident_memory_bytes'),
    stepsStarted: total(controller, 'chaosrun_steps_started_total'),
  };
}

async function ready(url: string, children: ChildProcess[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`an operator process exited (code ${dead.exitCode}) before it was ready`);
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startOperator(kubeconfig: string, controllerArgs: string[], logFile: string): Promise<Operator> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
  const fd = openSync(logFile, 'a');
  const children = spawnOperator(kubeconfig, { port, bind: '127.0.0.1', metricsPort, stdio: ['ignore', fd, fd], cli: BUILT_CLI }, controllerArgs);
  closeSync(fd);
  // The controller alone, as spawnOperator starts it (for restartController).
  const restart = () => {
    const out = openSync(logFile, 'a');
    const child = spawnController(kubeconfig, { metricsPort, stdio: ['ignore', out, out], cli: BUILT_CLI }, controllerArgs);
    closeSync(out);
    return child;
  };
  const signalUrl = `http://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const stop = async () => {
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => new Promise<void>((done) => {
      c.once('exit', () => done());
      c.kill('SIGTERM');
    })));
  };
  try {
    await ready(`${metricsUrl}/readyz`, children, 60_000);
    await ready(`${signalUrl}/readyz`, children, 60_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; see ${logFile}`);
  }
  return {
    signalUrl, metricsUrl, controllerArgs, stop,
    killController: async () => {
      const c = children[0];
      if (c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((done) => { c.once('exit', () => done()); c.kill('SIGKILL'); });
    },
    restartController: async () => {
      children[0] = restart();
      await ready(`${metricsUrl}/readyz`, [children[0]], 60_000);
    },
    scrape: async () => {
      const [controller, signal] = await Promise.all([scrape(`${metricsUrl}/metrics`), scrape(`${signalUrl}/metrics`)]);
      return { controller, signal };
    },
  };
}
