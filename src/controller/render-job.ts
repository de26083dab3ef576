// Renders the Kubernetes Job of one step: deterministic name, labels, a controller ownerReference to
// the ChaosRun (deleting the run removes its Jobs), one attempt, and the scenario body's pod.
import type { V1Job } from '@kubernetes/client-node';
import {
  API_VERSION, KIND, LABEL_ITERATION, LABEL_MANAGED_BY, LABEL_RUN, LABEL_STEP, LABEL_STEP_INDEX, MANAGER,
} from '../api/constants.ts';
import type { ChaosRun, Scenario } from '../api/types.ts';
import { parseDuration } from '../api/duration.ts';
import { deadManSecondsOf, initialDeadline } from '../safety/dead-man.ts';
import type { RenderContext, StepPod } from '../scenarios/kind.ts';
import { helperNamespaceOf } from '../scenarios/krkn-helpers.ts';
import { kindAndBody } from '../scenarios/registry.ts';

/** The pod a scenario body runs as: its kind renders it (src/scenarios/kinds/). */
export function scenarioPod(scenario: Scenario, ctx: RenderContext, helperNamespace?: string): StepPod {
  const { kind, body } = kindAndBody(scenario);
  return kind.renderStep(body, ctx, { name: scenario.name, duration: scenario.duration, ...(helperNamespace ? { helperNamespace } : {}) });
}

export function renderJob(run: ChaosRun, name: string, iteration: number, stepIndex: number, ctx: RenderContext): V1Job {
  const scenario = run.spec.scenarios[stepIndex];
  const pod = scenarioPod(scenario, ctx, helperNamespaceOf(run, iteration, stepIndex));
  // The dead-man switch: Kubernetes ends the step by itself unless a live operator moves this on.
  const deadline = initialDeadline(deadManSecondsOf(run.spec), scenario.timeout ? parseDuration(scenario.timeout) : undefined);
  const labels = {
    [LABEL_RUN]: run.metadata.name,
    [LABEL_ITERATION]: String(iteration),
    [LABEL_STEP]: scenario.name,
    [LABEL_STEP_INDEX]: String(stepIndex),
    [LABEL_MANAGED_BY]: MANAGER,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: run.metadata.namespace,
      labels,
      ownerReferences: [{
        apiVersion: API_VERSION, kind: KIND, name: run.metadata.name, uid: run.metadata.uid,
        controller: true, blockOwnerDeletion: true,
      }],
    },
    spec: {
      // A step runs once: a failed attempt is the step's result, not something to retry.
      backoffLimit: 0,
      ...(deadline !== undefined ? { activeDeadlineSeconds: deadline } : {}),
      template: {
        metadata: {
          labels: { ...pod.podMetadata?.labels, ...labels },
          ...(pod.podMetadata?.annotations ? { annotations: pod.podMetadata.annotations } : {}),
        },
        spec: {
          restartPolicy: 'Never',
          ...(pod.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds } : {}),
          ...(pod.initContainers?.length ? { initContainers: pod.initContainers } : {}),
          containers: pod.containers,
          ...(pod.serviceAccountName ? { serviceAccountName: pod.serviceAccountName } : {}),
          ...(pod.volumes ? { volumes: pod.volumes } : {}),
          ...(ctx.stepPlacement?.nodeSelector ? { nodeSelector: ctx.stepPlacement.nodeSelector } : {}),
          ...(ctx.stepPlacement?.tolerations?.length ? { tolerations: ctx.stepPlacement.tolerations } : {}),
        },
      },
    },
  };
}
