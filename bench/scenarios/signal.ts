// 2. Signal → effect: alternating PAUSE/RUN on one run whose step keeps running, through both doors.
// Each sample runs from the write's response to the bench's watch showing status.observedSignal and
// the phase (Paused / Running) that reflect it.
import type { Signal } from '../../src/api/types.ts';
import { createRun, kwokStep, signal } from '../../test/helpers/operator.ts';
import { failed, inPhase, post, timeWrite, type Bench } from '../context.ts';
import { latency, type Figure } from '../report.ts';

export async function signalLatency(b: Bench): Promise<{ figures: Figure[]; postMs: number[] }> {
  const { client, watch } = b;
  const ns = b.namespaces.main;
  const name = 'signal';
  await createRun(client, ns, name, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
  await watch.runs.when(ns, name, inPhase('Running'), 60_000, `${name} to be Running`);
  const postMs: number[] = [];
  const doors: Array<[string, (s: Signal) => Promise<unknown>]> = [
    ['POST /runs/{ns}/{name}/PAUSE|RUN', async (s) => {
      const sent = performance.now();
      await post(`${b.operator.signalUrl}/runs/${ns}/${name}/${s}`);
      postMs.push(performance.now() - sent);
    }],
    ['merge patch of spec.signalState (kubectl)', (s) => signal(client, ns, name, s)],
  ];
  const figures: Figure[] = [];
  for (const [door, write] of doors) {
    const samples: number[] = [];
    for (let i = 0; i < b.sizes.signals; i++) {
      const target: Signal = i % 2 === 0 ? 'PAUSE' : 'RUN';
      const phase = target === 'PAUSE' ? 'Paused' : 'Running';
      const seen = watch.runs.when(ns, name, (r) => r?.status?.observedSignal === target && r.status.phase === phase, 30_000,
        `${name} to show ${target} (observedSignal and phase ${phase}) after a write through ${door}`);
      try {
        samples.push(...(await timeWrite(() => write(target), seen)).fromResponse);
      } catch (err) {
        failed(b, err, 'signal never applied');
        break;
      }
    }
    figures.push(latency('2', `signal answered → effect seen, ${door}`, samples, b.floor));
  }
  // Finished, so the idle window later sees no running work of ours.
  const stopped = watch.runs.when(ns, name, inPhase('Stopped'), 60_000, `${name} to be Stopped`);
  await signal(client, ns, name, 'STOP');
  await stopped.catch((err: unknown) => failed(b, err, 'signal never applied'));
  return { figures, postMs };
}
