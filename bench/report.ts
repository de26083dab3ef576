// Figures, the table they print as (stdout and the README), and the JSON file under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine } from './machine.ts';
import { summarize, type Summary } from './stats.ts';

export interface Figure {
  section: string;
  name: string;
  unit: string;
  samples: number;
  /** A distribution (latencies) ... */
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  /** ... or one measured value (a throughput, a count, a duration). */
  value?: number;
  /** p50 and p99 as multiples of the floor's. */
  vsFloor?: { p50: number; p99: number };
  note?: string;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A distribution of samples in `unit`; with `floor` (a latency in ms), also as multiples of it. */
export function distribution(section: string, name: string, unit: string, samples: readonly number[], floor?: Summary, note?: string): Figure {
  if (samples.length === 0) return { section, name, unit, samples: 0, note: note ?? 'no samples: see failures' };
  const s = summarize(samples);
  return {
    section, name, unit, samples: s.n, p50: round(s.p50), p95: round(s.p95), p99: round(s.p99), max: round(s.max),
    ...(floor ? { vsFloor: { p50: round(s.p50 / floor.p50, 1), p99: round(s.p99 / floor.p99, 1) } } : {}),
    ...(note ? { note } : {}),
  };
}

export const latency = (section: string, name: string, samplesMs: readonly number[], floor?: Summary, note?: string) =>
  distribution(section, name, 'ms', samplesMs, floor, note);

export const value = (section: string, name: string, unit: string, v: number, samples = 1, note?: string): Figure =>
  ({ section, name, unit, samples, value: round(v), ...(note ? { note } : {}) });

const cell = (x: number | undefined) => (x === undefined ? '' : String(x));

export function table(figures: readonly Figure[]): string {
  const rows = [
    '| # | figure | unit | samples | p50 / value | p95 | p99 | max | × floor (p50 / p99) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const f of figures) {
    const name = f.note ? `${f.name} (${f.note})` : f.name;
    rows.push(`| ${f.section} | ${name} | ${f.unit} | ${f.samples} | ${cell(f.p50 ?? f.value)} | ${cell(f.p95)} | ${cell(f.p99)} | ${cell(f.max)} | ${f.vsFloor ? `${f.vsFloor.p50} / ${f.vsFloor.p99}` : ''} |`);
  }
  return rows.join('\n');
}

export interface Results {
  mode: 'full' | 'quick';
  startedAt: string;
  durationSeconds: number;
  machine: Machine;
  cluster: string;
  controllerArgs: string[];
  /** The sections run with --only (absent: all of them). */
  only?: string[];
  figures: Figure[];
  /** Extra measured detail (API requests by verb, counts) that does not fit the table. */
  details: Record<string, unknown>;
  failures: string[];
}

/**
 * The name of the run's "latest" file: latest.json (the full bench, all sections), latest-quick.json,
 * or, for some sections only, latest[-quick]-only-<sections>.json, so a partial run never replaces the
 * whole bench's figures.
 */
export function latestName(results: Pick<Results, 'mode' | 'only'>): string {
  const only = results.only?.length ? `-only-${[...results.only].sort((a, b) => Number(a) - Number(b)).join('-')}` : '';
  return `latest${results.mode === 'full' ? '' : '-quick'}${only}.json`;
}

/** Writes bench/results/<timestamp>.json and the run's latest file (latestName); returns the first path. */
export function writeResults(dir: string, results: Results): string {
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const file = join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, text);
  writeFileSync(join(dir, latestName(results)), text);
  return file;
}
