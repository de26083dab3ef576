// The Dockerfile's shape and lint: hadolint checks it; the runtime stage (the last, what a plain build
// makes) is distroless, numeric non-root and enters the CLI; the `agent` target is the build stage's
// base with Debian's nft and nsenter, entering `chaosrun agent`. Both images are built for real from
// this Dockerfile by buildah (src/realnode/images.ts) and run on the real node by the e2e tests (test/e2e/).
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
  assert.deepEqual(stages.map((s) => s.name), ['build', 'agent', undefined], 'a build stage, the agent target, and the runtime stage last (the default target)');
  assert.match(stages[0].base, /^node:24[-.\w]*$/);
  assert.match(runtime.base, /^gcr\.io\/distroless\/nodejs24-debian12(:[\w.-]+)?$/);
  const user = runtime.steps.filter((s) => s.op === 'USER').at(-1)?.args ?? '';
  assert.match(user, /^[1-9][0-9]*(:[0-9]+)?$/, 'a numeric, non-zero USER');
  const entrypoint = JSON.parse(runtime.steps.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
  assert.deepEqual(entrypoint, ['/nodejs/bin/node', 'dist/cli.js']);
  assert.ok(!runtime.steps.some((s) => s.op === 'RUN'), 'no RUN: the runtime image has no shell');
});

test('the agent target: the build stage\'s base with Debian\'s nftables, iproute2 and util-linux, the same dist/, entering `chaosrun agent`', () => {
  const agent = stages.find((s) => s.name === 'agent')!;
  assert.equal(agent.base, stages[0].base, 'the build stage\'s Debian bookworm base');
  const run = agent.steps.filter((s) => s.op === 'RUN').map((s) => s.args).join(' ');
  assert.match(run, /apt-get install -y --no-install-recommends nftables iproute2 util-linux/);
  assert.match(run, /rm -rf \/var\/lib\/apt\/lists/);
  assert.match(run, /-perm \/6000 -exec chmod a-s/, 'no setuid or setgid file is left');
  const copies = agent.steps.filter((s) => s.op === 'COPY').map((s) => s.args);
  // The delayer of delay faults (agent/delayer/, built beforehand into the context), checked where it lands.
  assert.deepEqual(copies[0], '.build/chaosrun-delayer /usr/local/bin/chaosrun-delayer');
  assert.match(run, /chaosrun-delayer --version/);
  assert.deepEqual(copies.slice(1), runtime.steps.filter((s) => s.op === 'COPY').map((s) => s.args), 'the operator image\'s files, from the same build stage');
  assert.ok(!agent.steps.some((s) => s.op === 'USER'), 'root: the chart grants it NET_ADMIN, SYS_ADMIN and SYS_PTRACE');
  assert.deepEqual(JSON.parse(agent.steps.find((s) => s.op === 'ENTRYPOINT')!.args), ['node', 'dist/cli.js', 'agent']);
});
