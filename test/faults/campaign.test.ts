// The quick fault campaign (a few trials of each fault) as part of npm test, on its own local plane
// in .cluster-faults-test/ (it restarts that plane's API server, so never the shared .cluster-test).
// Fault 7 (lasting faults) has a short campaign of its own: lasting.test.ts.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCampaign } from '../../faults/campaign.ts';
import { renderTable, renderViolations } from '../../faults/report.ts';
import { repoRoot } from '../helpers/env.ts';

it('the quick fault campaign finds no violation', async () => {
  const seed = Number(process.env.CHAOSRUN_FAULTS_SEED ?? Date.now() % 2 ** 31);
  const started = Date.now();
  const results = await runCampaign({ quick: true, seed, only: [1, 2, 3, 4, 5, 6], target: { clusterDir: join(repoRoot, '.cluster-faults-test') } });
  const table = renderTable(results, seed, Date.now() - started);
  console.log(table);
  assert.deepEqual(results.map((r) => r.fault.split('.')[0]), ['1', '2', '3', '4', '5', '6'], 'every fault ran');
  for (const r of results) assert.ok(r.trials > 0, `${r.fault} ran no trial`);
  assert.match(results[0].notes.join(), /[1-9]\d* SIGKILLs/, 'the controller was killed');
  assert.equal(renderViolations(results), '', `violations (seed ${seed}):\n${table}`);
});
