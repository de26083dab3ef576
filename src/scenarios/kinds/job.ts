// The `job` kind: a container of the author's choosing runs as the step (any image, command, args,
// env, ServiceAccount). Because the pod is the author's to choose, its author must be allowed to
// create Jobs in the run's namespace themselves; the operator creates none they could not.
import type { V1Container, V1Job } from '@kubernetes/client-node';
import type { JobBody } from '../../api/types.ts';
import type { AuthorRight, ScenarioKind, StepPod } from '../kind.ts';

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

/** The right to run a pod of one's own choosing in the run's namespace, as a step Job. */
export const createJobsIn = (namespace: string): AuthorRight => ({ verb: 'create', group: 'batch', resource: 'jobs', namespace });

function jobPod(job: JobBody): StepPod {
  return {
    containers: [{
      name: 'scenario',
      image: job.image,
      ...(job.command ? { command: job.command } : {}),
      ...(job.args ? { args: job.args } : {}),
      ...(job.env ? { env: job.env as V1Container['env'] } : {}),
      ...(job.resources ? { resources: job.resources } : {}),
      terminationMessagePolicy: 'FallbackToLogsOnError',
    }],
    serviceAccountName: job.serviceAccountName,
    podMetadata: job.podMetadata,
  };
}

export const jobKind: ScenarioKind<'job'> = {
  field: 'job',
  renderStep: (body) => jobPod(body),
  dryRunPlan: async (_body, ctx) => ({ ok: true, plan: describeJob(ctx.job()) }),
  authorRights: (_body, runNamespace) => [createJobsIn(runNamespace)],
};
