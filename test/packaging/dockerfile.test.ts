// The Dockerfile, proven without a Docker engine: hadolint checks it, and its own steps (COPY, RUN,
// WORKDIR, ENV, then the ENTRYPOINT) are replayed in temporary folders standing in for each stage's
// filesystem, starting from a clean copy of the build context (the repo's files less .dockerignore).
// The base images' node is stood in for by the project's own Node 24.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, matchesGlob, posix } from 'node:path';
import { repoRoot } from '../helpers/env.ts';

interface Step { op: string; args: string }
interface Stage { base: string; name?: string; steps: Step[] }

/** The Dockerfile's stages and instructions, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const [, base, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ base, name, steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

/** Files of the build context: the repo's files (as git sees them) that .dockerignore lets through; the last matching pattern wins. */
function buildContext(): string[] {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n').filter((f) => f && existsSync(join(repoRoot, f)));
  const excluded = (file: string) => {
    const parts = file.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let out = false;
    for (const p of patterns) {
      const negated = p.startsWith('!');
      const glob = negated ? p.slice(1) : p;
      if (prefixes.some((x) => matchesGlob(x, glob))) out = !negated;
    }
    return out;
  };
  return files.filter((f) => !excluded(f));
}

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const lint = join(repoRoot, 'scripts/lint-dockerfile.sh');

test('hadolint passes the Dockerfile (and fails a bad one, so it really lints)', () => {
  const good = spawnSync('bash', [lint], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(good.status, 0, `hadolint: ${good.stdout}${good.stderr}`);
  const bad = join(mkdtempSync(join(tmpdir(), 'chaosrun-hadolint-')), 'Dockerfile');
  writeFileSync(bad, 'FROM node\nRUN cd /app && npm install\n');
  const r = spawnSync('bash', [lint, bad], { encoding: 'utf8', timeout: 300_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /DL3006/, 'the untagged base image is reported');
});

test('the runtime stage is distroless Node 24, runs as a numeric non-root user and enters the CLI', () => {
  assert.equal(stages.length, 2, 'a build stage and a runtime stage');
  assert.match(stages[0].base, /^node:24[-.\w]*$/);
  assert.match(runtime.base, /^gcr\.io\/distroless\/nodejs24-debian12(:[\w.-]+)?$/);
  const user = runtime.steps.filter((s) => s.op === 'USER').at(-1)?.args ?? '';
  assert.match(user, /^[1-9][0-9]*(:[0-9]+)?$/, 'a numeric, non-zero USER');
  const entrypoint = JSON.parse(runtime.steps.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
  assert.deepEqual(entrypoint, ['/nodejs/bin/node', 'src/cli.ts']);
  assert.ok(!runtime.steps.some((s) => s.op === 'RUN'), 'no RUN: the runtime image has no shell');
});

test('the Dockerfile\'s build steps, replayed on a clean copy, give an image whose entrypoint runs', () => {
  const work = mkdtempSync(join(tmpdir(), 'chaosrun-image-'));
  const context = buildContext();
  assert.ok(!context.some((f) => f.startsWith('node_modules/') || f.startsWith('.cluster') || f.endsWith('.test.ts')), 'the context leaves out dependencies, cluster state and tests');
  const roots = new Map<string, string>();
  let last = { root: '', workdir: '/', env: {} as Record<string, string> };
  stages.forEach((stage, i) => {
    const root = join(work, `stage-${i}`);
    mkdirSync(root, { recursive: true });
    if (stage.name) roots.set(stage.name, root);
    let workdir = '/';
    const env: Record<string, string> = {};
    const inStage = (p: string) => join(root, posix.resolve(workdir, p));
    for (const { op, args } of stage.steps) {
      if (op === 'WORKDIR') {
        workdir = posix.resolve(workdir, args);
        mkdirSync(inStage('.'), { recursive: true });
      } else if (op === 'ENV') {
        for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) env[k] = v;
      } else if (op === 'COPY') {
        const words = args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
        for (const src of sources.reverse()) {
          const into = dest.endsWith('/') ? join(inStage(dest), posix.basename(src)) : inStage(dest);
          if (from) {
            cpSync(join(roots.get(from)!, src), into, { recursive: true });
          } else {
            const matched = context.filter((f) => f === src || f.startsWith(`${src}/`));
            assert.ok(matched.length, `COPY ${src}: not in the build context`);
            for (const f of matched) {
              const target = f === src ? into : join(into, f.slice(src.length + 1));
              mkdirSync(dirname(target), { recursive: true });
              cpSync(join(repoRoot, f), target);
            }
          }
        }
      } else if (op === 'RUN') {
        // The node:24 image's node: the project's (npm's `env node` finds it first on PATH).
        const path = `${dirname(process.execPath)}:${process.env.PATH}`;
        const r = spawnSync('sh', ['-c', args], { cwd: inStage('.'), env: { ...process.env, ...env, PATH: path }, encoding: 'utf8', timeout: 300_000 });
        assert.equal(r.status, 0, `RUN ${args}:\n${r.stderr}`);
      }
    }
    last = { root, workdir, env };
  });

  const app = join(last.root, last.workdir);
  assert.ok(existsSync(join(app, 'node_modules/@kubernetes/client-node')), 'production dependencies are in the image');
  assert.ok(!existsSync(join(app, 'node_modules/typescript')), 'dev dependencies are not');
  assert.ok(!existsSync(join(app, 'node_modules/node')), 'nor the developers\' pinned node');
  assert.ok(!readdirSync(join(app, 'src'), { recursive: true }).some((f) => String(f).endsWith('.test.ts')), 'nor tests');
  const [, ...entryArgs] = JSON.parse(runtime.steps.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [...entryArgs, ...args], {
      cwd: app, encoding: 'utf8', timeout: 60_000,
      // Only what the image sets: no KUBECONFIG or developer settings leak in.
      env: { PATH: '/nonexistent', HOME: '/nonexistent', ...last.env },
    });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(run('--version').trim(), pkg.version);
  assert.match(run('controller', '--help'), /Usage: chaosrun controller/);
  assert.match(run('signal-server', '--help'), /Usage: chaosrun signal-server/);
});
