// The lasting-faults section's pure parts (bench/scenarios/lasting.ts, bench/report.ts): floors add
// percentile by percentile, and a partial run (--only) never takes the whole bench's latest.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addFloors, REVERT_GOAL_MS } from '../../bench/scenarios/lasting.ts';
import { latestName } from '../../bench/report.ts';
import { summarize } from '../../bench/stats.ts';

test('a floor of two parts adds their percentiles', () => {
  const f = addFloors(summarize([1, 2, 3, 4]), summarize([10, 20, 30, 40]));
  assert.deepEqual(f, { n: 4, p50: 22, p95: 44, p99: 44, max: 44, mean: 27.5 });
  assert.equal(REVERT_GOAL_MS, 200);
});

test('latest.json is only the whole bench\'s; --quick and --only runs have names of their own', () => {
  assert.equal(latestName({ mode: 'full' }), 'latest.json');
  assert.equal(latestName({ mode: 'quick' }), 'latest-quick.json');
  assert.equal(latestName({ mode: 'full', only: ['10'] }), 'latest-only-10.json');
  assert.equal(latestName({ mode: 'quick', only: ['10', '9'] }), 'latest-quick-only-9-10.json');
  assert.equal(latestName({ mode: 'full', only: [] }), 'latest.json');
});
