// The CLI's subcommands. Each parses its own options with node:util's parseArgs and imports its
// implementation lazily, so `chaosrun --help` stays fast and a scenario pod loads only what it runs.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  help: string;
  run(args: string[]): Promise<number>;
}

/** parseArgs with strict checking; an unknown or malformed option becomes a one-line error. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  return parseArgs({ args, options, allowPositionals, strict: true });
}

const clusterHelp = `Usage: chaosrun cluster up|down|status [--dir DIR] [--real-node]

Manages the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
kwok node) built from the official Go modules. 'up' builds on first use (cached under ~/.cache),
starts it on loopback, installs the CRDs and writes DIR/kubeconfig (default .cluster/).

  --real-node   (up) also start a real node: containerd, kubelet and kube-proxy, with the operator's
                image built from the Dockerfile; needs root (installs Debian packages when missing).
                Pods choose it with nodeSelector chaosrun.dev/node=real and a toleration of the taint
                chaosrun.dev/real-node=true:NoSchedule; a pod with no choice runs on the kwok node.`;

export const commands: Command[] = [
  {
    name: 'cluster',
    summary: 'start, stop or inspect the local control plane (up | down | status)',
    help: clusterHelp,
    async run(args) {
      const { values, positionals } = parseOptions(args, { dir: { type: 'string' }, 'real-node': { type: 'boolean', default: false } }, true);
      const { clusterCommand } = await import('./local/cluster-command.ts');
      return clusterCommand(positionals, values.dir, { realNode: values['real-node'] });
    },
  },
  {
    name: 'local',
    summary: 'run the operator and its signal server against KUBECONFIG, or a local control plane it starts',
    help: `Usage: chaosrun local [--port 8081] [--bind 127.0.0.1] [--real-node]

The main job on the embedded default: when KUBECONFIG is not set, starts the local control plane
(chaosrun cluster up); installs the CRDs; then runs the controller and the signal server (no auth,
bound to 127.0.0.1) in the foreground until Ctrl-C.

  --real-node   start the plane with a real node (needs root; see chaosrun cluster --help); step
                pods then run on it, so chaos really acts on real containers.`,
    async run(args) {
      const { values } = parseOptions(args, {
        port: { type: 'string', default: '8081' }, bind: { type: 'string', default: '127.0.0.1' }, 'real-node': { type: 'boolean', default: false },
      });
      const { runLocal } = await import('./local/run-local.ts');
      return runLocal({ port: Number(values.port), bind: values.bind, realNode: values['real-node'] });
    },
  },
  {
    name: 'controller',
    summary: 'run the ChaosRun controller (watches ChaosRuns, drives one Job per step)',
    help: `Usage: chaosrun controller [options]

  --kubeconfig PATH          kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)
  --namespaces a,b           namespaces to watch (env WATCH_NAMESPACES; default: all)
  --concurrency N            runs reconciled in parallel (default 16)
  --leader-elect             elect a leader on a Lease so only one replica acts
  --lease-name NAME          the Lease (default chaosrun-operator)
  --lease-namespace NS       its namespace (env POD_NAMESPACE; default default)
  --lease-duration D         (default 15s)   --renew-deadline D (default 10s)   --retry-period D (default 2s)
  --metrics-port N           /metrics, /healthz, /readyz (default 8080; 0 = off)
  --metrics-bind ADDR        (default 0.0.0.0)
  --watch-timeout D          watchdog: restart a watch silent this long (default 75s)
  --keep-jobs N              finished Jobs kept per run (default 5)
  --operator-image IMAGE     image that runs built-in scenarios (env OPERATOR_IMAGE)
  --scenario-service-account NAME   ServiceAccount of built-in scenarios (default chaosrun-scenario)
  --scenario-bindings B,...  ClusterRoleBinding/NAME or RoleBinding/NS/NAME the scenario ServiceAccount is
                             added to in each namespace a built-in step runs in (the account is created there)
  --step-node-selector k=v,...      node selector of every step pod
  --step-tolerations k=v:Effect,... tolerations of every step pod (kubectl's taint spelling)
  --log-level LEVEL          (env LOG_LEVEL; default info)`,
    async run(args) {
      const { controllerCommand } = await import('./controller/main.ts');
      return controllerCommand(args);
    },
  },
  {
    name: 'signal-server',
    summary: 'serve the krkn-compatible HTTP signal API (:8081) over the ChaosRuns',
    help: `Usage: chaosrun signal-server [options]

  --port N                   (default 8081)      --bind ADDR (default 0.0.0.0)
  --auth kubernetes|none     bearer tokens checked by TokenReview + SubjectAccessReview (default kubernetes)
  --tls-cert FILE --tls-key FILE   serve HTTPS
  --namespaces a,b           runs in scope (env WATCH_NAMESPACES; default all)
  --label-selector SEL       narrow the runs in scope
  --kubeconfig PATH          --log-level LEVEL`,
    async run(args) {
      const { signalServerCommand } = await import('./signal/main.ts');
      return signalServerCommand(args);
    },
  },
  {
    name: 'scenario',
    summary: 'run a built-in scenario inside a step\'s pod (pod-kill)',
    help: `Usage: chaosrun scenario pod-kill [options]

Deletes --count matching pods chosen at random, then waits until as many matching pods are Ready
again as were Ready before. Exits 0 when they recovered; otherwise 1 with a one-line reason on stderr
and in /dev/termination-log (the step's termination message).

  --namespace NS | --namespace-pattern REGEX    where the pods are (exactly one)
  --label-selector SEL                          e.g. app=web,tier!=db
  --name-pattern REGEX                          pod names (with or instead of --label-selector)
  --count N                                     pods to delete (default 1)
  --grace-period-seconds N                      deletion grace period (default: the pods' own)
  --recovery-timeout D                          how long recovery may take (default 120s)
  --kubeconfig PATH                             (default: KUBECONFIG, ~/.kube/config, or in-cluster)`,
    async run(args) {
      const { scenarioCommand } = await import('./scenarios/main.ts');
      return scenarioCommand(args);
    },
  },
  {
    name: 'uninstall-cleanup',
    summary: 'end and delete every ChaosRun in scope (the chart\'s pre-delete hook)',
    help: `Usage: chaosrun uninstall-cleanup [--namespaces a,b] [--timeout 120s] [--kubeconfig PATH]

Deletes every ChaosRun in scope and waits for the running operator to end their chaos and remove
their finalizers; what is left at the timeout it ends itself (deletes the runs' Jobs, removes the
finalizer). helm uninstall runs it first, so nothing of the operator's is left behind.`,
    async run(args) {
      const { values } = parseOptions(args, {
        namespaces: { type: 'string', default: process.env.WATCH_NAMESPACES ?? '' },
        timeout: { type: 'string', default: '120s' },
        kubeconfig: { type: 'string' },
      });
      const [{ uninstallCleanup }, { KubeClient, loadKubeConfig }, { parseDuration }] = await Promise.all([
        import('./lifecycle/uninstall.ts'), import('./kube/client.ts'), import('./api/duration.ts'),
      ]);
      const client = new KubeClient(loadKubeConfig(values.kubeconfig));
      try {
        const r = await uninstallCleanup(client, {
          namespaces: values.namespaces!.split(',').map((s) => s.trim()).filter(Boolean),
          timeoutMs: parseDuration(values.timeout!),
          log: (m) => console.error(m),
        });
        console.error(`uninstall-cleanup: ${r.deleted} ChaosRun(s) deleted${r.forced ? `, ${r.forced} ended without the operator` : ''}`);
        return 0;
      } finally { client.close(); }
    },
  },
  {
    name: 'import',
    summary: 'print a ChaosRun manifest from a krkn config.yaml',
    help: `Usage: chaosrun import CONFIG.yaml [--name NAME] [--namespace NS] [--base-dir DIR]

Reads a krkn config file and prints the equivalent ChaosRun (YAML) on stdout: tunings become
iterations, daemonMode and waitDuration; kraken.signal_state and publish_kraken_status carry over;
pod_disruption_scenarios files become podKill steps, other scenario types krknHub steps. What cannot
be mapped is reported on stderr, one line each; the manifest still prints.

  --name NAME        the ChaosRun's name (default: from the config file's name)
  --namespace NS     set metadata.namespace (default: none, kubectl's current namespace applies)
  --base-dir DIR     where relative scenario files are (default: the current directory, as krkn)`,
    async run(args) {
      const { importCommand } = await import('./scenarios/import-command.ts');
      return importCommand(args);
    },
  },
];
