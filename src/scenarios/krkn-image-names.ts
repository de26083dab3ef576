// The names of krkn's own images: the ones krkn and krkn-hub publish, which a cluster with a registry
// pulls as they are and the real node of the local plane holds built from krkn's sources
// (src/realnode/krkn-images.ts), so a krknHub step names the same image in both.
// A leaf module: it imports nothing.

/** krkn-hub's repository: one image per scenario, tagged with the scenario's name. */
export const KRKN_HUB_REPOSITORY = 'quay.io/krkn-chaos/krkn-hub';

/** The krkn-hub scenarios built for the real node here. */
export const KRKN_HUB_SCENARIOS = ['pod-scenarios', 'container-scenarios', 'node-cpu-hog', 'node-memory-hog', 'network-chaos'] as const;
export type KrknHubScenario = (typeof KRKN_HUB_SCENARIOS)[number];

/** krkn itself (run_kraken.py), the base every krkn-hub image is built FROM. */
export const KRKN_BASE_IMAGE = 'quay.io/krkn-chaos/krkn:latest';

/**
 * The stress-ng helper krkn's hog scenarios start as a pod (their IMAGE). krkn-hub's default is the
 * untagged name, which the kubelet always pulls (:latest); krkn-hog publishes each of its git tags too,
 * and v0.0.1 is the commit built here, so a step that passes this name is pulled nowhere on the real
 * node and pulls the same image anywhere else.
 */
export const KRKN_HOG_IMAGE = 'quay.io/krkn-chaos/krkn-hog:v0.0.1';

/**
 * The image krkn's network-chaos starts its helper pod and Jobs from (its IMAGE, krkn-hub's default):
 * `ip` and `tc` on the node's network. Upstream publishes it; it is not built from krkn's sources, so
 * the real node holds a stand-in with the same tools (src/realnode/krkn-images.ts).
 */
export const KRKN_TOOLS_IMAGE = 'quay.io/krkn-chaos/krkn:tools';

export function krknHubImageName(scenario: KrknHubScenario): string {
  return `${KRKN_HUB_REPOSITORY}:${scenario}`;
}
