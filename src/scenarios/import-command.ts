// `chaosrun import CONFIG.yaml`: prints the ChaosRun that does what a krkn config does, as YAML on
// stdout, so `chaosrun import config.yaml | kubectl apply -f -` is the whole migration.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yaml from 'js-yaml';
import { defineCommand, type OptionSpecs, type OptionValues } from '../options.ts';
import { importKrknConfig } from './import.ts';

const options = {
  name: { type: 'string', value: 'NAME', help: 'the ChaosRun\'s name (default: from the config file\'s name)' },
  namespace: { type: 'string', short: 'n', value: 'NS', help: 'set metadata.namespace (default: none, kubectl\'s current namespace applies)' },
  'base-dir': { type: 'string', value: 'DIR', help: 'where relative scenario files are (default: the current directory, as krkn)' },
  'kubeconfig-secret': { type: 'string', value: 'NAME', help: 'the Secret (key config: a kubeconfig) every krknHub step reads krkn\'s kubeconfig from (default: none; set kubeconfigSecret yourself)' },
} as const satisfies OptionSpecs;

/** `program` names the command in help and errors: `chaosrun import` or `kubectl chaosrun import`. */
export const importCommand = (program: string) => defineCommand({
  name: program,
  usage: 'CONFIG.yaml [--name NAME] [--namespace NS] [--base-dir DIR] [--kubeconfig-secret NAME]',
  description: `Reads a krkn config file and prints the equivalent ChaosRun (YAML) on stdout: tunings become
iterations, daemonMode and waitDuration; kraken.signal_state and publish_kraken_status carry over;
pod_disruption_scenarios files become podKill steps, other scenario types krknHub steps (a hog file's
values become the image's variables). What cannot be mapped is reported on stderr, one line each; the
manifest still prints.`,
  options,
  positionals: true,
  run: (values, positionals) => runImport(program, values, positionals),
});

async function runImport(program: string, values: OptionValues<typeof options>, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new Error(`expected one krkn config file; see ${program} --help`);
  const [file] = positionals;
  const secret = values['kubeconfig-secret'];
  if (secret !== undefined && (secret.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(secret))) {
    throw new Error(`--kubeconfig-secret must be a Secret's name (lower-case letters, digits, - and .), not ${JSON.stringify(secret)}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${file}: no such file` : `${file}: ${(err as Error).message}`);
  }
  const { manifest, warnings } = importKrknConfig(text, {
    file, baseDir: resolve(values['base-dir'] ?? '.'), name: values.name, namespace: values.namespace,
    kubeconfigSecret: values['kubeconfig-secret'],
  }, (path) => readFileSync(path, 'utf8'));
  for (const w of warnings) console.error(`warning: ${w}`);
  // A ChaosRun needs at least one step; printing one the API server refuses would only move the error.
  if (manifest.spec.scenarios.length === 0) throw new Error(`${file}: no scenario could be imported (see the warnings above)`);
  process.stdout.write(`# Imported from ${file} by chaosrun import\n`);
  process.stdout.write(yaml.dump(manifest, { noRefs: true, lineWidth: -1 }));
  return 0;
}
