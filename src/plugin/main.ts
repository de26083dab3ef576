// `kubectl chaosrun <verb>`: the kubectl plugin SREs reach for. kubectl runs `kubectl-chaosrun` from
// the PATH with the arguments after `chaosrun`; the verbs read and steer ChaosRuns with kubectl's own
// kubeconfig, context and namespace conventions. Signals go through the signal server's own functions
// (signalRun, broadcastSignal, signalRefusal), so a signal means the same whichever door it came in by.
// Every failure is one line on stderr and a non-zero exit.
import yaml from 'js-yaml';
import type { Signal } from '../api/types.ts';
import { objectKey } from '../kube/informer.ts';
import { createLogger } from '../log.ts';
import { defineCommand, UsageError, wholeNumber, type Command, type OptionSpecs } from '../options.ts';
import { killSwitchNote, scopeText } from '../signal/kill-switch.ts';
import { broadcastSignal, pauseUntilFor, signalRefusal, signalRun, type SignalDeps } from '../signal/runs.ts';
import { listOptions, connect, describeError, getRun, kubeOptions, listRuns, mayI, PROGRAM, whoAmI, type Connection } from './connect.ts';
import { findStepPod, streamLog } from './logs.ts';
import { reportText, reportView, statusTable, statusText, statusView } from './view.ts';

const outputOption = (formats: string) => ({
  output: { type: 'string', short: 'o', value: formats, help: `output format: ${formats.split('|').join(', ')} (default: text)` },
}) as const;

function outputFormat(value: string | undefined, allowed: string[]): string {
  const format = value ?? 'text';
  if (!allowed.includes(format)) throw new UsageError(`--output must be one of ${allowed.join(', ')}, not ${JSON.stringify(format)}`);
  return format;
}

const print = (format: string, data: unknown) => {
  process.stdout.write(format === 'yaml' ? yaml.dump(data, { noRefs: true, lineWidth: -1 }) : `${JSON.stringify(data, null, 2)}\n`);
};

/** Runs `body` with a connection, and turns an API refusal into kubectl's one line. */
async function withConnection(values: { kubeconfig?: string; context?: string; namespace?: string }, body: (c: Connection) => Promise<number>): Promise<number> {
  const conn = connect(values);
  try {
    return await body(conn);
  } catch (err) {
    throw new Error(describeError(err));
  } finally {
    conn.close();
  }
}

const signalOptions = {
  ...kubeOptions,
  all: { type: 'boolean', help: 'every unfinished run in the namespace' },
  ...listOptions,
} as const satisfies OptionSpecs;

const pauseOptions = {
  ...signalOptions,
  for: { type: 'string', value: 'D', help: 'a timed pause: the operator resumes the run after this long (e.g. 10m)' },
} as const satisfies OptionSpecs;

const stopOptions = {
  ...signalOptions,
  'operator-namespace': {
    type: 'string', value: 'NS', env: 'CHAOSRUN_OPERATOR_NAMESPACE', default: 'chaosrun-system',
    help: 'with --all or -A: the operator\'s namespace, where the kill-switch record (ConfigMap chaosrun-kill-switch) is written first, so every node agent ends these runs\' lasting faults at once',
  },
} as const satisfies OptionSpecs;

const SIGNAL_HELP: Record<Signal, string> = {
  RUN: 'Sets the runs\' signal to RUN: a paused run goes on with its next step.',
  PAUSE: 'Sets the runs\' signal to PAUSE: the running step finishes, no new step starts until RUN (or the end of --for).',
  STOP: 'Sets the runs\' signal to STOP, which is final: the running step\'s Job is deleted and the run ends as Stopped.',
};

function signalCommand(verb: string, signal: Signal): Command {
  return defineCommand({
    name: `${PROGRAM} ${verb}`,
    usage: `NAME... | --all | -A [options]`,
    description: `${SIGNAL_HELP[signal]}
--all signals every unfinished run of the namespace, -A of every namespace (the kill switch, without
the HTTP server), -l narrows either to runs with these labels: all or nothing, as your RBAC allows.
The same patch as the signal server's.${signal === 'STOP' ? `
With --all or -A it first writes the kill-switch record in --operator-namespace (patch on the ConfigMap
chaosrun-kill-switch there); if that fails, the runs are stopped all the same and stderr says so.` : ''}`,
    options: signal === 'PAUSE' ? pauseOptions : signal === 'STOP' ? stopOptions : signalOptions,
    positionals: true,
    run: (values, names) => withConnection(values, async ({ client, namespace }) => {
      const everywhere = values['all-namespaces'];
      if ((values.all || everywhere) && names.length) throw new UsageError('name runs, or use --all or -A, not both');
      if (values.selector !== undefined && !values.all && !everywhere) throw new UsageError('-l/--selector goes with --all or -A');
      if (!values.all && !everywhere && names.length === 0) throw new UsageError(`name a run, or use --all (this namespace) or -A (every namespace); see ${PROGRAM} ${verb} --help`);
      const duration = (values as { for?: string }).for;
      const pauseUntil = duration === undefined ? null : pauseUntilFor(duration);
      const user = { name: await whoAmI(client) };
      const deps: SignalDeps = { client, log: createLogger('kubectl-chaosrun', 'silent'), cacheWaitMs: 0, via: PROGRAM };
      if (values.all || everywhere) {
        // The kill switch: the same record, written first, as the signal server's POST /STOP.
        const operatorNamespace = (values as { 'operator-namespace'?: string })['operator-namespace'];
        if (operatorNamespace) deps.killSwitch = { namespace: operatorNamespace, scope: scopeText(everywhere ? undefined : [namespace], values.selector) };
        const runs = await listRuns(client, everywhere ? undefined : namespace, values.selector);
        const { denied, summary, killSwitch } = await broadcastSignal(deps, runs, signal, pauseUntil, user, (r) => mayI(client, 'patch', r));
        if (denied.length) {
          throw new Error(`User "${user.name}" cannot patch resource "chaosruns" in API group "chaosrun.dev" for ${denied.map(objectKey).join(', ')}; nothing was changed`);
        }
        process.stdout.write(summary);
        // The runs were stopped, so the command succeeded; what did not happen is said on stderr.
        const note = killSwitchNote(killSwitch);
        if (note) process.stderr.write(`${PROGRAM} ${verb}: ${note}\n`);
        return 0;
      }
      for (const name of names) {
        const run = await getRun(client, namespace, name);
        const refusal = signalRefusal(run, signal);
        if (refusal) throw new Error(refusal.message);
        const { changed } = await signalRun(deps, run, signal, pauseUntil, user);
        const until = pauseUntil ? ` until ${pauseUntil}` : '';
        console.log(`chaosrun.chaosrun.dev/${name} ${changed ? `${signal}${until} (was ${run.spec.signalState})` : `unchanged (already ${signal}${until})`}`);
      }
      return 0;
    }),
  });
}

const status = defineCommand({
  name: `${PROGRAM} status`,
  usage: '[NAME] [options]',
  description: `With NAME: the run's signal, phase, progress, current step, gates, the time to the next step and
its last few steps. Without: one line per run of the namespace (-A: of every namespace).`,
  options: { ...kubeOptions, ...listOptions, ...outputOption('text|json|yaml') },
  positionals: true,
  run: (values, names) => withConnection(values, async ({ client, namespace }) => {
    const format = outputFormat(values.output, ['text', 'json', 'yaml']);
    if (names.length > 1) throw new UsageError(`status takes at most one run name, not ${names.length}`);
    const now = Date.now();
    if (names.length === 1) {
      if (values['all-namespaces'] || values.selector !== undefined) throw new UsageError('-A and -l list runs; give a run name or them, not both');
      const run = await getRun(client, namespace, names[0]);
      if (format === 'text') console.log(statusText(run, now));
      else print(format, statusView(run, now));
      return 0;
    }
    const everywhere = values['all-namespaces'];
    const runs = await listRuns(client, everywhere ? undefined : namespace, values.selector);
    if (format !== 'text') print(format, { runs: runs.map((r) => statusView(r, now)) });
    else if (runs.length === 0) console.error(everywhere ? 'No ChaosRuns found.' : `No ChaosRuns found in ${namespace} namespace.`);
    else console.log(statusTable(runs, now, everywhere));
    return 0;
  }),
});

const report = defineCommand({
  name: `${PROGRAM} report`,
  usage: 'NAME [options]',
  description: 'The report of a finished run (why it ended, iterations, steps, durations), or the run so far.',
  options: { ...kubeOptions, ...outputOption('text|json|yaml') },
  positionals: true,
  run: (values, names) => withConnection(values, async ({ client, namespace }) => {
    const format = outputFormat(values.output, ['text', 'json', 'yaml']);
    if (names.length !== 1) throw new UsageError(`report takes one run name; see ${PROGRAM} report --help`);
    const run = await getRun(client, namespace, names[0]);
    if (format === 'text') console.log(reportText(run, Date.now()));
    else print(format, reportView(run, Date.now()));
    return 0;
  }),
});

const logs = defineCommand({
  name: `${PROGRAM} logs`,
  usage: 'NAME [--step S] [--iteration N] [-f] [options]',
  description: `The log of a step's pod: the step running now, else the latest; --step and --iteration pick
another (the latest Job that matches). The operator keeps the last few finished Jobs (--keep-jobs).`,
  options: {
    ...kubeOptions,
    step: { type: 'string', value: 'S', help: 'the step\'s name' },
    iteration: { type: 'string', value: 'N', help: 'the iteration (1-based)' },
    follow: { type: 'boolean', short: 'f', help: 'stream the log until the step\'s pod ends' },
  },
  positionals: true,
  run: (values, names) => withConnection(values, async ({ client, namespace }) => {
    if (names.length !== 1) throw new UsageError(`logs takes one run name; see ${PROGRAM} logs --help`);
    const iteration = values.iteration === undefined ? undefined : wholeNumber('iteration', values.iteration, 1);
    const run = await getRun(client, namespace, names[0]);
    const target = await findStepPod(client, run, { step: values.step, iteration });
    console.error(`step ${target.step}, iteration ${target.iteration}: job ${target.job}, pod ${target.pod}`);
    try {
      await streamLog(client, namespace, target, values.follow, process.stdout);
    } catch (err) {
      throw new Error(`pod ${target.pod}: ${describeError(err)}`);
    }
    return 0;
  }),
});

interface Verb { name: string; summary: string; load(): Promise<Command> }

export const verbs: Verb[] = [
  { name: 'run', summary: 'set RUN on runs (--all: the namespace, -A: everywhere)', load: async () => signalCommand('run', 'RUN') },
  { name: 'pause', summary: 'set PAUSE on runs (--for 10m: a timed pause)', load: async () => signalCommand('pause', 'PAUSE') },
  { name: 'stop', summary: 'set STOP on runs, which is final (--all, -A: the kill switch)', load: async () => signalCommand('stop', 'STOP') },
  { name: 'status', summary: 'signal, phase, progress, step, gates, next step, last steps (-o json|yaml)', load: async () => status },
  { name: 'report', summary: 'the report of a finished run, or the run so far (-o json|yaml)', load: async () => report },
  { name: 'logs', summary: 'the log of a step\'s pod (--step, --iteration, -f)', load: async () => logs },
  { name: 'import', summary: 'print a ChaosRun manifest from a krkn config.yaml', load: async () => (await import('../scenarios/import-command.ts')).importCommand(`${PROGRAM} import`) },
];

export function pluginUsage(): string {
  const width = Math.max(...verbs.map((v) => v.name.length));
  return [
    'kubectl chaosrun: read and steer ChaosRuns (krkn-style RUN/PAUSE/STOP) with kubectl\'s kubeconfig and namespace',
    '',
    `Usage: ${PROGRAM} <verb> [options]      ${PROGRAM} <verb> --help`,
    '',
    'Verbs:',
    ...verbs.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`),
    '',
    'Every verb takes --kubeconfig PATH, --context NAME and -n/--namespace NS, as kubectl does.',
  ].join('\n');
}

export async function pluginMain(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    console.log(pluginUsage());
    return 0;
  }
  const verb = verbs.find((v) => v.name === first);
  if (!verb) {
    console.error(`${PROGRAM}: unknown verb ${JSON.stringify(first)}; see ${PROGRAM} --help`);
    return 2;
  }
  const command = await verb.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help());
    return 0;
  }
  return command.run(rest);
}
