// The bench's pure parts: nearest-rank percentiles and reading the Prometheus text format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize } from '../../bench/stats.ts';
import { byLabel, delta, parseMetrics, total } from '../../bench/metrics.ts';

test('percentiles are nearest-rank: always a measured sample', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 95), 95);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3], 50), 2);
  assert.throws(() => percentile([], 50), /no samples/);
});

test('summarize sorts its samples and reports p50, p95, p99, max and mean', () => {
  const s = summarize([5, 1, 4, 2, 3]);
  assert.deepEqual(s, { n: 5, p50: 3, p95: 5, p99: 5, max: 5, mean: 3 });
});

const text = `# HELP chaosrun_api_requests_total Kubernetes API requests made by this process.
# TYPE chaosrun_api_requests_total counter
chaosrun_api_requests_total{verb="create",resource="jobs",code="201"} 12
chaosrun_api_requests_total{verb="create",resource="events",code="201"} 30
chaosrun_api_requests_total{verb="update",resource="chaosruns/status",code="409"} 2
chaosrun_api_requests_total{verb="watch",resource="jobs",code=""} 1
chaosrun_steps_started_total 12
chaosrun_process_cpu_seconds_total 1.5e-1
odd_label{msg="a \\"quoted\\", comma"} 1
`;

test('parseMetrics reads samples, labels (escapes included) and exponent values; comments are skipped', () => {
  const samples = parseMetrics(text);
  assert.equal(samples.length, 7);
  assert.deepEqual(samples[0], { name: 'chaosrun_api_requests_total', labels: { verb: 'create', resource: 'jobs', code: '201' }, value: 12 });
  assert.equal(total(samples, 'chaosrun_process_cpu_seconds_total'), 0.15);
  assert.deepEqual(samples[6].labels, { msg: 'a "quoted", comma' });
});

test('total, byLabel and delta sum a counter the way the bench reads it', () => {
  const samples = parseMetrics(text);
  assert.equal(total(samples, 'chaosrun_api_requests_total'), 45);
  assert.equal(total(samples, 'chaosrun_api_requests_total', { verb: 'create' }), 42);
  assert.equal(total(samples, 'no_such_metric'), 0);
  assert.deepEqual(byLabel(samples, 'chaosrun_api_requests_total', 'verb'), { create: 42, update: 2, watch: 1 });
  assert.deepEqual(byLabel(samples, 'chaosrun_api_requests_total', 'verb', 'resource'),
    { 'create jobs': 12, 'create events': 30, 'update chaosruns/status': 2, 'watch jobs': 1 });
  assert.deepEqual(delta({ create: 50, watch: 1 }, { create: 42 }), { create: 8, watch: 1 });
});
