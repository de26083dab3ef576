// Fault 3: the controller reaches the API server through a TCP proxy the campaign controls, which
// freezes every open connection without closing it (a half-open link). The watchdog (3 s here) must
// notice and re-list, and a signal sent meanwhile must be obeyed within the watchdog interval + 5 s.
import { isFinal, type Signal } from '../../src/api/types.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { getRun, kwokStep } from '../../test/helpers/operator.ts';
import { startProxy } from '../../test/helpers/tcp-proxy.ts';
import type { Violation } from '../invariants.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, poll, sendPatch, settleAndCheck, sleep, startController, track, type TrialContext, trialNamespace,
} from '../harness.ts';

const WATCHDOG_MS = 3000;
const MARGIN_MS = 5000;
const watchdogFires = (log: string) => log.split('watch silent for too long').length - 1;

export async function stallFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, rng } = ctx;
  const trials = ctx.quick ? 2 : 5;
  const { ns, recorder } = await trialNamespace(lab, 'stall');
  const proxy = await startProxy(new URL(loadKubeConfig(lab.kubeconfig).getCurrentCluster()!.server), lab.kubeconfig);
  const controller = await startController(proxy.kubeconfig, ns, ['--watch-timeout', `${WATCHDOG_MS}ms`]);
  const violations: Violation[] = [];
  const delays: number[] = [];
  try {
    for (let i = 0; i < trials; i++) {
      const t = await track(lab, ns, `stall-${i}`, { iterations: 2, signalState: rng.pick(['RUN', 'PAUSE'] as const), scenarios: [kwokStep('a', 1), kwokStep('b', 1)] });
      const key = `${ns}/${t.name}`;
      const seen = await poll(async () => (await getRun(lab.client, ns, t.name)).status?.observedSignal, 30_000);
      await sleep(rng.between(0, 1500));
      const fires = watchdogFires(controller.output());
      proxy.freeze();
      await sleep(rng.between(0, 1000));
      const want: Signal = seen === 'PAUSE' ? 'RUN' : rng.pick(['PAUSE', 'STOP'] as const);
      const rec = await sendPatch(lab.client, ns, t.name, want);
      t.signals.push(rec);
      const obeyed = await poll(async () => {
        const r = await getRun(lab.client, ns, t.name);
        return (r.status?.observedSignal === want && r.status.observedGeneration === r.metadata.generation) || (want !== 'STOP' && isFinal(r.status?.phase)) || undefined;
      }, WATCHDOG_MS + MARGIN_MS, 50);
      const took = Date.now() - rec.answeredAt;
      delays.push(took);
      if (!obeyed) violations.push({ invariant: 'stallSignalObeyed', subject: key, detail: `${want} not obeyed ${took} ms after it was accepted during a stall` });
      if (watchdogFires(controller.output()) <= fires) violations.push({ invariant: 'watchdogRelists', subject: key, detail: 'the watchdog did not fire during the stall' });
      violations.push(...await settleAndCheck(lab, recorder, ns, [t], 60_000));
    }
  } finally {
    recorder.stop();
    await kill(controller);
    await proxy.close();
  }
  return {
    fault: '3. silent watch stall', unit: 'stalls', trials: delays.length, violations, durationMs: Date.now() - started,
    checked: ['watchdogRelists', 'stallSignalObeyed', 'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'pauseHolds', 'settles'],
    notes: [`watchdog ${WATCHDOG_MS} ms; signals obeyed ${Math.min(...delays)}-${Math.max(...delays)} ms after acceptance (bound ${WATCHDOG_MS + MARGIN_MS} ms)`],
  };
}
