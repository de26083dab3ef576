// `chaosrun import CONFIG.yaml`: prints the ChaosRun that does what a krkn config does, as YAML on
// stdout, so `chaosrun import config.yaml | kubectl apply -f -` is the whole migration.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yaml from 'js-yaml';
import { parseOptions } from '../commands.ts';
import { importKrknConfig } from './import.ts';

export async function importCommand(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseOptions(args, {
      name: { type: 'string' }, namespace: { type: 'string' }, 'base-dir': { type: 'string' },
    }, true);
    if (positionals.length !== 1) throw new Error('expected one krkn config file; see chaosrun import --help');
    const [file] = positionals;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${file}: no such file` : `${file}: ${(err as Error).message}`);
    }
    const { manifest, warnings } = importKrknConfig(text, {
      file, baseDir: resolve(values['base-dir'] ?? '.'), name: values.name, namespace: values.namespace,
    }, (path) => readFileSync(path, 'utf8'));
    for (const w of warnings) console.error(`warning: ${w}`);
    // A ChaosRun needs at least one step; printing one the API server refuses would only move the error.
    if (manifest.spec.scenarios.length === 0) throw new Error(`${file}: no scenario could be imported (see the warnings above)`);
    process.stdout.write(`# Imported from ${file} by chaosrun import\n`);
    process.stdout.write(yaml.dump(manifest, { noRefs: true, lineWidth: -1 }));
    return 0;
  } catch (err) {
    console.error(`chaosrun import: ${(err as Error).message.split('\n')[0]}`);
    return 1;
  }
}
