// The contract between the Job renderer (src/controller/render-job.ts) and the scenario bodies'
// renderers (krkn-hub.ts, pod-kill-pod.ts): what a body contributes to a step's pod, and the
// operator-wide settings it may use. A leaf module: it imports no module of ours but the API types,
// so the renderer and the renderers can both depend on it without an import circle.
import type { V1Container, V1Toleration, V1Volume } from '@kubernetes/client-node';
import type { PodMetadata } from '../api/types.ts';

/** What a scenario body contributes to the step's pod. */
export interface StepPod {
  containers: V1Container[];
  serviceAccountName?: string;
  volumes?: V1Volume[];
  podMetadata?: PodMetadata;
}

/** Operator-wide settings that built-in scenarios need. */
export interface RenderContext {
  /** The operator's own image, which runs the built-in scenarios (`chaosrun scenario …`). */
  operatorImage: string;
  /** The ServiceAccount built-in scenarios run as by default. */
  scenarioServiceAccount: string;
  /** Where every step pod runs (e.g. a node set aside for chaos tooling); empty: wherever the scheduler likes. */
  stepPlacement?: StepPlacement;
}

export interface StepPlacement {
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
}

export const defaultRenderContext: RenderContext = {
  operatorImage: process.env.OPERATOR_IMAGE ?? 'ghcr.io/chaosrun/chaosrun-operator:0.1.0',
  scenarioServiceAccount: process.env.SCENARIO_SERVICE_ACCOUNT ?? 'chaosrun-scenario',
};
