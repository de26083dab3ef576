// Command-line options for every command of the product (`chaosrun …` and `kubectl chaosrun …`): one
// declaration per option both parses it (node:util parseArgs, strict) and renders its line of help, so
// the help never drifts from what is accepted. A leaf module (it imports nothing of ours), so command
// modules use it without importing the command table that lazily imports them. Why not commander:
// parseArgs already parses strictly (unknown options, missing values, short flags) with one-line
// messages; what was missing was help rendered from the same declaration, which is this small table.
// commander would add a dependency to the operator image and its own help layout and exit handling
// for the same result.
import { parseArgs } from 'node:util';
import { isSetupError } from './local/setup-step.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One letter: `-n` for `--namespace`. */
  short?: string;
  /** The value's placeholder in the help (string options), e.g. PATH. */
  value?: string;
  /** Read when the option is not given. */
  env?: string;
  /** Used when neither the option nor its environment variable is given. */
  default?: string;
  help: string;
}
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean' ? boolean : S extends { default: string } ? string : string | undefined;
export type OptionValues<T extends OptionSpecs> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** Bad command-line input: the CLI prints its message as one line and exits non-zero. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseOptions<T extends OptionSpecs>(args: string[], specs: T, allowPositionals = false): { values: OptionValues<T>; positionals: string[] } {
  const config = Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, { type: s.type, ...(s.short ? { short: s.short } : {}) }]));
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: config, allowPositionals, strict: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, s] of Object.entries(specs)) {
    const fromEnv = s.env ? process.env[s.env] : undefined;
    values[name] = parsed.values[name] ?? (s.type === 'boolean' ? false : fromEnv ?? s.default);
  }
  return { values: values as OptionValues<T>, positionals: parsed.positionals };
}

/** Help lines are wrapped to this width. */
const LINE = 110;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The options' help lines, aligned: `  -n, --namespace NS   help (env X; default Y)`. */
export function renderOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`;
    const notes = [s.env ? `env ${s.env}` : '', s.default ? `default ${s.default}` : ''].filter(Boolean).join('; ');
    return [flag, notes ? `${s.help} (${notes})` : s.help];
  });
  const width = Math.max(0, ...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${wrap(help, Math.max(40, LINE - width - 4)).join(`\n${' '.repeat(width + 4)}`)}`).join('\n');
}

/** A command as the entry points run it. */
export interface Command {
  help(): string;
  run(args: string[]): Promise<number>;
}

export interface CommandSpec<T extends OptionSpecs> {
  /** The command as typed, e.g. `chaosrun import`: it starts the usage line and every error line. */
  name: string;
  /** What follows the name in the usage line, e.g. `CONFIG.yaml [options]`. */
  usage: string;
  /** What it does, a paragraph or more. */
  description?: string;
  options: T;
  /** Whether it takes arguments besides its options. */
  positionals?: boolean;
  run(values: OptionValues<T>, positionals: string[]): Promise<number>;
}

/** A command from its declaration. A bad option, or anything run throws, ends as `NAME: reason`, exit 1. */
export function defineCommand<T extends OptionSpecs>(spec: CommandSpec<T>): Command {
  return {
    help: () => [`Usage: ${spec.name} ${spec.usage}`, ...(spec.description ? ['', spec.description] : []),
      ...(Object.keys(spec.options).length ? ['', 'Options:', renderOptions(spec.options)] : [])].join('\n'),
    async run(args) {
      try {
        const { values, positionals } = parseOptions(args, spec.options, spec.positionals ?? false);
        return await spec.run(values, positionals);
      } catch (err) {
        // A set-up failure (building, installing, starting the plane) has its own form, naming its log.
        console.error(isSetupError(err) ? `chaosrun: ${err.message}` : `${spec.name}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
        return 1;
      }
    },
  };
}

/** A whole number >= min from an option's text. */
export function wholeNumber(flag: string, text: string, min = 0): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`--${flag} must be a whole number >= ${min}, not ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * Runs an entry point's main and sets the exit code. Whatever it throws ends as one line on stderr,
 * `PROGRAM: reason`, exit 1: scripts get the reason, never a stack trace.
 */
export function runMain(program: string, main: () => Promise<number>): void {
  main().then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      console.error(`${program}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      process.exitCode = 1;
    },
  );
}
