// Fault 2: the kube-apiserver process is stopped (SIGTERM or SIGKILL) and started again while runs
// are active. During the outage the signal server must answer 503 and change nothing; once the API
// server is ready again, the controller (the same process: it must not need a restart) and the
// signal server must take and obey a signal within 5 s.
import { restartComponent, stopComponent, waitApiReady } from '../../src/local/controlplane.ts';
import { isFinal, type Signal } from '../../src/api/types.ts';
import { getRun, kwokStep } from '../../test/helpers/operator.ts';
import type { Violation } from '../invariants.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, poll, sendHttp, settleAndCheck, sleep, startController, startSignalServer, track, type Tracked, type TrialContext, trialNamespace,
} from '../harness.ts';

const RECOVERY_MS = 5000;
const CHECKED = ['outageAnswers503', 'outageChangesNothing', 'recoversIn5s', 'noOperatorRestart',
  'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'pauseHolds', 'settles'] as const;

export async function apiRestartFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, rng } = ctx;
  const fault = '2. kube-apiserver restart';
  const plane = lab.plane;
  if (!plane) {
    return { fault, unit: 'restarts', trials: 0, checked: [...CHECKED], violations: [], durationMs: 0, notes: [],
      skipped: 'KUBECONFIG names a cluster whose API server the campaign cannot restart' };
  }
  const restarts = ctx.quick ? 2 : 5;
  const { ns, recorder } = await trialNamespace(lab, 'apiserver');
  const server = await startSignalServer(lab.kubeconfig, ns);
  const controller = await startController(lab.kubeconfig, ns);
  const pid = controller.pid;
  const violations: Violation[] = [];
  const v = (invariant: Violation['invariant'], subject: string, detail: string) => violations.push({ invariant, subject, detail });
  const runs: Tracked[] = [];
  const recoveries: number[] = [];
  const outages: number[] = [];
  const active = async () => {
    const all = await Promise.all(runs.map(async (t) => ({ t, run: await getRun(lab.client, ns, t.name) })));
    return all.filter((a) => !isFinal(a.run.status?.phase));
  };
  try {
    for (let i = 0; i < restarts; i++) {
      while ((await active()).length < 2) {
        runs.push(await track(lab, ns, `r${runs.length}`, { iterations: 3, waitDuration: '500ms', scenarios: [kwokStep('a', 1), kwokStep('b', 2)] }));
      }
      await sleep(rng.between(1000, 3000));
      const before = await active();
      const target = rng.pick(before).t;
      const down = Date.now();
      await stopComponent(plane, 'kube-apiserver', rng.pick(['SIGTERM', 'SIGKILL'] as const));
      for (let k = 0; k < 3; k++) {
        const rec = await sendHttp(server.url, ns, target.name, rng.pick(['STOP', 'PAUSE', 'RUN'] as const));
        target.signals.push(rec);
        if (rec.status !== 503) v('outageAnswers503', `${ns}/${target.name}`, `${rec.signal} during the outage answered ${rec.status}`);
      }
      const broadcast = await fetch(`${server.url}/STOP`, { method: 'POST' }).then((r) => r.status, () => 0);
      if (broadcast !== 503) v('outageAnswers503', 'POST /STOP', `the broadcast STOP during the outage answered ${broadcast}`);
      await sleep(rng.between(500, 2000));
      restartComponent(plane, 'kube-apiserver');
      await waitApiReady(plane);
      const ready = Date.now();
      outages.push(ready - down);
      for (const { t, run } of before) {
        const now = await getRun(lab.client, ns, t.name);
        if (now.spec.signalState !== run.spec.signalState || now.metadata.generation !== run.metadata.generation) {
          v('outageChangesNothing', `${ns}/${t.name}`, `spec went from ${run.spec.signalState} (generation ${run.metadata.generation}) to ${now.spec.signalState} (${now.metadata.generation})`);
        }
      }
      // Recovery: an HTTP signal is taken (retried while the signal server still answers 503) and obeyed.
      const live = (await active()).map((a) => a.run);
      const run = live.find((r) => r.metadata.name === target.name) ?? live[0];
      if (run) {
        const t = runs.find((x) => x.name === run.metadata.name)!;
        const want: Signal = run.spec.signalState === 'PAUSE' ? 'RUN' : 'PAUSE';
        const taken = await poll(async () => {
          const rec = await sendHttp(server.url, ns, t.name, want);
          t.signals.push(rec);
          return rec.accepted || undefined;
        }, RECOVERY_MS, 200);
        const obeyed = taken && await poll(async () => {
          const r = await getRun(lab.client, ns, t.name);
          return (r.status?.observedSignal === want && r.status.observedGeneration === r.metadata.generation) || isFinal(r.status?.phase) || undefined;
        }, ready + RECOVERY_MS - Date.now(), 50);
        const took = Date.now() - ready;
        recoveries.push(took);
        if (!taken) v('recoversIn5s', 'signal server', `no ${want} accepted within ${RECOVERY_MS} ms of the API server being ready`);
        else if (!obeyed) v('recoversIn5s', `${ns}/${t.name}`, `${want} not obeyed ${took} ms after the API server was ready`);
      }
      if (controller.exitCode !== null || controller.pid !== pid) v('noOperatorRestart', 'controller', `the controller exited (${controller.exitCode})`);
      ctx.say(`apiserver: restart ${i + 1}/${restarts}, outage ${outages.at(-1)} ms, recovery ${recoveries.at(-1)} ms`);
    }
    violations.push(...await settleAndCheck(lab, recorder, ns, runs, 90_000));
  } finally {
    recorder.stop();
    await kill(controller);
    await kill(server.child);
  }
  return {
    fault, unit: 'restarts', trials: outages.length, checked: [...CHECKED], violations, durationMs: Date.now() - started,
    notes: [`${runs.length} runs; outages ${Math.min(...outages)}-${Math.max(...outages)} ms; signal obeyed ${Math.min(...recoveries)}-${Math.max(...recoveries)} ms after the API server was ready`],
  };
}
