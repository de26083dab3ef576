// One declaration per option parses it and renders its help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCommand, parseOptions, renderOptions, UsageError, wholeNumber } from './options.ts';

const specs = {
  namespace: { type: 'string', short: 'n', value: 'NS', help: 'the namespace' },
  'all-namespaces': { type: 'boolean', short: 'A', help: 'every namespace' },
  port: { type: 'string', value: 'N', default: '8081', help: 'the port' },
  level: { type: 'string', value: 'LEVEL', env: 'OPTIONS_TEST_LEVEL', default: 'info', help: 'the level' },
} as const;

test('parses long and short options, defaults, environment and positionals', () => {
  delete process.env.OPTIONS_TEST_LEVEL;
  const { values, positionals } = parseOptions(['-n', 'x', 'run-a', '--port=9', '-A'], specs, true);
  assert.deepEqual(values, { namespace: 'x', 'all-namespaces': true, port: '9', level: 'info' });
  assert.deepEqual(positionals, ['run-a']);
  process.env.OPTIONS_TEST_LEVEL = 'debug';
  try {
    assert.equal(parseOptions([], specs).values.level, 'debug');
    assert.equal(parseOptions(['--level', 'warn'], specs).values.level, 'warn', 'the option wins over the environment');
  } finally { delete process.env.OPTIONS_TEST_LEVEL; }
  assert.deepEqual(parseOptions([], specs).values, { namespace: undefined, 'all-namespaces': false, port: '8081', level: 'info' });
});

test('bad input is a one-line UsageError', () => {
  assert.throws(() => parseOptions(['--nope'], specs), (e: Error) => e instanceof UsageError && /^Unknown option '--nope'/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => parseOptions(['stray'], specs), /Unexpected argument 'stray'/);
  assert.throws(() => parseOptions(['--port'], specs), /--port/);
  assert.throws(() => wholeNumber('count', '0', 1), /--count must be a whole number >= 1, not "0"/);
  assert.throws(() => wholeNumber('count', '1.5'), /--count must be a whole number >= 0/);
  assert.equal(wholeNumber('count', '0'), 0);
});

test('help is rendered from the same declarations, aligned, with defaults and environment variables', () => {
  assert.equal(renderOptions(specs), [
    '  -n, --namespace NS    the namespace',
    '  -A, --all-namespaces  every namespace',
    '      --port N          the port (default 8081)',
    '      --level LEVEL     the level (env OPTIONS_TEST_LEVEL; default info)',
  ].join('\n'));
  const cmd = defineCommand({ name: 'tool go', usage: 'NAME [options]', description: 'Goes.', options: specs, positionals: true, run: async () => 0 });
  assert.match(cmd.help(), /^Usage: tool go NAME \[options\]\n\nGoes\.\n\nOptions:\n  -n, --namespace NS/);
});

test('a command reports a bad option or a failure as one line NAME: reason and exit 1', async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => { lines.push(line); };
  try {
    const cmd = defineCommand({ name: 'tool go', usage: '', options: specs, run: async () => { throw new Error('no such run\nsecond line'); } });
    assert.equal(await cmd.run(['--nope']), 1);
    assert.equal(await cmd.run([]), 1);
  } finally { console.error = original; }
  assert.match(lines[0], /^tool go: Unknown option '--nope'/);
  assert.equal(lines[1], 'tool go: no such run');
});
