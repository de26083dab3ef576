// The `nodeDrain` kind: a nodeCordon whose nodes' pods are also evicted through the Eviction API, so
// their PodDisruptionBudgets are respected (DaemonSet, mirror, unmanaged and chaos step pods stay, as
// with `kubectl drain` without --force). The controller's cordoner (src/cordon/) evicts while the step
// holds the cordon, and again after a RUN that follows a PAUSE; evictions a budget refuses are retried
// until evictionTimeout, and pods still refused then fail the step. Its author must hold what a drain
// is: `patch nodes` and `create pods/eviction`, cluster-wide (the pods on a node are in any namespace).
import type { ScenarioKind } from '../kind.ts';
import { nodePlan, nodePod, nodeRights, operatorNodeOf } from '../node.ts';

export const nodeDrainKind: ScenarioKind<'nodeDrain'> = {
  field: 'nodeDrain',
  renderStep: (body, ctx, step) => nodePod('nodeDrain', body, ctx, step),
  dryRunPlan: (body, ctx, step) => nodePlan('nodeDrain', body, { client: ctx.client, operatorNode: operatorNodeOf(ctx.job()) }, step),
  authorRights: () => nodeRights('nodeDrain'),
  reportsOnSuccess: true,
};
