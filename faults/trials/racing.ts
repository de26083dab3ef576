// Fault 5: racing writers. Concurrent clients send RUN and PAUSE to one running run, half over HTTP
// (signal server), half as kubectl's merge patch. No answer may be a 5xx, and the run must settle
// on the last accepted write: spec.signalState is a write that could have been last, and the
// operator observed it and is Paused or Running accordingly. Then STOP ends it, checked as any run.
import { getRun, kwokStep } from '../../test/helpers/operator.ts';
import { lastWriteWins, no5xx, type SignalRecord, type Violation } from '../invariants.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, poll, sendHttp, sendPatch, settleAndCheck, startController, startSignalServer, track, type TrialContext, trialNamespace,
} from '../harness.ts';

const CLIENTS = 16;

export async function racingFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, rng } = ctx;
  const total = ctx.quick ? 100 : 1000;
  const { ns, recorder } = await trialNamespace(lab, 'racing');
  const server = await startSignalServer(lab.kubeconfig, ns);
  const controller = await startController(lab.kubeconfig, ns);
  const violations: Violation[] = [];
  let settleMs = 0;
  try {
    const t = await track(lab, ns, 'race', { daemonMode: true, scenarios: [kwokStep('a', 1), kwokStep('b', 0)] });
    const key = `${ns}/${t.name}`;
    await poll(async () => (await getRun(lab.client, ns, t.name)).status?.phase === 'Running' || undefined, 30_000);
    const plan = Array.from({ length: total }, () => ({ signal: rng.pick(['RUN', 'PAUSE'] as const), http: rng.chance(0.5) }));
    const writes: SignalRecord[] = [];
    let nextWrite = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let i = nextWrite++; i < plan.length; i = nextWrite++) {
        const p = plan[i];
        writes.push(p.http ? await sendHttp(server.url, ns, t.name, p.signal) : await sendPatch(lab.client, ns, t.name, p.signal));
      }
    }));
    t.signals.push(...writes);
    const quiet = Date.now();
    let last: Violation[] = [];
    await poll(async () => {
      last = lastWriteWins(key, await getRun(lab.client, ns, t.name), writes);
      return last.length === 0 || undefined;
    }, 15_000, 200);
    settleMs = Date.now() - quiet;
    violations.push(...last, ...no5xx(key, writes.map((w) => w.status)));
    const refused = writes.filter((w) => !w.accepted);
    if (refused.length) ctx.say(`racing: ${refused.length} write(s) not accepted: ${[...new Set(refused.map((w) => `${w.via} ${w.status}`))].join(', ')}`);
    t.signals.push(await sendHttp(server.url, ns, t.name, 'STOP'));
    violations.push(...await settleAndCheck(lab, recorder, ns, [t], 30_000));
    const accepted = writes.filter((w) => w.accepted).length;
    return {
      fault: '5. racing writers', unit: 'signals', trials: writes.length, violations, durationMs: Date.now() - started,
      checked: ['no5xx', 'lastWriteWins', 'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'settles'],
      notes: [`${CLIENTS} concurrent clients, ${accepted} accepted (${writes.filter((w) => w.via === 'http').length} HTTP, ${writes.filter((w) => w.via === 'patch').length} patch), settled on the last write ${settleMs} ms after the storm`],
    };
  } finally {
    recorder.stop();
    await kill(controller);
    await kill(server.child);
  }
}
