// A krkn step's helper namespace: where krkn creates what it leaves behind, so that the operator can
// remove it when the step ends however it ended, and nothing of anyone else's.
//
// krkn's hog scenarios (krkn-hub node-cpu-hog, node-memory-hog, node-io-hog) start a privileged
// `<type>-hog-<5 random letters>` pod in the scenario's NAMESPACE (krkn-lib's hog_pod.j2) and delete it
// only when the hog ran its course; a krkn killed mid-scenario (STOP, a timeout, the dead-man switch, a
// failure) leaves it loading the node until stress-ng's own timeout. Those pods carry no label, no owner,
// and a random name: nothing on them says which step (or which other krkn, or which person) made them.
// The ways to find them, weighed:
// - By name in a shared namespace (`cpu-hog-*` in `default`): another run's hog, a second krkn run by
//   hand, or anyone's pod named so matches. Not safe.
// - By what krkn-lib lets the scenario set on the pod: image, node selector, tolerations, namespace; no
//   label, annotation or name. A per-step image tag (`IMAGE=…:<step>`) would mark the pod, but it needs an
//   image per step on every node, and a pod with the same image anywhere would still match. Not safe.
// - A namespace of the step's own (this module): the operator creates it for the step, labelled with the
//   run's uid, iteration and step, named from exactly those, and passes it to krkn as NAMESPACE, the
//   namespace krkn makes its hog pod in. Nobody else has a reason to create anything there, and a name
//   derived from the run's uid cannot be another run's. At the step's end (and for any step of the run
//   that is not running) the operator deletes its pods with no grace period, so the load ends in
//   seconds, then the namespace. The costs: create, list and delete on namespaces at the cluster scope,
//   delete on pods wherever such a namespace is; the chart's admission policy narrows both to namespaces
//   carrying LABEL_KRKN_HELPERS, so those rights reach nothing else (see docs/safety.md).
//
// krkn's network-chaos makes its helpers in `default`, hard-coded; its krkn talks to the API server
// through a proxy that moves them into the helper namespace (PROXIED_SCENARIOS, src/krkn-proxy/).
//
// A leaf module: the API types and constants only, so decide(), the renderer and the kinds can use it.
import { LABEL_ITERATION, LABEL_MANAGED_BY, LABEL_RUN, LABEL_STEP_INDEX, MANAGER } from '../api/constants.ts';
import type { ChaosRun, Scenario } from '../api/types.ts';

/** On a helper namespace: it is one (the admission policy lets the operator delete only these). */
export const LABEL_KRKN_HELPERS = 'chaosrun.dev/krkn-helpers';
/** On a helper namespace: the uid of the run whose step it serves. */
export const LABEL_RUN_UID = 'chaosrun.dev/run-uid';
/** On a helper namespace: the namespace of that run. */
export const LABEL_RUN_NAMESPACE = 'chaosrun.dev/run-namespace';

/** krkn-hub scenarios whose krkn makes a helper pod in NAMESPACE (the hog scenarios): it is set to the helper namespace. */
export const NAMESPACE_SCENARIOS: readonly string[] = ['node-cpu-hog', 'node-memory-hog', 'node-io-hog'];
/**
 * krkn-hub scenarios whose krkn makes its helpers in namespace `default`, hard-coded in krkn's code
 * (network-chaos: a `fedtools-<n>` pod and `chaos-<param><hash>` Jobs): their krkn reaches the API
 * server through the krkn API proxy (src/krkn-proxy/), which moves every request about `default` into
 * the helper namespace. Only scenarios that target nothing in any namespace belong here (network-chaos
 * targets nodes): pod-network-chaos also hard-codes `default` for its `modtools-` pods, but its target
 * pods may be in `default` too, and the proxy would hide them from it.
 */
export const PROXIED_SCENARIOS: readonly string[] = ['network-chaos'];
/** Every krkn-hub scenario a helper namespace serves. */
export const HELPER_SCENARIOS: readonly string[] = [...NAMESPACE_SCENARIOS, ...PROXIED_SCENARIOS];
/** The namespace PROXIED_SCENARIOS' krkn hard-codes. */
export const KRKN_DEFAULT_NAMESPACE = 'default';

const PREFIX = 'chaosrun-krkn-';

/** The scenario's krkn makes its helpers in NAMESPACE, which the operator owns for it. */
export function usesHelperNamespace(scenario: Scenario | undefined): boolean {
  return scenario?.krknHub !== undefined && HELPER_SCENARIOS.includes(scenario.krknHub.scenario);
}

/** A run with a step of that kind: its passes read its helper namespaces. */
export function runUsesHelperNamespaces(run: ChaosRun): boolean {
  return run.spec.scenarios.some(usesHelperNamespace);
}

/**
 * The helper namespace of one step: `chaosrun-krkn-<run uid, 32 hex digits>-<iteration>-<step index>`,
 * a DNS label of at most 63 characters, unique to the run instance and the step.
 */
export function helperNamespaceName(runUid: string, iteration: number, stepIndex: number): string {
  return `${PREFIX}${runUid.replace(/-/g, '').toLowerCase()}-${iteration}-${stepIndex}`;
}

/** The step's helper namespace, when its scenario has one. */
export function helperNamespaceOf(run: ChaosRun, iteration: number, stepIndex: number): string | undefined {
  return usesHelperNamespace(run.spec.scenarios[stepIndex]) ? helperNamespaceName(run.metadata.uid, iteration, stepIndex) : undefined;
}

export interface HelperNamespaceObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: { name: string; labels: Record<string, string> };
}

/** The Namespace object the operator creates for the step. */
export function helperNamespaceObject(run: ChaosRun, iteration: number, stepIndex: number): HelperNamespaceObject {
  return {
    apiVersion: 'v1', kind: 'Namespace',
    metadata: {
      name: helperNamespaceName(run.metadata.uid, iteration, stepIndex),
      labels: {
        [LABEL_KRKN_HELPERS]: 'true',
        [LABEL_RUN]: run.metadata.name,
        [LABEL_RUN_NAMESPACE]: run.metadata.namespace,
        [LABEL_RUN_UID]: run.metadata.uid,
        [LABEL_ITERATION]: String(iteration),
        [LABEL_STEP_INDEX]: String(stepIndex),
        [LABEL_MANAGED_BY]: MANAGER,
      },
    },
  };
}

/** A namespace as the shell lists it. */
export interface NamespaceView {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
}

/** A helper namespace of a run, as decide() sees it. */
export interface ObservedHelperNamespace {
  name: string;
  iteration: number;
  stepIndex: number;
  /** It has a deletionTimestamp (its pods are being removed by the namespace controller). */
  terminating: boolean;
}

/**
 * The run's helper namespace this is, or undefined: it must carry the marker label and the run's uid,
 * and its name must be exactly the one derived from them. A namespace anyone else made (another name,
 * another run's uid, no marker) is never one, whatever else it shares.
 */
export function observeHelperNamespace(ns: NamespaceView, run: Pick<ChaosRun, 'metadata'>): ObservedHelperNamespace | undefined {
  const labels = ns.metadata?.labels ?? {};
  const iteration = Number(labels[LABEL_ITERATION]);
  const stepIndex = Number(labels[LABEL_STEP_INDEX]);
  if (labels[LABEL_KRKN_HELPERS] !== 'true' || labels[LABEL_RUN_UID] !== run.metadata.uid) return undefined;
  if (labels[LABEL_RUN_NAMESPACE] !== run.metadata.namespace) return undefined;
  if (!Number.isInteger(iteration) || !Number.isInteger(stepIndex)) return undefined;
  const name = ns.metadata?.name;
  if (name !== helperNamespaceName(run.metadata.uid, iteration, stepIndex)) return undefined;
  return { name, iteration, stepIndex, terminating: Boolean(ns.metadata?.deletionTimestamp) };
}
