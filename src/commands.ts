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

const clusterHelp = `Usage: chaosrun cluster up|down|status [--dir DIR]

Manages the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
kwok node) built from the official Go modules. 'up' builds on first use (cached under ~/.cache),
starts it on loopback, installs the CRDs and writes DIR/kubeconfig (default .cluster/).`;

export const commands: Command[] = [
  {
    name: 'cluster',
    summary: 'start, stop or inspect the local control plane (up | down | status)',
    help: clusterHelp,
    async run(args) {
      const { values, positionals } = parseOptions(args, { dir: { type: 'string' } }, true);
      const { clusterCommand } = await import('./local/cluster-command.ts');
      return clusterCommand(positionals, values.dir);
    },
  },
  {
    name: 'local',
    summary: 'run the operator and its signal server against KUBECONFIG, or a local control plane it starts',
    help: `Usage: chaosrun local [--port 8081] [--bind 127.0.0.1]

The main job on the embedded default: when KUBECONFIG is not set, starts the local control plane
(chaosrun cluster up); installs the CRDs; then runs the controller and the signal server (no auth,
bound to 127.0.0.1) in the foreground until Ctrl-C.`,
    async run(args) {
      const { values } = parseOptions(args, { port: { type: 'string', default: '8081' }, bind: { type: 'string', default: '127.0.0.1' } });
      const { runLocal } = await import('./local/run-local.ts');
      return runLocal({ port: Number(values.port), bind: values.bind });
    },
  },
  {
    name: 'controller',
    summary: 'run the ChaosRun controller (watches ChaosRuns, drives one Job per step)',
    help: `Usage: chaosrun controller [options]

  --kubeconfig PATH          kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)
  --namespaces a,b           namespaces to watch (env WATCH_NAMESPACES; default: all)
  --concurrency N            runs reconciled in parallel (default 8)
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
];
