// Dry runs: what a step would do, computed instead of doing it. The controller's shell asks for the
// plan of the step a dry run is about to record; decide() records it as the step's result. A plan
// only reads: it lists the pods a podKill would choose from and renders the Job a job or krknHub step
// would create, and never creates or deletes anything.
//
// The plan reads with the operator's own access (pods get/list in the namespaces it may see); a
// podKill with namespacePattern needs namespaces list, which the operator does not have, so its plan
// says it could not list them.
import type { V1Job } from '@kubernetes/client-node';
import { parseDuration } from '../api/duration.ts';
import type { ChaosRun } from '../api/types.ts';
import type { DryRunPlan } from '../controller/decide.ts';
import { jobName } from '../controller/job-name.ts';
import { renderJob } from '../controller/render-job.ts';
import type { RenderContext } from '../scenarios/step-pod.ts';
import type { ApiClient } from '../kube/client.ts';
import { selectTargets } from '../scenarios/pod-kill.ts';

/** One line naming what the Job would run: image, command, args and ServiceAccount of each container. */
export function describeJob(job: V1Job): string {
  const pod = job.spec!.template.spec!;
  const containers = pod.containers.map((c) => [
    `image ${c.image}`,
    c.command ? `command ${JSON.stringify(c.command)}` : undefined,
    c.args ? `args ${JSON.stringify(c.args)}` : undefined,
  ].filter(Boolean).join(', '));
  return `would create Job ${job.metadata!.namespace}/${job.metadata!.name}: ${containers.join('; ')}, service account ${pod.serviceAccountName ?? 'default'}`;
}

/** The plan of step `stepIndex` of `iteration`: read-only. */
export async function planStep(client: ApiClient, run: ChaosRun, iteration: number, stepIndex: number, render: RenderContext): Promise<DryRunPlan> {
  const scenario = run.spec.scenarios[stepIndex];
  if (scenario.podKill) {
    const body = scenario.podKill;
    try {
      const { pods, target } = await selectTargets(client, {
        ...body, count: body.count ?? 1, recoveryTimeoutMs: parseDuration(body.recovery?.timeout ?? '120s'),
      });
      const names = pods.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`).sort();
      return { stepIndex, ok: true, plan: `podKill would delete ${body.count ?? 1} of the ${names.length} pod(s) that match now (${target}): ${names.join(', ')}` };
    } catch (err) {
      return { stepIndex, ok: false, plan: `podKill would fail: ${(err as Error).message}` };
    }
  }
  const { name, uid } = run.metadata;
  return { stepIndex, ok: true, plan: describeJob(renderJob(run, jobName(name, uid, iteration, stepIndex), iteration, stepIndex, render)) };
}
