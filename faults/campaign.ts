// The fault campaign: each fault's trials against real operator processes on a cluster the
// campaign owns (a dedicated local plane by default), then one result row per fault.
import type { FaultResult } from './report.ts';
import { openLab, planeLagNote, type TrialContext } from './harness.ts';
import { seededRandom } from './random.ts';
import { sigkillFault } from './trials/sigkill.ts';
import { apiRestartFault } from './trials/apiserver.ts';
import { stallFault } from './trials/stall.ts';
import { leaderFault } from './trials/leader.ts';
import { racingFault } from './trials/racing.ts';
import { badInputFault } from './trials/bad-input.ts';
import { lastingFault } from './trials/lasting.ts';

export interface CampaignOptions {
  quick: boolean;
  seed: number;
  /** A dedicated plane's directory (started and stopped by the campaign), or an existing cluster. */
  target: { clusterDir: string } | { kubeconfig: string };
  /** Only these faults (by number, 1-7); default all. */
  only?: number[];
  say?: (message: string) => void;
}

type Fault = (ctx: TrialContext) => Promise<FaultResult>;
/** By the numbering. */
const FAULTS: Array<[number, Fault]> = [[1, sigkillFault], [2, apiRestartFault], [3, stallFault], [4, leaderFault], [5, racingFault], [6, badInputFault], [7, lastingFault]];

export async function runCampaign(options: CampaignOptions): Promise<FaultResult[]> {
  const say = options.say ?? (() => {});
  const lab = await openLab(options.target, say);
  const rng = seededRandom(options.seed);
  const results: FaultResult[] = [];
  try {
    for (const [n, fault] of FAULTS) {
      // Each fault draws from its own stream, so running a subset keeps the others' randomness.
      const faultRng = rng.fork();
      if (options.only && !options.only.includes(n)) continue;
      const result = await fault({ lab, rng: faultRng, quick: options.quick, say });
      const lag = planeLagNote(lab.planeLag);
      if (lag) result.notes.push(lag);
      lab.planeLag = { jobMs: [], unjudged: [] };
      say(result.skipped ? `${result.fault}: SKIPPED (${result.skipped})`
        : `${result.fault}: ${result.trials} ${result.unit}, ${result.violations.length} violation(s), ${(result.durationMs / 1000).toFixed(0)} s`);
      results.push(result);
    }
  } finally {
    await lab.close();
  }
  return results;
}
