// Chaos windows: when chaos may run, as pure arithmetic over wall-clock time in an IANA time zone.
// A `schedule` gate is true (holds a pauseWhen, fires a stopWhen) outside all of its `allowed`
// windows (when it has any) or inside any of its `blackout` windows. A window is a start and an end
// time of day on some days of the week (default every day) or on one calendar date; an end at or
// before the start crosses midnight into the next day; "24:00" is the end of the day.
//
// Invariants:
// - Wall-clock semantics: 09:00-17:00 Europe/Berlin is 09:00-17:00 Berlin time on both sides of a
//   daylight-saving change. A start or end that does not exist (skipped by the spring change) takes
//   effect at the change itself; a time that occurs twice (the autumn change) starts at its first
//   occurrence, and in the repeated hour a window is in force in both occurrences (it is a wall-clock
//   reading: 01:00-01:15 on that night is 30 minutes, in two pieces).
// - nextChange() is exact: the controller requeues a run at the next boundary instead of polling.
// Nothing here imports the controller: decide() imports this.
import type { ScheduleGate, TimeWindow, Weekday } from '../api/types.ts';

export const WEEKDAYS: readonly Weekday[] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** Also the CRD's patterns, so the API server refuses what this module refuses. */
export const TIME_OF_DAY_PATTERN = '^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?|24:00)$';
export const DATE_PATTERN = '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$';
export const TIME_ZONE_PATTERN = '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** A calendar date as days since 1970-01-01 (time-zone free). */
type DayNumber = number;
const dayOf = (y: number, m: number, d: number): DayNumber => Date.UTC(y, m - 1, d) / DAY_MS;
const dateText = (day: DayNumber) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const weekdayOf = (day: DayNumber): Weekday => WEEKDAYS[new Date(day * DAY_MS).getUTCDay()];

interface Wall { day: DayNumber; second: number }

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws a one-line reason for a time zone this runtime does not know. */
export function checkTimeZone(zone: string): void {
  formatter(zone);
}

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    } catch {
      throw new Error(`unknown time zone ${JSON.stringify(zone)}: use an IANA name such as Europe/Berlin or UTC`);
    }
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock reading in `zone` at instant `ms`, as milliseconds of a UTC clock showing the same. */
function wallMs(ms: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(Math.floor(ms / 1000) * 1000))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
}

function wall(ms: number, zone: string): Wall {
  const w = wallMs(ms, zone);
  const day = Math.floor(w / DAY_MS);
  return { day, second: (w - day * DAY_MS) / 1000 };
}

/**
 * The earliest instant whose wall clock in `zone` reads `day` + `second` or later: the instant itself
 * when it exists (its first occurrence when it occurs twice), the daylight-saving change when the
 * spring change skips it.
 */
export function wallToInstant(day: DayNumber, second: number, zone: string): number {
  return wallInstants(day, second, zone)[0];
}

/** Every instant whose wall clock reads `day` + `second` (two in a repeated hour), or the change that skips it. */
function wallInstants(day: DayNumber, second: number, zone: string): number[] {
  const target = day * DAY_MS + second * 1000;
  const candidates = [...new Set([target - DAY_MS, target, target + DAY_MS].map((ms) => target - offsetAt(ms, zone)))].sort((a, b) => a - b);
  const exact = candidates.filter((c) => wallMs(c, zone) === target);
  if (exact.length) return exact;
  // Skipped by a spring change: search the change between the two readings (wall time is monotonic there).
  let lo = candidates[0] - HOUR_MS;
  let hi = candidates[candidates.length - 1] + HOUR_MS;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallMs(mid, zone) >= target) hi = mid; else lo = mid;
  }
  return [hi];
}

const offsetAt = (ms: number, zone: string) => wallMs(ms, zone) - Math.floor(ms / 1000) * 1000;

/**
 * The instants the zone's UTC offset changes within the UTC days `from`..`to`: a verdict can change
 * there too (the autumn change repeats an hour, and wall-clock windows are in force in both).
 */
function offsetChanges(from: DayNumber, to: DayNumber, zone: string): number[] {
  const out: number[] = [];
  for (let d = from; d <= to; d++) {
    let lo = d * DAY_MS;
    let hi = lo + DAY_MS;
    const after = offsetAt(hi, zone);
    if (offsetAt(lo, zone) === after) continue;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2000) * 1000;
      if (offsetAt(mid, zone) === after) hi = mid; else lo = mid;
    }
    out.push(hi);
  }
  return out;
}

/** Seconds since midnight of "HH:MM" or "HH:MM:SS" ("24:00" is 86400). */
export function parseTimeOfDay(text: string): number {
  if (!new RegExp(TIME_OF_DAY_PATTERN).test(text)) throw new Error(`invalid time of day ${JSON.stringify(text)}: use HH:MM or HH:MM:SS, 00:00 to 24:00`);
  const [h, m, s = 0] = text.split(':').map(Number);
  return h * 3600 + m * 60 + s;
}

function parseDate(text: string): DayNumber {
  if (!new RegExp(DATE_PATTERN).test(text)) throw new Error(`invalid date ${JSON.stringify(text)}: use YYYY-MM-DD`);
  const [y, m, d] = text.split('-').map(Number);
  const day = dayOf(y, m, d);
  if (dateText(day) !== text) throw new Error(`invalid date ${JSON.stringify(text)}: no such day`);
  return day;
}

interface ParsedWindow { days?: Set<Weekday>; date?: DayNumber; start: number; end: number; crosses: boolean; text: string }

function parseWindow(w: TimeWindow, zone: string): ParsedWindow {
  const start = parseTimeOfDay(w.start);
  const end = parseTimeOfDay(w.end);
  if (start === 86_400) throw new Error('a window cannot start at 24:00');
  if (w.days && w.date) throw new Error('a window has days or a date, not both');
  const when = w.date ?? (w.days?.length ? w.days.join(',') : 'daily');
  return {
    ...(w.days?.length ? { days: new Set(w.days) } : {}),
    ...(w.date ? { date: parseDate(w.date) } : {}),
    start, end, crosses: end <= start,
    text: `${when} ${w.start}-${w.end} ${zone}`,
  };
}

const applies = (w: ParsedWindow, day: DayNumber) => (w.date !== undefined ? w.date === day : !w.days || w.days.has(weekdayOf(day)));

function inWindow(w: ParsedWindow, at: Wall): boolean {
  if (!w.crosses) return applies(w, at.day) && at.second >= w.start && at.second < w.end;
  return (applies(w, at.day) && at.second >= w.start) || (applies(w, at.day - 1) && at.second < w.end);
}

/** The boundary instants of a window near `aroundDay` (all of them for a dated window), offset changes included. */
function boundaries(w: ParsedWindow, aroundDay: DayNumber, zone: string): number[] {
  const days = w.date !== undefined ? [w.date] : Array.from({ length: 10 }, (_, i) => aroundDay - 1 + i);
  const out: number[] = [];
  for (const d of days) {
    out.push(...wallInstants(d, w.start, zone), ...wallInstants(w.crosses ? d + 1 : d, w.end, zone));
  }
  out.push(...offsetChanges(days[0] - 1, days[days.length - 1] + 2, zone));
  return out;
}

export interface ScheduleVerdict {
  /** The gate is true: outside every allowed window, or inside a blackout window. */
  true: boolean;
  /** What it saw and when that changes, for the Gated condition and Events. */
  message: string;
  /** The next instant the verdict changes (absent: never, as far as the windows go). */
  nextChangeMs?: number;
}

function parseGate(gate: ScheduleGate) {
  const zone = gate.timeZone ?? 'UTC';
  checkTimeZone(zone);
  const allowed = (gate.allowed ?? []).map((w) => parseWindow(w, zone));
  const blackout = (gate.blackout ?? []).map((w) => parseWindow(w, zone));
  if (!allowed.length && !blackout.length) throw new Error('a schedule needs allowed or blackout windows');
  const truth = (ms: number) => {
    const at = wall(ms, zone);
    return (allowed.length > 0 && !allowed.some((w) => inWindow(w, at))) || blackout.some((w) => inWindow(w, at));
  };
  return { zone, allowed, blackout, truth };
}

/** Only the verdict at `ms` (no boundary search). */
export const scheduleTrue = (gate: ScheduleGate, ms: number): boolean => parseGate(gate).truth(ms);

/** Where `now` falls in the gate's windows, and when that changes next. */
export function evaluateSchedule(gate: ScheduleGate, now: number): ScheduleVerdict {
  const { zone, allowed, blackout, truth } = parseGate(gate);
  const nowTrue = truth(now);
  const today = wall(now, zone).day;
  const candidates = [...new Set([...allowed, ...blackout].flatMap((w) => boundaries(w, today, zone)))]
    .filter((c) => c > now).sort((a, b) => a - b);
  const nextChangeMs = candidates.find((c) => truth(c) !== nowTrue);
  const at = wall(now, zone);
  const next = nextChangeMs === undefined ? undefined : `${new Date(nextChangeMs).toISOString()}`;
  let message: string;
  const blackoutNow = blackout.find((w) => inWindow(w, at));
  if (blackoutNow) message = `inside blackout window ${blackoutNow.text}; ${next ? `chaos may run again at ${next}` : 'it does not end'}`;
  else if (nowTrue) message = `outside the allowed windows (${allowed.map((w) => w.text).join('; ')}); ${next ? `the next opens at ${next}` : 'none opens again'}`;
  else {
    const open = allowed.find((w) => inWindow(w, at));
    message = open
      ? `inside allowed window ${open.text}; ${next ? `it closes at ${next}` : 'it does not close'}`
      : `outside every blackout window; ${next ? `the next starts at ${next}` : 'none ahead'}`;
  }
  return { true: nowTrue, message, ...(nextChangeMs !== undefined ? { nextChangeMs } : {}) };
}
