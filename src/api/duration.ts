// Go-style durations ("90s", "2m", "1h30m", "500ms"), the format krkn users and kubectl users both know.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
/** Also used as the CRD's `pattern`, so the API server refuses what this parser refuses. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const WHOLE = new RegExp(DURATION_PATTERN);

/** Parses a duration to milliseconds; throws a one-line reason on bad input. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string' || !WHOLE.test(text)) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: use a number with a unit, like 30s, 2m, 1h30m or 500ms`);
  }
  let ms = 0;
  for (const [, n, unit] of text.matchAll(PART)) ms += Number(n) * UNIT_MS[unit];
  return Math.round(ms);
}

/** Formats milliseconds as a compact duration ("1h2m3s", "0s"). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${Number(s.toFixed(3))}s` : ''}` || '0s';
}
