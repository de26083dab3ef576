// Renders a podKill body as the step's pod: the operator's own image running
// `chaosrun scenario pod-kill` with flags that mirror the body, under the scenario ServiceAccount.
import type { PodKillBody, Scenario } from '../api/types.ts';
import type { RenderContext, StepPod } from './step-pod.ts';

/** The CLI arguments of a podKill body (see parsePodKillArgs in main.ts, which reads them back). */
export function podKillArgs(body: PodKillBody): string[] {
  const flags: Array<[string, string | number | undefined]> = [
    ['--namespace', body.namespace],
    ['--namespace-pattern', body.namespacePattern],
    ['--label-selector', body.labelSelector],
    ['--name-pattern', body.namePattern],
    ['--count', body.count ?? 1],
    ['--grace-period-seconds', body.gracePeriodSeconds],
    ['--recovery-timeout', body.recovery?.timeout ?? '120s'],
  ];
  // `--flag=value`: a pattern that starts with "-" must not read as another flag.
  return ['scenario', 'pod-kill', ...flags.filter(([, v]) => v !== undefined).map(([f, v]) => `${f}=${v}`)];
}

export function podKillPod(scenario: Scenario, ctx: RenderContext): StepPod {
  const body = scenario.podKill!;
  return {
    containers: [{
      name: 'scenario',
      image: body.image ?? ctx.operatorImage,
      args: podKillArgs(body),
      terminationMessagePolicy: 'FallbackToLogsOnError',
    }],
    serviceAccountName: body.serviceAccountName ?? ctx.scenarioServiceAccount,
  };
}
