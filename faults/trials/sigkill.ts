// Fault 1: the controller is SIGKILLed at random moments while runs of random shape get PAUSE, RUN
// and STOP at random moments; it is restarted each time, and every run must still finish right.
// Some kills aim at the narrow windows: just after a Job appeared (before any status write about
// it) and just after a step's intent was written (before its Job exists).
import { isFinal } from '../../src/api/types.ts';
import type { FaultResult } from '../report.ts';
import type { Violation } from '../invariants.ts';
import {
  kill, playSignals, randomSpec, settleAndCheck, sleep, startController, startSignalServer, track,
  type Child, type TrialContext, type Tracked, trialNamespace,
} from '../harness.ts';

const MOMENTS = ['random', 'after a Job appeared', 'after a step intent was written'] as const;

export async function sigkillFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, quick } = ctx;
  const batches = quick ? 1 : 10;
  const runsPerBatch = quick ? 4 : 5;
  const { ns, recorder } = await trialNamespace(lab, 'sigkill');
  const server = await startSignalServer(lab.kubeconfig, ns);
  const violations: Violation[] = [];
  const kills = new Map<string, number>(MOMENTS.map((m) => [m, 0]));
  let trials = 0;
  try {
    for (let b = 0; b < batches; b++) {
      const rng = ctx.rng.fork();
      const runs: Tracked[] = [];
      for (let i = 0; i < runsPerBatch; i++) runs.push(await track(lab, ns, `b${b}-r${i}`, randomSpec(rng)));
      const finished = () => runs.every((t) => isFinal(recorder.run(t.name)?.status?.phase));
      let controller: Child = await startController(lab.kubeconfig, ns);
      const signalling = Promise.all(runs.map((t) => playSignals(rng.fork(), lab, server.url, ns, t, 12_000, finished)));
      const killCount = rng.int(2, 4);
      for (let k = 0; k < killCount && !finished(); k++) {
        let moment = rng.pick(MOMENTS);
        if (moment === 'random') await sleep(rng.between(300, 4000));
        else if (moment === 'after a Job appeared') { if (!(await recorder.nextJob(8000))) moment = 'random'; } else {
          const intent = await recorder.nextRun((r) => Boolean(r.status?.activeJob && !recorder.hasJob(r.status.activeJob)), 8000);
          if (!intent) moment = 'random';
        }
        await kill(controller);
        kills.set(moment, kills.get(moment)! + 1);
        await sleep(rng.between(0, 1500));
        controller = await startController(lab.kubeconfig, ns);
      }
      await signalling;
      violations.push(...await settleAndCheck(lab, recorder, ns, runs, 90_000));
      await kill(controller);
      trials += runs.length;
      ctx.say(`sigkill: batch ${b + 1}/${batches} done, ${violations.length} violation(s) so far`);
    }
  } finally {
    recorder.stop();
    await kill(server.child);
  }
  const total = [...kills.values()].reduce((a, n) => a + n, 0);
  return {
    fault: '1. operator SIGKILL', unit: 'runs', trials, violations, durationMs: Date.now() - started,
    checked: ['oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'pauseHolds', 'settles'],
    notes: [`${total} SIGKILLs (${[...kills].map(([m, n]) => `${n} ${m}`).join(', ')})`],
  };
}
