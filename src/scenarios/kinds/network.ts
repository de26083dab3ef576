// The `network` kind: a lasting network fault (partition, loss, bandwidth or delay) on the target pods, for
// the step's duration. Its step is a *holder* pod: the operator's image running `chaosrun scenario
// network` (src/scenarios/network.ts), which picks the targets, writes them to its own pod, and holds
// for the duration; the node agents (src/agent/) inject the fault in each target's sandbox while the
// holder runs and the run says RUN. The pod template carries what to inject (src/api/fault-holder.ts),
// so the agents never read the ChaosRun's spec.
//
// Its pod, flags and author rights are every holder's (kinds/holder.ts). krkn's network scenarios run as
// krknHub steps: their tc/netem recipe has no lease (see docs/faults.md), so nothing imports onto this.
import { DEFAULT_LEASE_SECONDS, type NetworkEffect, type NetworkFaultSpec } from '../../api/fault-holder.ts';
import type { NetworkBody } from '../../api/types.ts';
import type { RenderContext, ScenarioKind, StepInfo, StepPod } from '../kind.ts';
import { chooseTargetsForPlan } from '../hold.ts';
import { holderArgs, holderPod, holderRights, targetFlags } from './holder.ts';

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
  return holderArgs('network', [...targetFlags(body), ['--duration', step.duration], ['--what', describeEffect(body)]]);
}

export function networkPod(body: NetworkBody, ctx: RenderContext, step: StepInfo): StepPod {
  return holderPod(faultSpecOf(body), networkArgs(body, step), body, ctx, step);
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
  authorRights: holderRights,
  reportsOnSuccess: true,
  holdsFault: true,
};
