// The `stress` kind: stress-ng charged to each target container's own cgroups for the step's duration
// (`cpu: {workers, load}` and/or `memory: {size}`), so the target's CPU quota and memory limit apply to
// the load and the target feels it, as Chaos Mesh's and Litmus's stress do; the memory limit's OOM kill
// lands in the target's cgroup, never elsewhere. Its step is a holder pod like network's (holder.ts);
// the node agent starts one stressor per target container while the holder runs and the run says
// RUN, and kills it at once on PAUSE, STOP and the step's end; each stressor carries a parent-death
// signal and a timeout at the step's end, so it dies with the agent (src/agent/process-shell.ts).
// With `node: true` the load goes to each target pod's node instead (a cgroup of the agent's own outside
// every pod's, as krkn's node hogs load a node): the targets then only say which nodes.
import type { StressBody } from '../../api/types.ts';
import type { ScenarioKind } from '../kind.ts';
import { chooseTargetsForPlan, type ContainerChoice } from '../hold.ts';
import { holderArgs, holderPod, holderRights, targetFlags } from './holder.ts';

const choice = (body: StressBody): ContainerChoice => (body.containers?.length ? { names: body.containers } : 'first');

/** "cpu 2 workers at 80%, memory 96Mi": the load in a few words. */
export function describeStress(body: StressBody): string {
  return [
    body.cpu ? `cpu ${body.cpu.workers} worker(s) at ${body.cpu.load}%` : '',
    body.memory ? `memory ${body.memory.size}` : '',
  ].filter(Boolean).join(', ') + (body.node ? ' on the node' : '');
}

export const stressKind: ScenarioKind<'stress'> = {
  field: 'stress',
  renderStep: (body, ctx, step) => holderPod(
    {
      kind: 'stress',
      ...(body.containers?.length ? { containers: body.containers } : {}),
      ...(body.cpu ? { cpu: { workers: body.cpu.workers, load: body.cpu.load } } : {}),
      ...(body.memory ? { memory: { size: body.memory.size } } : {}),
      ...(body.node ? { node: true } : {}),
    },
    holderArgs('stress', [...targetFlags(body), ['--containers', body.containers?.join(',')], ['--duration', step.duration], ['--what', describeStress(body)]]),
    body, ctx, step,
  ),
  async dryRunPlan(body, ctx, step) {
    try {
      const { chosen, matched } = await chooseTargetsForPlan(ctx.client, body, choice(body));
      const hit = chosen.map((t) => `${t.namespace}/${t.name} (container ${t.containers?.map((c) => c.name).join(', ')}) on ${t.node}`).join(', ');
      if (body.node) return { ok: true, plan: `stress would load (${describeStress(body)}) for ${step.duration} the node(s) ${[...new Set(chosen.map((t) => t.node))].join(', ')} of ${chosen.length} of the ${matched} Running pod(s) that match now` };
      return { ok: true, plan: `stress would load (${describeStress(body)}) for ${step.duration} ${chosen.length} of the ${matched} Running pod(s) that match now, e.g. ${hit}` };
    } catch (err) {
      return { ok: false, plan: `stress would fail: ${(err as Error).message}` };
    }
  },
  authorRights: holderRights,
  reportsOnSuccess: true,
  holdsFault: true,
};
