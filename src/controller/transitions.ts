// status.transitions: what drove or held a run and when, so the console can draw its timeline from the
// ChaosRun alone, after any restart. Pure helpers for decide(); entries ride on the status writes that
// a change of signal or gate makes anyway (observedSignal, gatedSince), so they cost no write of their own.
// Who sent a signal comes from the signal server's stamp (src/api/signal-source.ts) while it is current.
import { readStamp } from '../api/signal-source.ts';
import { TRANSITIONS_LIMIT, type ChaosRun, type ChaosRunStatus, type Transition } from '../api/types.ts';

export const SPEC_EDIT = 'spec edit (kubectl or another client)';
export const TIMED_PAUSE_ENDED = 'timed pause ended';

const lastSignal = (st: ChaosRunStatus) => st.transitions?.findLast((t) => t.kind === 'Signal');

/**
 * The Signal transition the run's spec asks for now, or undefined when the operator has already acted
 * on this signal (and this timed pause). A first RUN is not recorded: the run's startTime says it.
 */
export function signalTransition(run: ChaosRun, st: ChaosRunStatus, now: string): Transition | undefined {
  const { signalState: signal, pauseUntil } = run.spec;
  const last = lastSignal(st);
  const observed = st.observedSignal;
  const untilChanged = signal === 'PAUSE' && (pauseUntil ?? undefined) !== (last?.signal === 'PAUSE' ? last.pauseUntil : undefined);
  if (signal === observed && !(untilChanged && last)) return undefined;
  if (observed === undefined && signal === 'RUN' && !last) return undefined;
  const stamp = readStamp(run);
  let source = SPEC_EDIT;
  if (stamp && stamp.signal === signal && stamp.generation === run.metadata.generation) source = `${stamp.by} via ${stamp.via}`;
  else if (signal === 'RUN' && last?.signal === 'PAUSE' && last.pauseUntil && Date.parse(last.pauseUntil) <= Date.parse(now)) source = TIMED_PAUSE_ENDED;
  else if (observed === undefined && !last) source = 'created with this signal';
  return { time: now, kind: 'Signal', signal, ...(signal === 'PAUSE' && pauseUntil ? { pauseUntil } : {}), source };
}

/** Appends to status.transitions, keeping the newest TRANSITIONS_LIMIT. */
export function addTransition(st: ChaosRunStatus, t: Transition): void {
  st.transitions = [...(st.transitions ?? []), t].slice(-TRANSITIONS_LIMIT);
}
