// `npm run faults [-- --quick] [-- --seed N] [-- --only 1,5] [-- --json FILE]`: the fault campaign. Prints
// the table of trials and violations and a closing line (passed, failed, SKIPPED with why), and exits 1
// on any violation. Without KUBECONFIG it runs on its own local plane in .cluster-faults/ (never the
// shared .cluster or .cluster-test, since it restarts the API server).
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../src/kube/client.ts';
import { runCampaign } from './campaign.ts';
import { renderTable, renderViolations, resultsJson, summaryLine, totalViolations } from './report.ts';

/** Bad input is one line and exit 1, never a stack trace. */
function refuse(message: string): never {
  console.error(`faults: ${message.split('\n')[0]}`);
  process.exit(1);
}

let values: { quick?: boolean; seed?: string; only?: string; json?: string };
try {
  ({ values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, seed: { type: 'string' }, only: { type: 'string' }, json: { type: 'string' } },
  }));
} catch (err) { refuse((err as Error).message); }
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed) || seed < 0) refuse(`--seed must be a whole number >= 0, not ${values.seed}`);
const only = values.only?.split(',').map(Number);
if (only?.some((n) => !Number.isInteger(n) || n < 1 || n > 7)) refuse(`--only takes fault numbers 1-7, not ${values.only}`);
const root = resolve(import.meta.dirname, '..');
if (process.env.KUBECONFIG) {
  try { loadKubeConfig(); } catch (err) { refuse((err as Error).message); }
}
const target = process.env.KUBECONFIG ? { kubeconfig: process.env.KUBECONFIG } : { clusterDir: join(root, '.cluster-faults') };
console.error(`fault campaign${values.quick ? ' (quick)' : ''}, seed ${seed} (repeat with --seed ${seed})`);
const started = Date.now();
// A campaign that cannot go on (an API call that failed for good) is one line and exit 1, never a
// stack trace; its own cleanup (finally blocks, the plane's teardown) has run by then.
const results = await runCampaign({ quick: values.quick ?? false, seed, target, ...(only ? { only } : {}), say: (m) => console.error(m) })
  .catch((err: unknown) => refuse(`the campaign stopped after ${((Date.now() - started) / 1000).toFixed(0)} s: ${(err as Error).message ?? String(err)}`));
const durationMs = Date.now() - started;
console.log(renderTable(results, seed, durationMs));
const violations = renderViolations(results);
if (violations) console.log(`\nviolations:\n${violations}`);
console.log(`\n${summaryLine(results)}`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(resultsJson(results, seed, durationMs), null, 2)}\n`);
process.exit(totalViolations(results) > 0 ? 1 : 0);
