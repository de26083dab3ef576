import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podNamespace } from './namespace.ts';

test('the pod\'s namespace: POD_NAMESPACE, else the ServiceAccount\'s namespace file, else none (not in a pod)', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sa-')), 'namespace');
  writeFileSync(file, 'chaosrun-system\n');
  assert.equal(podNamespace({ POD_NAMESPACE: 'ops' }, file), 'ops');
  assert.equal(podNamespace({}, file), 'chaosrun-system');
  assert.equal(podNamespace({}, join(file, 'absent')), undefined);
  writeFileSync(file, '  \n');
  assert.equal(podNamespace({}, file), undefined, 'an empty file');
});
