// The agent shell's one pure-ish helper: sandboxes that share a network namespace are one namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onePathPerNamespace } from './main.ts';

test('sandboxes whose paths lead to one namespace get one path (the first in order); a path gone meanwhile stands alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netns-'));
  // Stand-ins for two namespaces (what matters is the inode a path leads to) and four pause processes.
  writeFileSync(join(dir, 'ns-a'), '');
  writeFileSync(join(dir, 'ns-b'), '');
  const link = (pid: number, to: string) => { mkdirSync(join(dir, String(pid), 'ns'), { recursive: true }); symlinkSync(join(dir, to), join(dir, String(pid), 'ns/net')); return join(dir, String(pid), 'ns/net'); };
  const [p1, p2, p3, p4] = [link(11, 'ns-a'), link(12, 'ns-b'), link(13, 'ns-a'), link(14, 'ns-gone')];
  const out = onePathPerNamespace(new Map([['pod-c', p3], ['pod-a', p1], ['pod-b', p2], ['pod-d', p4]]));
  assert.deepEqual(Object.fromEntries(out), { 'pod-a': p1, 'pod-b': p2, 'pod-c': p1, 'pod-d': p4 });
  assert.deepEqual(onePathPerNamespace(new Map()), new Map());
});
