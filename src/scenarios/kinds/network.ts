// The `network` kind: a lasting network fault (partition, loss, bandwidth or delay) on the target pods, for
// the step's duration. Its step is a *holder* pod: the operator's image running `chaosrun scenario
// network` (src/scenarios/network.ts), which picks the targets, writes them to its own pod, and holds
// for the duration; the node agents (src/agent/) inject the fault in each target's sandbox while the
// holder runs and the run says RUN. The pod template carries what to inject (src/api/fault-holder.ts),
// so the agents never read the ChaosRun's spec.
//
// Its author must be allowed what the fault is equivalent to: entering a pod's namespaces to change
// its network is what `create pods/exec` grants there (in the target namespace, or at the cluster
// scope for a namespacePattern). A holder with its own image or ServiceAccount runs a pod of its
// author's choosing, so that also needs `create jobs`, as a job does. krkn's network scenarios run as
// krknHub steps: their tc/netem recipe has no lease (see docs/faults.md), so nothing imports onto this.
import { ANNOTATION_DURATION, ANNOTATION_FAULT, DEFAULT_LEASE_SECONDS, HOLDER_PROBE_PORT, LABEL_FAULT, type NetworkEffect, type NetworkFaultSpec } from '../../api/fault-holder.ts';
import type { NetworkBody } from '../../api/types.ts';
import type { AuthorRight, RenderContext, ScenarioKind, StepInfo, StepPod } from '../kind.ts';
import { chooseTargetsForPlan } from '../network.ts';
import { createJobsIn } from './job.ts';

export function effectOf(body: NetworkBody): NetworkEffect {
  if (body.loss) return { loss: { percent: body.loss.percent } };
  if (body.bandwidth) return { bandwidth: { rate: body.bandwidth.rate } };
  if (body.delay) return { delay: { latency: body.delay.latency, ...(body.delay.jitter !== undefined ? { jitter: body.delay.jitter } : {}) } };
  return { partition: {} };
}

/** What the agents inject, as the holder pod's annotation carries it. */
export function faultSpecOf(body: NetworkBody): NetworkFaultSpec {
  return {
    kind: 'network', direction: body.direction ?? 'both', effect: effectOf(body),
    leaseSeconds: body.leaseSeconds ?? DEFAULT_LEASE_SECONDS, ...(body.to?.length ? { to: body.to } : {}),
  };
}

/** "partition (both, to 198.19.0.0/24:443)": the fault in a few words, for plans and summaries. */
export function describeEffect(body: NetworkBody): string {
  const e = effectOf(body);
  const what = 'loss' in e ? `loss ${e.loss.percent}%` : 'bandwidth' in e ? `bandwidth ${e.bandwidth.rate}`
    : 'delay' in e ? `delay ${e.delay.latency}${e.delay.jitter ? ` ± ${e.delay.jitter}` : ''}` : 'partition';
  const peers = body.to?.map((p) => `${p.cidr}${p.ports?.length ? `:${p.ports.join(',')}` : ''}`).join(' ');
  return `${what} (${body.direction ?? 'both'}${peers ? `, with ${peers}` : ''})`;
}

export function networkArgs(body: NetworkBody, step: StepInfo): string[] {
  const flags: Array<[string, string | number | undefined]> = [
    ['--namespace', body.namespace],
    ['--namespace-pattern', body.namespacePattern],
    ['--label-selector', body.labelSelector],
    ['--name-pattern', body.namePattern],
    ['--count', body.count],
    ['--percent', body.percent],
    ['--duration', step.duration],
    ['--what', describeEffect(body)],
  ];
  return ['scenario', 'network', ...flags.filter(([, v]) => v !== undefined).map(([f, v]) => `${f}=${v}`)];
}

export function networkPod(body: NetworkBody, ctx: RenderContext, step: StepInfo): StepPod {
  return {
    containers: [{
      name: 'scenario',
      image: body.image ?? ctx.operatorImage,
      args: networkArgs(body, step),
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
      labels: { [LABEL_FAULT]: 'network' },
      annotations: { [ANNOTATION_FAULT]: JSON.stringify(faultSpecOf(body)), ...(step.duration ? { [ANNOTATION_DURATION]: step.duration } : {}) },
    },
  };
}

function networkRights(body: NetworkBody, runNamespace: string): AuthorRight[] {
  const exec: AuthorRight = { verb: 'create', group: '', resource: 'pods', subresource: 'exec', ...(body.namespace !== undefined ? { namespace: body.namespace } : {}) };
  return body.image !== undefined || body.serviceAccountName !== undefined ? [createJobsIn(runNamespace), exec] : [exec];
}

export const networkKind: ScenarioKind<'network'> = {
  field: 'network',
  renderStep: networkPod,
  async dryRunPlan(body, ctx, step) {
    try {
      const { chosen, matched } = await chooseTargetsForPlan(ctx.client, body);
      const hit = chosen.map((t) => `${t.namespace}/${t.name} on ${t.node}`).join(', ');
      return { ok: true, plan: `network would hold ${describeEffect(body)} for ${step.duration} on ${chosen.length} of the ${matched} Running pod(s) that match now, e.g. ${hit}` };
    } catch (err) {
      return { ok: false, plan: `network would fail: ${(err as Error).message}` };
    }
  },
  authorRights: networkRights,
  reportsOnSuccess: true,
};
