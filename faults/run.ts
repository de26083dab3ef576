// `npm run faults [-- --quick] [-- --seed N] [-- --only 1,5]`: the fault campaign. Prints the table of
// trials and violations and exits 1 on any violation. Without KUBECONFIG it runs on its own local
// plane in .cluster-faults/ (never the shared .cluster or .cluster-test, since it restarts the API server).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from './campaign.ts';
import { renderTable, renderViolations, totalViolations } from './report.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, seed: { type: 'string' }, only: { type: 'string' } },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a whole number >= 0, not ${values.seed}`);
const only = values.only?.split(',').map(Number);
const root = resolve(import.meta.dirname, '..');
const target = process.env.KUBECONFIG ? { kubeconfig: process.env.KUBECONFIG } : { clusterDir: join(root, '.cluster-faults') };
console.error(`fault campaign${values.quick ? ' (quick)' : ''}, seed ${seed} (repeat with --seed ${seed})`);
const started = Date.now();
const results = await runCampaign({ quick: values.quick, seed, target, ...(only ? { only } : {}), say: (m) => console.error(m) });
console.log(renderTable(results, seed, Date.now() - started));
const violations = renderViolations(results);
if (violations) console.log(`\nviolations:\n${violations}`);
process.exit(totalViolations(results) > 0 ? 1 : 0);
