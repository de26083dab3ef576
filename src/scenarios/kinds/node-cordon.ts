// The `nodeCordon` kind: the nodes a label selector and/or names pick are cordoned (unschedulable) for
// the step's duration. Its step is a holder pod (src/scenarios/node.ts) that picks the nodes and waits;
// the controller's cordoner (src/cordon/) cordons them while the holder runs and the run says RUN, and
// uncordons them on every way the step can end. Its author must hold what a cordon is: `patch nodes`.
import type { ScenarioKind } from '../kind.ts';
import { nodePlan, nodePod, nodeRights, operatorNodeOf } from '../node.ts';

export const nodeCordonKind: ScenarioKind<'nodeCordon'> = {
  field: 'nodeCordon',
  renderStep: (body, ctx, step) => nodePod('nodeCordon', body, ctx, step),
  dryRunPlan: (body, ctx, step) => nodePlan('nodeCordon', body, { client: ctx.client, operatorNode: operatorNodeOf(ctx.job()) }, step),
  authorRights: () => nodeRights('nodeCordon'),
  reportsOnSuccess: true,
};
