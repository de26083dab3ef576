// What the pod-targeted fault kinds (network, freeze, stress, containerKill) share: their step is a
// holder pod (src/api/fault-holder.ts) running the operator's image (`chaosrun scenario <command>`,
// src/scenarios/hold.ts), with the same target selection flags, the same downward-API env, the same
// readiness probe (ready once its targets are on its pod) and the same author rights.
//
// Their author must be allowed what the fault is equivalent to: entering a pod's namespaces or cgroups
// (its network, freezing or loading its processes, signalling its container) is what `create pods/exec`
// grants there (in the target namespace, or at the cluster scope for a namespacePattern). A holder with
// its own image or ServiceAccount runs a pod of its author's choosing, so that also needs `create
// jobs`, as a job does.
import { ANNOTATION_DURATION, ANNOTATION_FAULT, HOLDER_PROBE_PORT, LABEL_FAULT, type FaultSpec } from '../../api/fault-holder.ts';
import type { PodTargets } from '../../api/types.ts';
import type { AuthorRight, RenderContext, StepInfo, StepPod } from '../kind.ts';
import { createJobsIn } from './job.ts';

type Flags = Array<[string, string | number | undefined]>;

/** The target selection as the holder's flags. */
export const targetFlags = (body: PodTargets): Flags => [
  ['--namespace', body.namespace],
  ['--namespace-pattern', body.namespacePattern],
  ['--label-selector', body.labelSelector],
  ['--name-pattern', body.namePattern],
  ['--count', body.count],
  ['--percent', body.percent],
];

export function holderArgs(command: string, flags: Flags): string[] {
  return ['scenario', command, ...flags.filter(([, v]) => v !== undefined).map(([f, v]) => `${f}=${v}`)];
}

export function holderPod(spec: FaultSpec, args: string[], body: PodTargets, ctx: RenderContext, step: StepInfo): StepPod {
  return {
    containers: [{
      name: 'scenario',
      image: body.image ?? ctx.operatorImage,
      args,
      // The holder records its targets on its own pod: it learns which pod that is from the downward API.
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ],
      terminationMessagePolicy: 'FallbackToLogsOnError',
      // Ready once its targets are recorded: that Job event wakes the controller to show them in force.
      ports: [{ name: 'probe', containerPort: HOLDER_PROBE_PORT }],
      readinessProbe: { httpGet: { path: '/ready', port: HOLDER_PROBE_PORT }, periodSeconds: 1, failureThreshold: 1 },
    }],
    serviceAccountName: body.serviceAccountName ?? ctx.scenarioServiceAccount,
    podMetadata: {
      labels: { [LABEL_FAULT]: spec.kind },
      annotations: { [ANNOTATION_FAULT]: JSON.stringify(spec), ...(step.duration ? { [ANNOTATION_DURATION]: step.duration } : {}) },
    },
  };
}

export function holderRights(body: PodTargets, runNamespace: string): AuthorRight[] {
  const exec: AuthorRight = { verb: 'create', group: '', resource: 'pods', subresource: 'exec', ...(body.namespace !== undefined ? { namespace: body.namespace } : {}) };
  return body.image !== undefined || body.serviceAccountName !== undefined ? [createJobsIn(runNamespace), exec] : [exec];
}
