import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownNamespace } from './namespace.ts';

test('the own namespace: POD_NAMESPACE, else the ServiceAccount\'s namespace file, else default', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sa-')), 'namespace');
  writeFileSync(file, 'chaosrun-system\n');
  assert.equal(ownNamespace({ POD_NAMESPACE: 'ops' }, file), 'ops');
  assert.equal(ownNamespace({}, file), 'chaosrun-system');
  assert.equal(ownNamespace({}, join(file, 'absent')), 'default');
  writeFileSync(file, '  \n');
  assert.equal(ownNamespace({}, file), 'default', 'an empty file');
});
