// The CLI's command table: a name, a one-line summary, and the module that declares and runs the
// command, imported only when the command runs (or shows its help), so `chaosrun --help` stays fast and
// a scenario pod loads only what it runs. Option parsing lives in the leaf module options.ts: command
// modules import it, never this table.
import { defineCommand, type Command } from './options.ts';

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

const cluster = defineCommand({
  name: 'chaosrun cluster',
  usage: 'up|down|status [--dir DIR] [--real-node [--krkn]]',
  description: `Manages the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
kwok node) built from the official Go modules. 'up' builds on first use (cached under ~/.cache),
starts it on loopback, installs the CRDs and writes DIR/kubeconfig. Needs a checkout of the project.`,
  options: {
    dir: { type: 'string', value: 'DIR', help: 'where the plane keeps its state and kubeconfig (default: .cluster/ in the checkout)' },
    'real-node': {
      type: 'boolean',
      help: '(up) also start a real node: containerd, kubelet and kube-proxy, with the operator\'s image built from the Dockerfile; ' +
        'needs root (installs Debian packages when missing). Pods choose it with nodeSelector chaosrun.dev/node=real and a toleration ' +
        'of the taint chaosrun.dev/real-node=true:NoSchedule; a pod with no choice runs on the kwok node.',
    },
    krkn: {
      type: 'boolean',
      help: '(up --real-node) also build krkn\'s own images from krkn\'s sources (../shared/peers/krkn beside the checkout, or ' +
        'CHAOSRUN_KRKN_SOURCES) with buildah, cached, and import them into the real node under upstream\'s names: ' +
        'quay.io/krkn-chaos/krkn-hub:pod-scenarios, :container-scenarios, :node-cpu-hog, :node-memory-hog, :network-chaos, ' +
        'quay.io/krkn-chaos/krkn:latest, the hog helper quay.io/krkn-chaos/krkn-hog:v0.0.1 and network-chaos\'s quay.io/krkn-chaos/krkn:tools (first build about 10 minutes).',
    },
  },
  positionals: true,
  async run(values, positionals) {
    const { clusterCommand } = await import('./local/cluster-command.ts');
    return clusterCommand(positionals, values.dir, { realNode: values['real-node'], krkn: values.krkn });
  },
});

const local = defineCommand({
  name: 'chaosrun local',
  usage: '[--port 8081] [--bind 127.0.0.1] [--real-node]',
  description: `The main job on the embedded default: when KUBECONFIG is not set, starts the local control plane
(chaosrun cluster up); installs the CRDs; then runs the controller and the signal server (no auth,
bound to 127.0.0.1) in the foreground until Ctrl-C.`,
  options: {
    port: { type: 'string', value: 'N', default: '8081', help: 'the signal server\'s port' },
    bind: { type: 'string', value: 'ADDR', default: '127.0.0.1', help: 'the signal server\'s address' },
    'real-node': { type: 'boolean', help: 'start the plane with a real node (needs root; see chaosrun cluster --help); step pods then run on it, so chaos really acts on real containers, and the real node\'s agent (chaosrun agent, metrics on 127.0.0.1:8082) runs beside the controller to hold network faults' },
  },
  async run(values) {
    const { runLocal } = await import('./local/run-local.ts');
    return runLocal({ port: Number(values.port), bind: values.bind, realNode: values['real-node'] });
  },
});

const uninstallCleanup = defineCommand({
  name: 'chaosrun uninstall-cleanup',
  usage: '[--namespaces a,b] [--timeout 120s] [--kubeconfig PATH]',
  description: `Deletes every ChaosRun in scope and waits for the running operator to end their chaos and remove
their finalizers; what is left at the timeout it ends itself (deletes the runs' Jobs, removes the
finalizer). helm uninstall runs it first, so nothing of the operator's is left behind.`,
  options: {
    namespaces: { type: 'string', value: 'a,b', env: 'WATCH_NAMESPACES', help: 'namespaces in scope (default: all)' },
    timeout: { type: 'string', value: 'D', default: '120s', help: 'how long the operator gets before the rest is ended here' },
    kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
  },
  async run(values) {
    const [{ uninstallCleanup: cleanup }, { KubeClient, loadKubeConfig }, { parseDuration }] = await Promise.all([
      import('./lifecycle/uninstall.ts'), import('./kube/client.ts'), import('./api/duration.ts'),
    ]);
    const client = new KubeClient(loadKubeConfig(values.kubeconfig));
    try {
      const r = await cleanup(client, {
        namespaces: (values.namespaces ?? '').split(',').map((s) => s.trim()).filter(Boolean),
        timeoutMs: parseDuration(values.timeout),
        log: (m) => console.error(m),
      });
      console.error(`uninstall-cleanup: ${r.deleted} ChaosRun(s) deleted${r.forced ? `, ${r.forced} ended without the operator` : ''}`);
      return 0;
    } finally { client.close(); }
  },
});

export const commands: CommandEntry[] = [
  { name: 'cluster', summary: 'start, stop or inspect the local control plane (up | down | status)', load: async () => cluster },
  { name: 'local', summary: 'run the operator and its signal server against KUBECONFIG, or a local control plane it starts', load: async () => local },
  { name: 'controller', summary: 'run the ChaosRun controller (watches ChaosRuns, drives one Job per step)', load: async () => (await import('./controller/main.ts')).command },
  { name: 'signal-server', summary: 'serve the krkn-compatible HTTP signal API (:8081) over the ChaosRuns', load: async () => (await import('./signal/main.ts')).command },
  { name: 'agent', summary: 'run the node agent: holds the lasting faults of running steps on this node\'s pods (a DaemonSet)', load: async () => (await import('./agent/main.ts')).command },
  { name: 'scenario', summary: 'run a built-in scenario inside a step\'s pod (pod-kill)', load: async () => (await import('./scenarios/main.ts')).command },
  { name: 'krkn-proxy', summary: 'forward a krkn step\'s API requests, moving those about namespace default into the step\'s own (its sidecar)', load: async () => (await import('./krkn-proxy/main.ts')).command },
  { name: 'uninstall-cleanup', summary: 'end and delete every ChaosRun in scope (the chart\'s pre-delete hook)', load: async () => uninstallCleanup },
  { name: 'import', summary: 'print a ChaosRun manifest from a krkn config.yaml', load: async () => (await import('./scenarios/import-command.ts')).importCommand('chaosrun import') },
];
