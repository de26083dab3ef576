// Set-up steps and their failures, as one line. `cluster up`, `--real-node`, the image builds, `npm test`'s own set-up
// and `npm run local` are the first things a newcomer runs; when one of them fails, they print
//   chaosrun: <what failed>: <why> (full log: <path>)
// and exit non-zero: no stack trace, no Buffer dump. The full output (the command's own stdout and
// stderr, the error's stack) goes to the named log under the cache's logs/ directory, which outlives
// the plane's own directory (`cluster down` removes that one).
// A leaf module apart from the cache's location.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './cache.ts';

export class SetupError extends Error {
  readonly what: string;
  readonly why: string;
  readonly log: string;
  constructor(what: string, why: string, log: string) {
    super(`${what}: ${why} (full log: ${log})`);
    this.name = 'SetupError';
    this.what = what;
    this.why = why;
    this.log = log;
  }
}

export function isSetupError(err: unknown): err is SetupError { return err instanceof SetupError; }

/** The log file of one set-up step, e.g. setupLog('images') → <cache>/logs/images.log. */
export function setupLog(step: string): string {
  const dir = join(cacheRoot(), 'logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${step}.log`);
}

/** The last line of a command's output that says something: the likeliest reason it failed. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.at(-1) ?? 'no output';
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
}

/** Writes an error in full (stack, and a child process's stdout/stderr as text) to a log. */
export function recordError(log: string, err: unknown): void {
  const e = err as { stack?: string; message?: string; stdout?: unknown; stderr?: unknown };
  const text = (v: unknown) => (v === undefined || v === null ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  appendFileSync(log, `\n[${new Date().toISOString()}] ${e?.stack ?? e?.message ?? String(err)}\n${text(e?.stdout)}${text(e?.stderr)}\n`);
}

/**
 * Runs one set-up step; any failure inside it becomes a SetupError naming the step, with its full
 * text in the step's log. A SetupError from a narrower step inside passes through unchanged.
 */
export async function setupStep<T>(what: string, step: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isSetupError(err)) throw err;
    const log = setupLog(step);
    recordError(log, err);
    const e = err as { message?: string; stderr?: unknown };
    const stderr = e?.stderr ? lastLine(Buffer.isBuffer(e.stderr) ? e.stderr.toString('utf8') : String(e.stderr)) : '';
    const first = lastLine((e?.message ?? String(err)).split('\n')[0]);
    throw new SetupError(what, stderr && stderr !== 'no output' ? `${first}: ${stderr}` : first, log);
  }
}

/** The one line a set-up failure prints, for the entry points that catch it. */
export function setupFailureLine(err: unknown, fallbackStep = 'setup'): string {
  if (isSetupError(err)) return `chaosrun: ${err.message}`;
  const log = setupLog(fallbackStep);
  recordError(log, err);
  const first = ((err as Error)?.message ?? String(err)).split('\n')[0];
  return `chaosrun: ${first} (full log: ${log})`;
}

/**
 * Runs one of the Go build scripts (a no-op when its cache is warm) and returns the directory it
 * prints. Its progress lines reach stderr as they happen; the compilers' output goes to the step's
 * log, which a failure names.
 */
export function runBuildScript(script: string, what: string, step: string): string {
  const logFile = setupLog(step);
  writeFileSync(logFile, '');
  const r = spawnSync('bash', [script], {
    stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, CHAOSRUN_SETUP_LOG: logFile },
  });
  if (r.status !== 0) {
    const why = lastLine(readFileSync(logFile, 'utf8'));
    throw new SetupError(what, why === 'no output' ? `${script} exited ${r.status ?? r.signal}` : why, logFile);
  }
  return r.stdout.trim().split('\n').pop()!;
}
