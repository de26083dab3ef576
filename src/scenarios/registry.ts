// Every scenario kind the operator runs, once. A scenario's kind is the one whose body key it has
// (the CRD allows exactly one); the Job renderer, the dry run and `chaosrun import` find it here
// instead of testing body keys themselves. Adding a kind: its module in kinds/ and one line below
// (the `satisfies` makes the compiler ask for it once the body is in src/api/types.ts).
//
// The order is the order `chaosrun import` offers a krkn scenario file to the kinds: krknHub, which
// takes every type a krkn-hub image runs, stays last.
import type { Scenario } from '../api/types.ts';
import type { BodyField, BodyOf, ScenarioKind } from './kind.ts';
import { jobKind } from './kinds/job.ts';
import { krknHubKind } from './kinds/krkn-hub.ts';
import { networkKind } from './kinds/network.ts';
import { freezeKind } from './kinds/freeze.ts';
import { stressKind } from './kinds/stress.ts';
import { containerKillKind } from './kinds/container-kill.ts';
import { podKillKind } from './kinds/pod-kill.ts';
import { nodeCordonKind } from './kinds/node-cordon.ts';
import { nodeDrainKind } from './kinds/node-drain.ts';

const BY_FIELD = {
  job: jobKind,
  podKill: podKillKind,
  network: networkKind,
  freeze: freezeKind,
  stress: stressKind,
  containerKill: containerKillKind,
  nodeCordon: nodeCordonKind,
  nodeDrain: nodeDrainKind,
  krknHub: krknHubKind,
} as const satisfies { [F in BodyField]: ScenarioKind<F> };

export const SCENARIO_KINDS: readonly ScenarioKind[] = Object.values(BY_FIELD);

/** The kind of a scenario, found by its body; throws for a scenario with none this operator runs. */
export function kindOf(scenario: Scenario): ScenarioKind {
  const kind = SCENARIO_KINDS.find((k) => scenario[k.field]);
  if (!kind) throw new Error(`scenario ${scenario.name} has no body this operator can run`);
  return kind;
}

/** A scenario's kind with its body: what every call on the kind is given. */
export function kindAndBody(scenario: Scenario): { kind: ScenarioKind; body: BodyOf<BodyField> } {
  const kind = kindOf(scenario);
  return { kind, body: scenario[kind.field]! };
}

/** Whether a scenario's step is a fault holder the node agents act on (network, freeze, stress, containerKill). */
export const isLastingScenario = (scenario: Scenario): boolean => SCENARIO_KINDS.some((k) => scenario[k.field] && k.holdsFault);
