// The `containerKill` kind: one signal (default KILL) to a target container's main process, through
// the container runtime's own record of it (src/agent/containers.ts: the task's init pid, which
// containerd's `task kill` signals); the pod stays and the kubelet restarts the container (its
// restartCount goes up). Instantaneous, like podKill: its holder (holder.ts) records the container ids it
// aims at and waits until each has been restarted, then succeeds naming them; the node agent signals a
// container only while it is the one recorded, so a restarted container is never hit twice, and a
// PAUSE or STOP before the agent acted means no signal at all.
import { CONTAINER_KILL_SIGNALS } from '../../api/fault-holder.ts';
import type { ContainerKillBody } from '../../api/types.ts';
import type { ScenarioKind } from '../kind.ts';
import { chooseTargetsForPlan, type ContainerChoice } from '../hold.ts';
import { holderArgs, holderPod, holderRights, targetFlags } from './holder.ts';

const choice = (body: ContainerKillBody): ContainerChoice => (body.container ? { names: [body.container] } : 'first');
/** The signal's name without SIG, upper case: what the agent sends and the summary says. */
export const signalName = (text: string | undefined): string => (text ?? 'KILL').toUpperCase().replace(/^SIG/, '');

export const containerKillKind: ScenarioKind<'containerKill'> = {
  field: 'containerKill',
  renderStep(body, ctx, step) {
    const signal = signalName(body.signal);
    if (!(CONTAINER_KILL_SIGNALS as readonly string[]).includes(signal)) throw new Error(`containerKill signal ${JSON.stringify(body.signal)}: use one of ${CONTAINER_KILL_SIGNALS.join(', ')}`);
    return holderPod(
      { kind: 'containerKill', signal, ...(body.container ? { container: body.container } : {}) },
      holderArgs('container-kill', [...targetFlags(body), ['--container', body.container], ['--signal', signal], ['--restart-timeout', body.restartTimeout]]),
      body, ctx, step,
    );
  },
  async dryRunPlan(body, ctx) {
    try {
      const { chosen, matched } = await chooseTargetsForPlan(ctx.client, body, choice(body));
      const hit = chosen.map((t) => `${t.namespace}/${t.name}/${t.containers?.[0]?.name} on ${t.node}`).join(', ');
      return { ok: true, plan: `containerKill would send SIG${signalName(body.signal)} to ${chosen.length} of the ${matched} Running pod(s) that match now: ${hit}` };
    } catch (err) {
      return { ok: false, plan: `containerKill would fail: ${(err as Error).message}` };
    }
  },
  authorRights: holderRights,
  reportsOnSuccess: true,
  holdsFault: true,
};
