// `chaosrun scenario <name> [flags]`: a built-in scenario, run inside a step's pod. On failure the
// one-line reason goes to the container's termination message, where the controller reads it into the
// step history, and to stderr.
import { accessSync, constants, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { CONTAINER_KILL_SIGNALS, HOLDER_PROBE_PORT } from '../api/fault-holder.ts';
import { parseDuration } from '../api/duration.ts';
import { KubeClient } from '../kube/client.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { createLogger } from '../log.ts';
import { parseOptions, renderOptions, wholeNumber, type Command, type OptionSpecs } from '../options.ts';
import { holdFault, killContainers, type HoldOptions } from './hold.ts';
import { podKill, validatePodKillOptions, type PodKillOptions } from './pod-kill.ts';
import { nodeOptions, runNodeHolder } from './node.ts';

export const TERMINATION_LOG = '/dev/termination-log';

const integer = (flag: string, text: string | undefined) => (text === undefined ? undefined : wholeNumber(flag, text));

/** The flags mirror the podKill body, so a rendered step and a hand-run command read alike. */
const podKillOptions = {
  namespace: { type: 'string', value: 'NS', help: 'where the pods are (this or --namespace-pattern)' },
  'namespace-pattern': { type: 'string', value: 'REGEX', help: 'namespaces whose pods may be chosen' },
  'label-selector': { type: 'string', value: 'SEL', help: 'the pods, e.g. app=web,tier!=db' },
  'name-pattern': { type: 'string', value: 'REGEX', help: 'pod names (with or instead of --label-selector)' },
  count: { type: 'string', value: 'N', default: '1', help: 'pods to delete' },
  'grace-period-seconds': { type: 'string', value: 'N', help: 'deletion grace period (default: the pods\' own)' },
  'recovery-timeout': { type: 'string', value: 'D', default: '120s', help: 'how long recovery may take' },
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
} as const satisfies OptionSpecs;

export function parsePodKillArgs(args: string[]): { opts: PodKillOptions; kubeconfig?: string } {
  const { values } = parseOptions(args, podKillOptions);
  const opts: PodKillOptions = {
    namespace: values.namespace,
    namespacePattern: values['namespace-pattern'],
    labelSelector: values['label-selector'],
    namePattern: values['name-pattern'],
    count: integer('count', values.count)!,
    gracePeriodSeconds: integer('grace-period-seconds', values['grace-period-seconds']),
    recoveryTimeoutMs: parseDuration(values['recovery-timeout']),
  };
  validatePodKillOptions(opts);
  return { opts, kubeconfig: values.kubeconfig };
}

async function runPodKill(args: string[]): Promise<void> {
  const { opts, kubeconfig } = parsePodKillArgs(args);
  const client = new KubeClient(loadClusterAccess(kubeconfig));
  try {
    const { deleted } = await podKill(client, opts, createLogger('scenario-pod-kill'));
    console.log(`pod-kill: deleted ${deleted.join(', ')}; recovered`);
  } finally {
    client.close();
  }
}

/** The lasting holders' flags (network, freeze, stress): the same selection as pod-kill, count or percent, the duration. */
const holdOptions = {
  namespace: podKillOptions.namespace,
  'namespace-pattern': podKillOptions['namespace-pattern'],
  'label-selector': podKillOptions['label-selector'],
  'name-pattern': podKillOptions['name-pattern'],
  count: { type: 'string', value: 'N', help: 'target pods (default 1; or --percent)' },
  percent: { type: 'string', value: 'P', help: 'target this percentage of the matching Running pods (rounded up)' },
  duration: { type: 'string', value: 'D', help: 'how long the fault is held' },
  what: { type: 'string', value: 'TEXT', default: 'fault', help: 'what the agents inject, for the summary' },
  containers: { type: 'string', value: 'A,B', help: '(freeze, stress) the containers of each target (default: all for freeze, the first for stress)' },
  kubeconfig: podKillOptions.kubeconfig,
} as const satisfies OptionSpecs;

/** The container-kill holder's flags: the same selection, the container, the signal, how long a restart may take. */
const containerKillOptions = {
  namespace: podKillOptions.namespace,
  'namespace-pattern': podKillOptions['namespace-pattern'],
  'label-selector': podKillOptions['label-selector'],
  'name-pattern': podKillOptions['name-pattern'],
  count: holdOptions.count,
  percent: holdOptions.percent,
  container: { type: 'string', value: 'NAME', help: 'the container to signal (default: the pod\'s first)' },
  signal: { type: 'string', value: 'SIG', default: 'KILL', help: `the signal: ${CONTAINER_KILL_SIGNALS.join(', ')}` },
  'restart-timeout': { type: 'string', value: 'D', default: '60s', help: 'how long the kubelet may take to restart the containers' },
  kubeconfig: podKillOptions.kubeconfig,
} as const satisfies OptionSpecs;

/** The step pod this holder runs in, from the downward API. */
function selfPod(env: NodeJS.ProcessEnv, kind: string): { namespace: string; name: string } {
  const self = { namespace: env.POD_NAMESPACE ?? '', name: env.POD_NAME ?? '' };
  if (!self.namespace || !self.name) throw new Error(`${kind} runs in a step pod: POD_NAMESPACE and POD_NAME (the downward API) must be set`);
  return self;
}

function percentOf(text: string | undefined): number | undefined {
  const percent = text === undefined ? undefined : Number(text);
  if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new Error(`--percent must be more than 0 and at most 100, not ${JSON.stringify(text)}`);
  return percent;
}

/** The holder of a lasting step: network, freeze or stress (`kind` names it in messages and the summary). */
export function parseHoldArgs(args: string[], env: NodeJS.ProcessEnv = process.env, kind = 'network'): { opts: HoldOptions; kubeconfig?: string } {
  const { values } = parseOptions(args, holdOptions);
  if (!values.duration) throw new Error(`${kind} needs --duration`);
  if (values.count !== undefined && values.percent !== undefined) throw new Error(`${kind} takes --count or --percent, not both`);
  const names = values.containers?.split(',').map((n) => n.trim()).filter(Boolean);
  const opts: HoldOptions = {
    selection: { namespace: values.namespace, namespacePattern: values['namespace-pattern'], labelSelector: values['label-selector'], namePattern: values['name-pattern'] },
    count: integer('count', values.count),
    percent: percentOf(values.percent),
    durationMs: parseDuration(values.duration),
    self: selfPod(env, kind),
    what: values.what,
    kind,
    ...(kind === 'network' ? {} : { containers: names?.length ? { names } : kind === 'freeze' ? 'all' as const : 'first' as const }),
  };
  validatePodKillOptions({ ...opts.selection, count: opts.count ?? 1, recoveryTimeoutMs: 0 });
  return { opts, kubeconfig: values.kubeconfig };
}

export function parseContainerKillArgs(args: string[], env: NodeJS.ProcessEnv = process.env): { opts: Parameters<typeof killContainers>[1]; kubeconfig?: string } {
  const { values } = parseOptions(args, containerKillOptions);
  if (values.count !== undefined && values.percent !== undefined) throw new Error('container-kill takes --count or --percent, not both');
  const signal = values.signal.toUpperCase().replace(/^SIG/, '');
  if (!(CONTAINER_KILL_SIGNALS as readonly string[]).includes(signal)) throw new Error(`--signal ${JSON.stringify(values.signal)}: use one of ${CONTAINER_KILL_SIGNALS.join(', ')}`);
  const opts = {
    selection: { namespace: values.namespace, namespacePattern: values['namespace-pattern'], labelSelector: values['label-selector'], namePattern: values['name-pattern'] },
    count: integer('count', values.count),
    percent: percentOf(values.percent),
    durationMs: 0,
    self: selfPod(env, 'container-kill'),
    what: `SIG${signal}`,
    kind: 'containerKill',
    containers: values.container ? { names: [values.container] } : 'first' as const,
    signal,
    restartTimeoutMs: parseDuration(values['restart-timeout']),
  };
  validatePodKillOptions({ ...opts.selection, count: opts.count ?? 1, recoveryTimeoutMs: 0 });
  return { opts, kubeconfig: values.kubeconfig };
}

/** Runs a holder: its probe answers ready once the targets are recorded; SIGTERM ends the hold at once. */
async function runHolder(hold: (client: KubeClient, stopped: Promise<void>, onRecorded: () => void) => Promise<string>, kubeconfig: string | undefined): Promise<void> {
  const client = new KubeClient(loadClusterAccess(kubeconfig));
  // STOP deletes the step's Job: the pod's SIGTERM ends the hold at once (the agents have let go already).
  const stopped = new Promise<void>((resolve) => { for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve()); });
  // Ready once the targets are on the pod: the readiness change moves the Job's status.ready, and that
  // Job event is what wakes the controller to show the faults in force (it does not watch pods).
  let recorded = false;
  const probe = createServer((_req, res) => { res.writeHead(recorded ? 200 : 503).end(recorded ? 'targets recorded\n' : 'picking targets\n'); });
  await new Promise<void>((resolve) => probe.listen(HOLDER_PROBE_PORT, resolve)).catch(() => {});
  try {
    const summary = await hold(client, stopped, () => { recorded = true; });
    console.log(summary);
    writeTerminationMessage(TERMINATION_LOG, summary);
  } finally {
    probe.close();
    client.close();
  }
}

const holdCommand = (kind: string) => async (args: string[]): Promise<void> => {
  const { opts, kubeconfig } = parseHoldArgs(args, process.env, kind);
  await runHolder((client, stopped, onRecorded) => holdFault(client, opts, createLogger(`scenario-${kind}`), stopped, onRecorded), kubeconfig);
};

async function runContainerKill(args: string[]): Promise<void> {
  const { opts, kubeconfig } = parseContainerKillArgs(args);
  await runHolder((client, stopped, onRecorded) => killContainers(client, opts, createLogger('scenario-container-kill'), stopped, onRecorded), kubeconfig);
}

/** The holder of a nodeCordon or nodeDrain step (src/scenarios/node.ts): its summary is the step's message. */
async function runNode(args: string[]): Promise<void> {
  const summary = await runNodeHolder(args);
  console.log(summary);
  writeTerminationMessage(TERMINATION_LOG, summary);
}

const scenarios: Record<string, (args: string[]) => Promise<void>> = {
  'pod-kill': runPodKill, network: holdCommand('network'), freeze: holdCommand('freeze'), stress: holdCommand('stress'), 'container-kill': runContainerKill,
  node: runNode,
};

/** Writes the reason where Kubernetes picks up a termination message, when this runs in a container. */
function writeTerminationMessage(path: string, reason: string): void {
  try {
    // Only an existing, writable file: outside a container there is nothing to write to.
    accessSync(path, constants.W_OK);
    writeFileSync(path, reason);
  } catch {
    // Not in a container; stderr carries the reason.
  }
}

export async function scenarioCommand(args: string[], terminationLog = TERMINATION_LOG): Promise<number> {
  const [name, ...rest] = args;
  try {
    const run = name === undefined ? undefined : scenarios[name];
    if (!run) throw new Error(`unknown scenario ${JSON.stringify(name ?? '')}; built-in scenarios: ${Object.keys(scenarios).join(', ')}`);
    await run(rest);
    return 0;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    writeTerminationMessage(terminationLog, reason);
    console.error(`chaosrun scenario${name ? ` ${name}` : ''}: ${reason}`);
    return 1;
  }
}

export const command: Command = {
  help: () => `Usage: chaosrun scenario pod-kill [options]

Deletes --count matching pods chosen at random, then waits until as many matching pods are Ready
again as were Ready before. Exits 0 when they recovered; otherwise 1 with a one-line reason on stderr
and in /dev/termination-log (the step's termination message).

Options:
${renderOptions(podKillOptions)}

Usage: chaosrun scenario network|freeze|stress [options]

The holder of a lasting step: picks --count (or --percent) Running pods that match, records them (and
for freeze and stress their --containers) on its own pod (POD_NAMESPACE/POD_NAME) for the node agents,
which hold the fault on them while this pod runs and its run says RUN, and exits 0 after --duration
(or at once on SIGTERM).

Options:
${renderOptions(holdOptions)}

Usage: chaosrun scenario node [options]

The holder of a nodeCordon or nodeDrain step: picks --count (or --percent) schedulable nodes that match
(never an unschedulable one, never --operator-node), records them and its deadline on its own pod
(POD_NAMESPACE/POD_NAME) for the controller, which cordons (and drains) them while this pod runs and
its run says RUN, and exits 0 after --duration (or at once on SIGTERM); 1 when a drain's evictions
were still refused at its eviction timeout.

Options:
${renderOptions(nodeOptions)}

Usage: chaosrun scenario container-kill [options]

The holder of a containerKill step: picks the target pods, records the --container of each with its
runtime id, and waits until the node agents have signalled them and the kubelet restarted them; exits
0 naming them, or 1 after --restart-timeout naming those not restarted.

Options:
${renderOptions(containerKillOptions)}`,
  run: (args) => scenarioCommand(args),
};
