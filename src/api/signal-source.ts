// Who sent a run's current signal: writers of spec.signalState (the signal server, and so the console)
// stamp their patch with the annotation ANNOTATION_SIGNAL_SOURCE naming the user and the generation
// their write produces. The controller trusts a stamp only while the run's generation still matches it:
// any later spec change (kubectl, the end of a timed pause, another client) makes it stale.
import { ANNOTATION_SIGNAL_SOURCE } from './constants.ts';
import type { ChaosRun, Signal } from './types.ts';

export interface SignalStamp { signal: Signal; by: string; via: string; generation: number }

/** The annotations to patch beside spec.signalState (and spec.pauseUntil). */
export function signalStamp(run: ChaosRun, signal: Signal, pauseUntil: string | null, by: string, via: string): Record<string, string> {
  const changes = run.spec.signalState !== signal || (run.spec.pauseUntil ?? null) !== pauseUntil;
  const generation = (run.metadata.generation ?? 0) + (changes ? 1 : 0);
  return { [ANNOTATION_SIGNAL_SOURCE]: JSON.stringify({ signal, by, via, generation } satisfies SignalStamp) };
}

/** The run's stamp when it is well-formed (a hand-edited annotation is simply not trusted). */
export function readStamp(run: ChaosRun): SignalStamp | undefined {
  const raw = run.metadata.annotations?.[ANNOTATION_SIGNAL_SOURCE];
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as Partial<SignalStamp>;
    if (typeof s.signal === 'string' && typeof s.by === 'string' && typeof s.via === 'string' && typeof s.generation === 'number') return s as SignalStamp;
  } catch { /* not JSON */ }
  return undefined;
}
