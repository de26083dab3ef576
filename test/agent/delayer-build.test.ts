// chaosrun-delayer as built for the agent: agent/delayer/build.sh through buildDelayer() (cached,
// checked with --version, a broken cache entry rebuilt), its Go unit tests (the holding schedule, the
// NFQUEUE messages), and its one-line refusals of bad arguments. No root needed: nothing here binds a
// queue (test/agent/delay.test.ts does, in namespaces of its own).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDelayer } from '../../src/realnode/delayer.ts';

const need = (() => {
  try { execFileSync('sh', ['-c', 'command -v go'], { stdio: 'ignore' }); } catch { return 'needs Go (not found) to build chaosrun-delayer'; }
  return undefined;
})();
if (need) console.log(`SKIPPED delayer build tests: ${need}`);
const skip = need ? { skip: need } : {};
const moduleDir = join(import.meta.dirname, '../../agent/delayer');

describe('chaosrun-delayer', { concurrency: false }, () => {
  it('builds into the cache once; a cached binary that does not run is rebuilt', { ...skip, timeout: 300_000 }, () => {
    // A cache of its own: the binary it breaks is not the one other test files are running.
    const saved = process.env.CHAOSRUN_CACHE;
    const cache = mkdtempSync(join(tmpdir(), 'chaosrun-delayer-cache-'));
    process.env.CHAOSRUN_CACHE = cache;
    try {
      const bin = buildDelayer();
      assert.ok(bin.startsWith(`${cache}/delayer/`), bin);
      assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^chaosrun-delayer \d+\.\d+\.\d+\+[0-9a-f]{16} \(go[\d.]+\)\n$/);
      const started = Date.now();
      assert.equal(buildDelayer(), bin);
      assert.ok(Date.now() - started < 5000, 'a warm cache is a no-op');
      writeFileSync(bin, 'not a binary', { mode: 0o755 });
      assert.equal(buildDelayer(), bin);
      assert.ok(statSync(bin).size > 1_000_000, 'rebuilt');
      assert.equal(spawnSync(bin, ['--version']).status, 0);
    } finally {
      if (saved === undefined) delete process.env.CHAOSRUN_CACHE; else process.env.CHAOSRUN_CACHE = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('passes its Go unit tests (the holding schedule, the NFQUEUE messages)', { ...skip, timeout: 300_000 }, () => {
    const r = spawnSync('go', ['test', './...'], { cwd: moduleDir, encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' } });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^ok\s+chaosrun\.dev\/agent\/delayer\b/m);
  });

  it('refuses bad arguments with one line and exit 1', { ...skip, timeout: 60_000 }, () => {
    const bin = buildDelayer();
    const run = (...args: string[]) => { const r = spawnSync(bin, args, { encoding: 'utf8' }); return [r.status, r.stderr] as const; };
    assert.deepEqual(run('--queue', '0', '--latency', '100ms'), [1, 'chaosrun-delayer: --queue must be 1 to 65535, got 0\n']);
    assert.deepEqual(run('--queue', '5', '--latency', '0s'), [1, 'chaosrun-delayer: --latency must be above 0 and at most 10s, got 0s\n']);
    assert.deepEqual(run('--queue', '5', '--latency', '10ms', '--jitter', '20ms'), [1, 'chaosrun-delayer: --jitter must be from 0 to the latency (10ms), got 20ms\n']);
    assert.deepEqual(run('--queue', '5', '--latency', '10ms', '--max-held', '0'), [1, 'chaosrun-delayer: --max-held must be 1 to 1000000, got 0\n']);
    assert.deepEqual(run('queue-rule', '--table', 'chaosrun_x'), [1, 'chaosrun-delayer queue-rule: needs --table, --chain, --queue 1..65535 and a --comment of at most 127 bytes\n']);
    assert.equal(run('--no-such-flag')[0], 2);
  });
});
