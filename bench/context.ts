// What every scenario gets, and the few helpers they share: timing a write against the watch event
// that shows its effect, creating many runs with bounded concurrency, and POSTing to the signal server.
import type { V1Job } from '@kubernetes/client-node';
import type { ChaosRun, ChaosRunSpec, Phase, Scenario } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { createRun } from '../test/helpers/operator.ts';
import type { Operator } from './operator.ts';
import type { Summary } from './stats.ts';
import { WaitTimeout, type BenchWatch } from './watch.ts';

export interface Sizes {
  floorPatches: number;
  signals: number;
  resumes: number;
  stops: number;
  httpSeconds: number;
  idle: { finished: number; paused: number; seconds: number };
  /** The scale section runs once per size, so growth shows. */
  scale: { runs: number[]; stepSeconds: number; holdSeconds: number };
  console: { viewers: number; runs: number; seconds: number };
  /** 10: samples per latency, agent SIGKILLs, and the kill switch's runs (each with a lasting fault) and repetitions. */
  lasting: { samples: number; kills: number; killSwitchRuns: number; killSwitchReps: number };
}

export interface Bench {
  client: KubeClient;
  /** The plane's kubeconfig file (for the processes a scenario starts itself: the node agent). */
  kubeconfig: string;
  watch: BenchWatch;
  operator: Operator;
  /**
   * Namespaces: scenarios 2-4 and 6 share `main`; idle, safety and lasting have their own, and each scale
   * size one for its runs and one for its floor; `system` is the operator's (its kill-switch record).
   */
  namespaces: { main: string; idle: string; scale: string[]; floor: string[]; safety: string; lasting: string; system: string };
  sizes: Sizes;
  floor: Summary;
  /** Lost runs, duplicated steps, signals never applied: each makes the bench exit non-zero. */
  failures: string[];
  details: Record<string, unknown>;
}

/**
 * Runs `write`, then returns for each of `events` (watch timestamps, registered before the write) the
 * milliseconds from sending the write and from its response to it; fromResponse is 0 when the watch
 * saw it before the response arrived.
 */
export async function timeWrite(write: () => Promise<unknown>, ...events: Array<Promise<number>>): Promise<{ fromSend: number[]; fromResponse: number[] }> {
  // Awaited below; this only keeps a failed write from leaving them unhandled until they time out.
  for (const e of events) e.catch(() => {});
  const sent = performance.now();
  await write();
  const answered = performance.now();
  const seen = await Promise.all(events);
  return { fromSend: seen.map((at) => at - sent), fromResponse: seen.map((at) => Math.max(0, at - answered)) };
}

/** Records a wait that ran out as a failure (the figure then has fewer samples); anything else throws. */
export function failed(b: Bench, err: unknown, kind: string): void {
  if (!(err instanceof WaitTimeout)) throw err;
  b.failures.push(`${kind}: ${err.message}`);
}

export const inPhase = (...phases: Phase[]) => (r: ChaosRun | undefined) => phases.includes(r?.status?.phase as Phase);

/**
 * Waits until every run has started a step and that step's Job passes `test`; returns the Jobs' names.
 * (A run records its step in status before it creates the Job, so activeJob alone is not enough.)
 */
export async function stepJobs(b: Bench, namespace: string, runs: readonly string[], test: (j: V1Job | undefined) => boolean, timeoutMs = 120_000): Promise<string[]> {
  await b.watch.runs.whenAll(namespace, runs, (r) => Boolean(r?.status?.activeJob), timeoutMs, 'runs to start a step');
  const jobs = runs.map((name) => b.watch.runs.get(namespace, name)!.status!.activeJob!);
  await b.watch.jobs.whenAll(namespace, jobs, test, timeoutMs, 'the runs\' step Jobs');
  return jobs;
}

/** Creates the runs, at most `inFlight` requests at a time. */
export async function createRuns(client: KubeClient, namespace: string, names: readonly string[], spec: Partial<ChaosRunSpec> & { scenarios: Scenario[] }, inFlight = 20): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, names.length) }, async () => {
    while (next < names.length) await createRun(client, namespace, names[next++], spec);
  }));
}

export const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

/** POST to the signal server; a non-2xx answer throws with its body. */
export async function post(url: string): Promise<string> {
  const res = await fetch(url, { method: 'POST' });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
