// What a run does about its krkn steps' helper namespaces (src/scenarios/krkn-helpers.ts), as a pure
// function of what the shell listed and which step (if any) is running now. decide() adds these actions
// to every pass, so the rule is level-triggered: a helper namespace of any step that is not the running
// one is removed, whether that step ended by STOP, its timeout, the dead-man switch (seen when the
// operator is back), a failure, a success, or never started (a STOP between recording it and its Job).
// Idempotent: deleting what is already gone is done; the shell treats NotFound as success.
//
// Why not in a SIGTERM handler or a finalizer on the step's pod: those are lost when the process that
// holds them dies (krkn#760), and the dead-man switch ends steps exactly when the operator is gone. The
// namespace outlives every process, so the next pass of any operator finds it and ends what is in it.
import { LABEL_RUN } from '../api/constants.ts';
import { LABEL_RUN_NAMESPACE, LABEL_RUN_UID, observeHelperNamespace, type ObservedHelperNamespace } from '../scenarios/krkn-helpers.ts';

/**
 * Remove a step's helper namespace: its pods are deleted with no grace period first (krkn's hog pod
 * runs stress-ng under a shell that ignores SIGTERM, so a graceful delete would load the node for the
 * pod's whole grace period), then the namespace, which refuses anything new krkn still tries to create.
 */
export interface DeleteHelperNamespace { kind: 'deleteHelperNamespace'; name: string; reason: string }

/** How soon to look again while a helper namespace that must go is still there (deleting takes seconds). */
export const HELPER_RECHECK_MS = 1_000;

export interface LeftoverDecision { actions: DeleteHelperNamespace[]; requeueAfterMs?: number }

/**
 * Every observed helper namespace but `keep` (the running step's) goes. One that is already terminating
 * is deleted again only for its pods (the shell's pod deletion is what ends the load in seconds; the
 * namespace controller would give them their grace period): it is cheap and converges.
 */
export function leftoverActions(observed: readonly ObservedHelperNamespace[] | undefined, keep: string | undefined, why: string): LeftoverDecision {
  if (!observed) return { actions: [] };
  const gone = observed.filter((ns) => ns.name !== keep);
  if (gone.length === 0) return { actions: [] };
  return {
    actions: gone.map((ns) => ({ kind: 'deleteHelperNamespace', name: ns.name, reason: why })),
    requeueAfterMs: HELPER_RECHECK_MS,
  };
}

/** A helper namespace as listed, with what names its run. */
export interface ListedHelperNamespace {
  metadata?: { name?: string; labels?: Record<string, string> };
}

/**
 * The sweep's rule, for helper namespaces no run's pass will see: those whose run is gone (deleted
 * while no operator held its finalizer, or re-created under its name: another uid). A namespace counts
 * only if it is exactly a helper namespace (marker, uid, the name derived from its labels) of a run in a
 * namespace this operator watches (`inScope`); another operator's runs are its own to sweep.
 */
export function orphanedHelperNamespaces(
  listed: readonly ListedHelperNamespace[],
  runUid: (namespace: string, name: string) => string | undefined,
  inScope: (namespace: string) => boolean,
): string[] {
  return listed.flatMap((ns) => {
    const labels = ns.metadata?.labels ?? {};
    const runNamespace = labels[LABEL_RUN_NAMESPACE];
    const runName = labels[LABEL_RUN];
    const uid = labels[LABEL_RUN_UID];
    if (!runNamespace || !runName || !uid || !inScope(runNamespace)) return [];
    const seen = observeHelperNamespace(ns, { metadata: { name: runName, namespace: runNamespace, uid } });
    if (!seen || runUid(runNamespace, runName) === uid) return [];
    return [seen.name];
  });
}
