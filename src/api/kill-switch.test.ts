// The kill-switch record's ConfigMap data: written and read back, and what a reader refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killSwitchData, parseKillSwitch } from './kill-switch.ts';

test('the data round-trips: stoppedAt in RFC 3339 with milliseconds, runs one per line, sorted', () => {
  const data = killSwitchData({ stoppedAt: Date.parse('2026-03-01T10:00:05.250Z'), runs: new Set(['b/x', 'a/y']), scope: 'all namespaces', by: 'alice via HTTP' });
  assert.deepEqual(data, { stoppedAt: '2026-03-01T10:00:05.250Z', runs: 'a/y\nb/x\n', scope: 'all namespaces', by: 'alice via HTTP' });
  const back = parseKillSwitch(data)!;
  assert.equal(back.stoppedAt, Date.parse('2026-03-01T10:00:05.250Z'));
  assert.deepEqual([...back.runs], ['a/y', 'b/x']);
  assert.equal(back.by, 'alice via HTTP');
});

test('no record: an empty or missing ConfigMap, or a stoppedAt that is not RFC 3339', () => {
  assert.equal(parseKillSwitch(undefined), undefined);
  assert.equal(parseKillSwitch({}), undefined);
  for (const stoppedAt of ['yesterday', '2026-03-01 10:00:05', '2026-03-01T10:00:05', '2026-13-45T99:00:00Z', '1772359205250']) {
    assert.equal(parseKillSwitch({ stoppedAt, runs: 'a/b\n' }), undefined, stoppedAt);
  }
  assert.equal(parseKillSwitch({ stoppedAt: '2026-03-01T11:00:05+01:00' })?.stoppedAt, Date.parse('2026-03-01T10:00:05Z'), 'an offset is fine');
});

test('lines that are not namespace/name are ignored, not guessed at', () => {
  const r = parseKillSwitch({ stoppedAt: '2026-03-01T10:00:05Z', runs: 'a/b\n\n  c/d  \nnoslash\na/b/c\ne f/g\n' })!;
  assert.deepEqual([...r.runs], ['a/b', 'c/d']);
});
