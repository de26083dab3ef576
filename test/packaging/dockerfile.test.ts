// The Dockerfile's shape and lint: hadolint checks it, and the runtime stage is distroless, numeric
// non-root and enters the CLI. The image itself is built for real from this Dockerfile by buildah
// (src/realnode/images.ts) and run on the real node by the e2e tests (test/e2e/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  assert.deepEqual(entrypoint, ['/nodejs/bin/node', 'dist/cli.js']);
  assert.ok(!runtime.steps.some((s) => s.op === 'RUN'), 'no RUN: the runtime image has no shell');
});
