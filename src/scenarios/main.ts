// `chaosrun scenario <name> [flags]`: a built-in scenario, run inside a step's pod. On failure the
// one-line reason goes to the container's termination message, where the controller reads it into the
// step history, and to stderr.
import { accessSync, constants, writeFileSync } from 'node:fs';
import { parseOptions } from '../commands.ts';
import { parseDuration } from '../api/duration.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { createLogger } from '../log.ts';
import { podKill, validatePodKillOptions, type PodKillOptions } from './pod-kill.ts';

export const TERMINATION_LOG = '/dev/termination-log';

function integer(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new Error(`--${flag} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** The flags mirror the podKill body, so a rendered step and a hand-run command read alike. */
export function parsePodKillArgs(args: string[]): { opts: PodKillOptions; kubeconfig?: string } {
  const { values } = parseOptions(args, {
    namespace: { type: 'string' },
    'namespace-pattern': { type: 'string' },
    'label-selector': { type: 'string' },
    'name-pattern': { type: 'string' },
    count: { type: 'string', default: '1' },
    'grace-period-seconds': { type: 'string' },
    'recovery-timeout': { type: 'string', default: '120s' },
    kubeconfig: { type: 'string' },
  });
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
  const client = new KubeClient(loadKubeConfig(kubeconfig));
  try {
    const { deleted } = await podKill(client, opts, createLogger('scenario-pod-kill'));
    console.log(`pod-kill: deleted ${deleted.join(', ')}; recovered`);
  } finally {
    client.close();
  }
}

const scenarios: Record<string, (args: string[]) => Promise<void>> = { 'pod-kill': runPodKill };

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
