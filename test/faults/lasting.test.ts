// Fault 7 of the campaign (lasting faults: the node agent, the controller and step pods crashed while
// faults are held in real network namespaces) as a short seeded campaign of its own, on the tests'
// shared plane: it restarts no API server, and everything it makes (its namespace, its kwok node, its
// network namespaces) is its own. The quick campaign of the other faults is campaign.test.ts.
// Needs root (network namespaces, nft): without it the fault reports SKIPPED and so does this test.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runCampaign } from '../../faults/campaign.ts';
import { lastingPrecondition } from '../../faults/agent-lab.ts';
import { renderTable, renderViolations } from '../../faults/report.ts';
import { testEnv } from '../helpers/env.ts';

const need = lastingPrecondition();
const env = need ? undefined : await testEnv('faults-lasting');

it('a short seeded lasting-fault campaign finds no violation', { ...(need ? { skip: need } : {}), timeout: 120_000 }, async () => {
  const seed = Number(process.env.CHAOSRUN_FAULTS_SEED ?? 20261203);
  const started = Date.now();
  const results = await runCampaign({ quick: true, seed, only: [7], target: { kubeconfig: env!.kubeconfig } });
  const table = renderTable(results, seed, Date.now() - started);
  console.log(table);
  assert.equal(results.length, 1);
  const [r] = results;
  assert.equal(r.skipped, undefined);
  assert.equal(r.trials, 3, 'one trial of each crash: agent, controller, step pod');
  // A step pod is deleted only if one still holds its fault by then (a STOP may have ended it): counted apart.
  for (const crash of [/[1-9]\d* agent/, /[1-9]\d* controller short/, /[1-9]\d* step pod/]) assert.match(r.notes[0], crash, 'each kind of crash was tried');
  assert.match(r.notes.join(), /[1-9]\d* fault\(s\) seen in force/, 'faults were held');
  assert.equal(renderViolations(results), '', `violations (seed ${seed}):\n${table}`);
});
