// A fault that did not run says SKIPPED and why, on its progress line, in the table, in the JSON and in
// the closing line, which counts it as skipped, never as passed.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { faultStatus, renderTable, resultsJson, summaryLine, type FaultResult } from '../../faults/report.ts';
import { repoRoot, testEnv } from '../helpers/env.ts';

const ran: FaultResult = { fault: '1. controller SIGKILL', unit: 'runs', trials: 4, checked: ['oneJobPerStep', 'settles'], violations: [], durationMs: 5000, notes: [] };
const failed: FaultResult = { ...ran, fault: '3. watch stall', violations: [{ invariant: 'settles', subject: 'ns/r', detail: 'still Running' }] };
const skipped: FaultResult = { ...ran, fault: '2. kube-apiserver restart', unit: 'restarts', trials: 0, durationMs: 0, skipped: 'KUBECONFIG names a cluster whose API server the campaign cannot restart' };

it('the table, the closing line and the JSON tell a skipped fault from a passed one', () => {
  assert.deepEqual([ran, failed, skipped].map(faultStatus), ['passed', 'failed', 'skipped']);
  const table = renderTable([ran, skipped], 7, 5000);
  assert.match(table, /^\| 2\. kube-apiserver restart \| SKIPPED \| SKIPPED: KUBECONFIG names a cluster whose API server the campaign cannot restart \| - \| 0 s \|$/m);
  assert.match(table, /^\| 1\. controller SIGKILL \| 4 runs \| oneJobPerStep 0, settles 0 \| 0 \| 5 s \|$/m);
  assert.equal(summaryLine([ran, failed, skipped]),
    'faults: 1 passed, 1 failed, 1 SKIPPED (2. kube-apiserver restart: KUBECONFIG names a cluster whose API server the campaign cannot restart); 1 violation(s)');
  const json = resultsJson([ran, skipped], 7, 5000);
  assert.deepEqual(json.summary, { passed: 1, failed: 0, skipped: 1, violations: 0 });
  assert.equal(json.faults[1].status, 'skipped');
  assert.equal(json.faults[1].skipped, skipped.skipped);
});

it('npm run faults with KUBECONFIG set reports the API-server restart SKIPPED, not passed', async () => {
  const env = await testEnv('faults-skip');
  const out = join(mkdtempSync(join(tmpdir(), 'faults-')), 'faults.json');
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'faults/run.ts'), '--only', '2', '--seed', '1', '--json', out],
      { env: { ...process.env, KUBECONFIG: env.kubeconfig } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^2\. kube-apiserver restart: SKIPPED \(KUBECONFIG names a cluster whose API server the campaign cannot restart\)$/m);
  assert.doesNotMatch(r.stderr, /0 restarts, 0 violation/);
  assert.match(r.stdout, /^\| 2\. kube-apiserver restart \| SKIPPED \| SKIPPED: /m);
  assert.match(r.stdout, /^faults: 0 passed, 0 failed, 1 SKIPPED \(2\. kube-apiserver restart: /m);
  const json = JSON.parse(readFileSync(out, 'utf8')) as ReturnType<typeof resultsJson>;
  assert.deepEqual(json.summary, { passed: 0, failed: 0, skipped: 1, violations: 0 });
});
