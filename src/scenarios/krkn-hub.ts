// Renders a krknHub body as the step's pod: <registry>/<repository>:<tag or scenario> with the
// scenario's parameters as environment variables, and the kubeconfig from a Secret where krkn-hub
// images read it (they run as the krkn user).
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { Scenario } from '../api/types.ts';
import type { StepPod } from './step-pod.ts';

export const KRKN_KUBECONFIG_PATH = '/home/krkn/.kube/config';
/** The key of the kubeconfig in the Secret named by kubeconfigSecret. */
export const KUBECONFIG_SECRET_KEY = 'config';

export function krknHubImage(scenario: Scenario): string {
  const body = scenario.krknHub!;
  return `${body.registry}/${body.repository}:${body.tag ?? body.scenario}`;
}

export function krknHubPod(scenario: Scenario): StepPod {
  const body = scenario.krknHub!;
  const container: V1Container = {
    name: 'scenario',
    image: krknHubImage(scenario),
    ...(body.env ? { env: Object.entries(body.env).map(([name, value]) => ({ name, value })) } : {}),
    ...(body.resources ? { resources: body.resources } : {}),
    // krkn logs why a scenario failed; its last lines are the best reason the history can show.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const volumes: V1Volume[] = [];
  if (body.kubeconfigSecret) {
    volumes.push({ name: 'kubeconfig', secret: { secretName: body.kubeconfigSecret } });
    // subPath: mounting the Secret on the directory would hide everything else under ~/.kube.
    container.volumeMounts = [{ name: 'kubeconfig', mountPath: KRKN_KUBECONFIG_PATH, subPath: KUBECONFIG_SECRET_KEY, readOnly: true }];
  }
  return {
    containers: [container],
    serviceAccountName: body.serviceAccountName,
    ...(volumes.length ? { volumes } : {}),
    podMetadata: body.podMetadata,
  };
}
