#!/usr/bin/env node
// The single entry point of the product: `chaosrun <command> [options]`. Installed, it is started by
// bin/chaosrun.js, which checks the Node version first; the kubectl plugin is src/kubectl-chaosrun.ts.
import { readFileSync } from 'node:fs';
import { commands } from './commands.ts';
import { runMain } from './options.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'chaosrun: a Kubernetes operator for chaos-engineering runs (krkn-style RUN/PAUSE/STOP signals)',
    '',
    'Usage: chaosrun <command> [options]      chaosrun <command> --help',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options: --help, --version',
    'The kubectl plugin: kubectl chaosrun --help',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    console.log(usage());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    console.log(pkg.version);
    return 0;
  }
  const entry = commands.find((c) => c.name === first);
  if (!entry) {
    console.error(`chaosrun: unknown command ${JSON.stringify(first)}; see chaosrun --help`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help());
    return 0;
  }
  return command.run(rest);
}

runMain('chaosrun', () => main(process.argv.slice(2)));
