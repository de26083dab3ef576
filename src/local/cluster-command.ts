// `chaosrun cluster up|down|status`: the local control plane from the command line.
import { resolve } from 'node:path';
import { clusterDown, clusterUp, defaultClusterDir, isRunning, type UpOptions } from './controlplane.ts';

export async function clusterCommand(positionals: string[], dirOption?: string, options: UpOptions = {}): Promise<number> {
  const dir = dirOption ? resolve(dirOption) : defaultClusterDir;
  const [action] = positionals;
  const log = (m: string) => console.error(m);
  switch (action) {
    case 'up': {
      const { state, alreadyRunning } = await clusterUp(dir, log, options);
      if (alreadyRunning) console.error(`the local control plane is already running at ${state.server}`);
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      // The node's images are imported; the operator and its node agent come with the chart (or run as
      // processes: npm run local -- --real-node), never both, or two agents would hold one node's faults.
      if (state.realNode?.krkn) log(`krkn's images on the real node: ${state.realNode.krkn.images.join(', ')} (nothing pulls them: IfNotPresent for the tagged ones, Never for krkn:latest)`);
      if (options.realNode) log('next: helm install chaosrun charts/chaosrun-operator -n chaosrun-system --create-namespace -f charts/real-node-values.yaml   (the operator, its node agent and the step pods on the real node)');
      return 0;
    }
    case 'down': {
      const stopped = await clusterDown(dir, log);
      console.error(stopped ? `stopped ${stopped} local control-plane processes` : 'no local control plane was running');
      return 0;
    }
    case 'status': {
      const state = await isRunning(dir);
      console.log(state ? `running ${state.kubernetesVersion} at ${state.server}${state.realNode ? ` with real node ${state.realNode.name}` : ''}; export KUBECONFIG=${state.kubeconfig}` : 'not running');
      return state ? 0 : 3;
    }
    default:
      throw new Error(`needs one of up, down or status (got ${JSON.stringify(action ?? '')})`);
  }
}
