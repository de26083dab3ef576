// Unit tests of the chaos-window arithmetic: office hours, midnight crossings, week wrap, dated
// blackouts, both daylight-saving changes, and nextChange() checked against a brute-force scan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScheduleGate } from '../api/types.ts';
import { evaluateSchedule, parseTimeOfDay, scheduleTrue, wallToInstant } from './window.ts';

const at = (iso: string) => Date.parse(iso);
const officeHours: ScheduleGate = { timeZone: 'Europe/Berlin', allowed: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], start: '09:00', end: '17:00' }] };
const iso = (ms?: number) => (ms === undefined ? undefined : new Date(ms).toISOString());

test('office hours in Berlin, winter time (UTC+1): held outside, with the next opening', () => {
  // Monday 2026-11-30 is a weekday.
  assert.equal(evaluateSchedule(officeHours, at('2026-11-30T07:59:59Z')).true, true);
  const open = evaluateSchedule(officeHours, at('2026-11-30T08:00:00Z'));
  assert.equal(open.true, false);
  assert.equal(iso(open.nextChangeMs), '2026-11-30T16:00:00.000Z', 'closes at 17:00 Berlin');
  assert.match(open.message, /inside allowed window Mon,Tue,Wed,Thu,Fri 09:00-17:00 Europe\/Berlin/);
  const closed = evaluateSchedule(officeHours, at('2026-11-30T16:00:00Z'));
  assert.equal(closed.true, true);
  assert.equal(iso(closed.nextChangeMs), '2026-12-01T08:00:00.000Z');
  assert.match(closed.message, /outside the allowed windows .*; the next opens at 2026-12-01T08:00:00.000Z/);
});

test('office hours in summer time (UTC+2), and the week wrap from Friday evening to Monday morning', () => {
  assert.equal(evaluateSchedule(officeHours, at('2026-07-01T07:00:00Z')).true, false, '09:00 CEST');
  assert.equal(evaluateSchedule(officeHours, at('2026-07-01T06:59:59Z')).true, true);
  const friday = evaluateSchedule(officeHours, at('2026-07-03T15:00:00Z'));
  assert.equal(friday.true, true, 'Friday 17:00 CEST');
  assert.equal(iso(friday.nextChangeMs), '2026-07-06T07:00:00.000Z', 'Monday 09:00 CEST');
  const sunday = evaluateSchedule(officeHours, at('2026-07-05T12:00:00Z'));
  assert.equal(iso(sunday.nextChangeMs), '2026-07-06T07:00:00.000Z');
});

test('across the spring change (Berlin 2026-03-29 02:00 -> 03:00) the window stays 09:00-17:00 local', () => {
  // Friday before: CET. Monday after: CEST.
  assert.equal(iso(evaluateSchedule(officeHours, at('2026-03-27T16:30:00Z')).nextChangeMs), '2026-03-30T07:00:00.000Z');
  assert.equal(evaluateSchedule(officeHours, at('2026-03-30T07:00:00Z')).true, false);
});

test('a window in the skipped hour is empty; one starting in it starts at the change', () => {
  // 02:30 does not exist on 2026-03-29 in Berlin: the earliest instant at or after it is 03:00 CEST = 01:00Z.
  assert.equal(iso(wallToInstant(Date.UTC(2026, 2, 29) / 86_400_000, parseTimeOfDay('02:30'), 'Europe/Berlin')), '2026-03-29T01:00:00.000Z');
  const skipped: ScheduleGate = { timeZone: 'Europe/Berlin', allowed: [{ date: '2026-03-29', start: '02:00', end: '03:00' }] };
  for (const t of ['2026-03-29T00:59:59Z', '2026-03-29T01:00:00Z', '2026-03-29T01:30:00Z']) assert.equal(evaluateSchedule(skipped, at(t)).true, true, t);
  const from230: ScheduleGate = { timeZone: 'Europe/Berlin', allowed: [{ date: '2026-03-29', start: '02:30', end: '04:00' }] };
  const before = evaluateSchedule(from230, at('2026-03-29T00:30:00Z'));
  assert.equal(before.true, true);
  assert.equal(iso(before.nextChangeMs), '2026-03-29T01:00:00.000Z');
  assert.equal(evaluateSchedule(from230, at('2026-03-29T01:00:00Z')).true, false);
  assert.equal(iso(evaluateSchedule(from230, at('2026-03-29T01:00:00Z')).nextChangeMs), '2026-03-29T02:00:00.000Z', '04:00 CEST');
});

test('across the autumn change (Berlin 2026-10-25 03:00 -> 02:00) a window over the repeated hour lasts two hours', () => {
  const repeated: ScheduleGate = { timeZone: 'Europe/Berlin', blackout: [{ date: '2026-10-25', start: '02:00', end: '03:00' }] };
  const start = evaluateSchedule(repeated, at('2026-10-24T23:00:00Z'));
  assert.equal(start.true, false);
  assert.equal(iso(start.nextChangeMs), '2026-10-25T00:00:00.000Z', '02:00 CEST, the first occurrence');
  const inside = evaluateSchedule(repeated, at('2026-10-25T00:30:00Z'));
  assert.equal(inside.true, true);
  assert.equal(iso(inside.nextChangeMs), '2026-10-25T02:00:00.000Z', '03:00 CET');
  assert.equal(evaluateSchedule(repeated, at('2026-10-25T01:30:00Z')).true, true, '02:30 CET, the second occurrence');
  assert.equal(evaluateSchedule(repeated, at('2026-10-25T02:00:00Z')).true, false);
});

test('a window crossing midnight belongs to the day it starts on, also across the week wrap', () => {
  const nights: ScheduleGate = { timeZone: 'UTC', allowed: [{ days: ['Sun'], start: '22:00', end: '02:00' }] };
  assert.equal(evaluateSchedule(nights, at('2026-12-06T22:00:00Z')).true, false, 'Sunday 22:00');
  assert.equal(evaluateSchedule(nights, at('2026-12-07T01:59:59Z')).true, false, 'Monday 01:59 (Sunday night)');
  assert.equal(evaluateSchedule(nights, at('2026-12-07T02:00:00Z')).true, true);
  assert.equal(evaluateSchedule(nights, at('2026-12-07T22:00:00Z')).true, true, 'Monday night is not Sunday night');
  assert.equal(iso(evaluateSchedule(nights, at('2026-12-07T02:00:00Z')).nextChangeMs), '2026-12-13T22:00:00.000Z');
  const endOfDay: ScheduleGate = { timeZone: 'UTC', allowed: [{ days: ['Sat'], start: '20:00', end: '24:00' }] };
  assert.equal(evaluateSchedule(endOfDay, at('2026-12-05T23:59:59Z')).true, false);
  assert.equal(evaluateSchedule(endOfDay, at('2026-12-06T00:00:00Z')).true, true);
});

test('a dated blackout inside office hours: release night wins over the allowed window', () => {
  const gate: ScheduleGate = { ...officeHours, blackout: [{ date: '2026-12-02', start: '12:00', end: '02:00' }] };
  const during = evaluateSchedule(gate, at('2026-12-02T12:00:00Z'));
  assert.equal(during.true, true);
  assert.match(during.message, /inside blackout window 2026-12-02 12:00-02:00 Europe\/Berlin; chaos may run again at 2026-12-03T08:00:00.000Z/);
  assert.equal(evaluateSchedule(gate, at('2026-12-02T10:59:59Z')).true, false);
  assert.equal(iso(evaluateSchedule(gate, at('2026-12-02T10:00:00Z')).nextChangeMs), '2026-12-02T11:00:00.000Z');
  // A blackout months ahead still gives the exact boundary.
  const far: ScheduleGate = { timeZone: 'UTC', blackout: [{ date: '2027-06-01', start: '00:00', end: '24:00' }] };
  assert.equal(iso(evaluateSchedule(far, at('2026-12-01T00:00:00Z')).nextChangeMs), '2027-06-01T00:00:00.000Z');
  assert.equal(evaluateSchedule(far, at('2027-06-02T00:00:00Z')).nextChangeMs, undefined, 'past: nothing ahead');
});

test('seconds are allowed in times of day, and bad input gets one-line reasons', () => {
  const g: ScheduleGate = { timeZone: 'UTC', allowed: [{ start: '10:00:30', end: '10:00:45' }] };
  assert.equal(evaluateSchedule(g, at('2026-12-01T10:00:30Z')).true, false);
  assert.equal(iso(evaluateSchedule(g, at('2026-12-01T10:00:30Z')).nextChangeMs), '2026-12-01T10:00:45.000Z');
  assert.throws(() => evaluateSchedule({ timeZone: 'Mars/Olympus', allowed: [{ start: '09:00', end: '10:00' }] }, 0), /unknown time zone "Mars\/Olympus"/);
  assert.throws(() => evaluateSchedule({ timeZone: 'UTC', allowed: [{ start: '9:00', end: '10:00' }] }, 0), /invalid time of day "9:00"/);
  assert.throws(() => evaluateSchedule({ timeZone: 'UTC', blackout: [{ date: '2026-02-30', start: '09:00', end: '10:00' }] }, 0), /no such day/);
  assert.throws(() => evaluateSchedule({ timeZone: 'UTC' }, 0), /allowed or blackout/);
});

// Exhaustive check: for many zones, windows and instants, the verdict does not change between an
// instant and its nextChange() (scanned every 5 minutes and at the last second), and does change there.
test('nextChange() is the first change (zones with and without DST, crossings, wraps)', () => {
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'];
  const gates: Array<Omit<ScheduleGate, 'timeZone'>> = [
    { allowed: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], start: '09:00', end: '17:00' }] },
    { allowed: [{ days: ['Sat', 'Sun'], start: '23:30', end: '01:15' }] },
    { blackout: [{ start: '01:30', end: '03:30' }] },
    { allowed: [{ start: '02:00', end: '02:45' }], blackout: [{ days: ['Sun'], start: '00:00', end: '24:00' }] },
  ];
  // Weeks around the DST changes of the northern and southern hemisphere.
  const starts = ['2026-03-07T00:00:00Z', '2026-03-27T00:00:00Z', '2026-04-03T00:00:00Z', '2026-10-23T00:00:00Z', '2026-10-30T12:00:00Z'];
  let checked = 0;
  for (const timeZone of zones) for (const g of gates) for (const s of starts) {
    const gate = { timeZone, ...g };
    let t = at(s);
    const end = t + 4 * 86_400_000;
    while (t < end) {
      const v = evaluateSchedule(gate, t);
      const next = v.nextChangeMs!;
      assert.ok(next > t && next - t < 8 * 86_400_000, `${timeZone} ${JSON.stringify(g)} at ${iso(t)}: next ${iso(next)}`);
      for (let scan = t; scan < next; scan += 300_000) assert.equal(scheduleTrue(gate, scan), v.true, `${timeZone} ${JSON.stringify(g)}: no change at ${iso(scan)} before ${iso(next)}`);
      assert.equal(scheduleTrue(gate, next - 1000), v.true, `${timeZone} ${JSON.stringify(g)}: same verdict 1 s before ${iso(next)}`);
      assert.notEqual(scheduleTrue(gate, next), v.true, `${timeZone} ${JSON.stringify(g)}: changes at ${iso(next)}`);
      checked++;
      t = next;
    }
  }
  assert.ok(checked > 100, `checked ${checked} boundaries`);
});

test('the CRD validates windows with the patterns this module parses', async () => {
  const { readFileSync } = await import('node:fs');
  const yaml = (await import('js-yaml')).default;
  const { DATE_PATTERN, TIME_OF_DAY_PATTERN, TIME_ZONE_PATTERN } = await import('./window.ts');
  type S = { properties?: Record<string, S>; items?: S; pattern?: string };
  const crd = yaml.load(readFileSync(new URL('../../crds/chaosrun.yaml', import.meta.url), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: S } }> } };
  const schedule = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec.properties!.gates.properties!.pauseWhen.items!.properties!.schedule;
  const win = schedule.properties!.allowed.items!.properties!;
  assert.equal(schedule.properties!.timeZone.pattern, TIME_ZONE_PATTERN);
  assert.equal(win.start.pattern, TIME_OF_DAY_PATTERN);
  assert.equal(win.end.pattern, TIME_OF_DAY_PATTERN);
  assert.equal(win.date.pattern, DATE_PATTERN);
});
