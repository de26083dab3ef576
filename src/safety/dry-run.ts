// Dry runs: what a step would do, computed instead of doing it. The controller's shell asks for the
// plan of the step a dry run is about to record; decide() records it as the step's result. Each kind
// says what its plan is (src/scenarios/kinds/): a podKill lists the pods it would choose from, a job or
// krknHub step names the Job it would create. A plan only reads, and never creates or deletes anything.
//
// The plan reads with the operator's own access (pods get/list in the namespaces it may see); a
// podKill with namespacePattern needs namespaces list, which the operator does not have, so its plan
// says it could not list them.
//
// The caller hands in the step's Job, rendered on demand: this module knows no controller, so the
// controller may import it without a circle.
import type { V1Job } from '@kubernetes/client-node';
import type { Scenario } from '../api/types.ts';
import type { ApiReader, StepPlan } from '../scenarios/kind.ts';
import { kindAndBody } from '../scenarios/registry.ts';

/** The plan of one step: read-only. `job` renders the Job the step would create (only asked for when the plan names it). */
export async function planStep(client: ApiReader, scenario: Scenario, job: () => V1Job): Promise<StepPlan> {
  const { kind, body } = kindAndBody(scenario);
  return kind.dryRunPlan(body, { client, job }, { name: scenario.name, duration: scenario.duration });
}
