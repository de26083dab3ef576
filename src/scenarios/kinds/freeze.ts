// The `freeze` kind: every process of the target pods' containers (or only the named ones) frozen by
// the cgroup freezer (v1 freezer.state, v2 cgroup.freeze) for the step's duration: a hung process, the
// failure liveness and readiness probes exist for. Its step is a holder pod like network's (holder.ts);
// the node agent of each target's node freezes while the holder runs and the run says RUN, and thaws
// at once on PAUSE, STOP, the step's end and every other way a step ends (src/agent/freezer.ts). A
// freeze has no kernel lease: what bounds it when the agent dies is said in docs/faults.md.
import type { FreezeBody } from '../../api/types.ts';
import type { ScenarioKind } from '../kind.ts';
import { chooseTargetsForPlan, type ContainerChoice } from '../hold.ts';
import { holderArgs, holderPod, holderRights, targetFlags } from './holder.ts';

const choice = (body: FreezeBody): ContainerChoice => (body.containers?.length ? { names: body.containers } : 'all');

export const freezeKind: ScenarioKind<'freeze'> = {
  field: 'freeze',
  renderStep: (body, ctx, step) => holderPod(
    { kind: 'freeze', ...(body.containers?.length ? { containers: body.containers } : {}) },
    holderArgs('freeze', [...targetFlags(body), ['--containers', body.containers?.join(',')], ['--duration', step.duration], ['--what', 'freeze']]),
    body, ctx, step,
  ),
  async dryRunPlan(body, ctx, step) {
    try {
      const { chosen, matched } = await chooseTargetsForPlan(ctx.client, body, choice(body));
      const hit = chosen.map((t) => `${t.namespace}/${t.name} (containers ${t.containers?.map((c) => c.name).join(', ')}) on ${t.node}`).join(', ');
      return { ok: true, plan: `freeze would freeze for ${step.duration} ${chosen.length} of the ${matched} Running pod(s) that match now, e.g. ${hit}` };
    } catch (err) {
      return { ok: false, plan: `freeze would fail: ${(err as Error).message}` };
    }
  },
  authorRights: holderRights,
  reportsOnSuccess: true,
  holdsFault: true,
};
