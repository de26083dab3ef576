// Fault 6: a storm of malformed HTTP requests at the signal server while runs are active. The server
// must not crash, answer no 5xx, and change nothing: every run's spec (signal, pauseUntil,
// generation) is the same after the storm as before it.
import { kwokStep, getRun } from '../../test/helpers/operator.ts';
import { no5xx, type Violation } from '../invariants.ts';
import { randomBadRequest, send } from '../malformed.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, sendPatch, settleAndCheck, startController, startSignalServer, track, type Tracked, type TrialContext, trialNamespace,
} from '../harness.ts';

const CLIENTS = 32;

export async function badInputFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, rng } = ctx;
  const total = ctx.quick ? 500 : 10_000;
  const { ns, recorder } = await trialNamespace(lab, 'badinput');
  const server = await startSignalServer(lab.kubeconfig, ns);
  const controller = await startController(lab.kubeconfig, ns);
  const violations: Violation[] = [];
  try {
    const runs: Tracked[] = [];
    for (const [i, signalState] of (['RUN', 'PAUSE', 'RUN'] as const).entries()) {
      runs.push(await track(lab, ns, `active-${i}`, { daemonMode: true, signalState, waitDuration: '500ms', scenarios: [kwokStep('a', 1), kwokStep('b', 0)] }));
    }
    const specOf = async (name: string) => {
      const r = await getRun(lab.client, ns, name);
      return JSON.stringify({ signal: r.spec.signalState, pauseUntil: r.spec.pauseUntil ?? null, generation: r.metadata.generation });
    };
    const before = await Promise.all(runs.map((t) => specOf(t.name)));
    const targets = runs.map((t) => ({ namespace: ns, name: t.name }));
    const plan = Array.from({ length: total }, () => randomBadRequest(rng, targets));
    const port = Number(new URL(server.url).port);
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < plan.length; i = next++) statuses.push(await send(port, plan[i]));
    }));
    violations.push(...no5xx('signal server', statuses));
    const healthy = await fetch(`${server.url}/healthz`).then((r) => r.ok, () => false);
    if (server.child.exitCode !== null || !healthy) {
      violations.push({ invariant: 'noCrash', subject: 'signal server', detail: `exit ${server.child.exitCode}, healthz ${healthy}: ${server.child.output().slice(-1500)}` });
    }
    const after = await Promise.all(runs.map((t) => specOf(t.name)));
    runs.forEach((t, i) => {
      if (after[i] !== before[i]) violations.push({ invariant: 'noStateChange', subject: `${ns}/${t.name}`, detail: `spec ${before[i]} became ${after[i]}` });
    });
    const byStatus = new Map<number, number>();
    for (const s of statuses) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
    for (const t of runs) t.signals.push(await sendPatch(lab.client, ns, t.name, 'STOP'));
    violations.push(...await settleAndCheck(lab, recorder, ns, runs, 30_000));
    return {
      fault: '6. bad input storm', unit: 'requests', trials: statuses.length, violations, durationMs: Date.now() - started,
      checked: ['no5xx', 'noCrash', 'noStateChange', 'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'settles'],
      notes: [`answers: ${[...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === 0 ? 'none' : s} ×${n}`).join(', ')}`],
    };
  } finally {
    recorder.stop();
    await kill(controller);
    await kill(server.child);
  }
}
