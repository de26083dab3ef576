import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeSelector, parseStepPlacement, parseTolerations } from './step-placement.ts';

test('node selector: key=value pairs; empty means none; a bare key is an error', () => {
  assert.deepEqual(parseNodeSelector('chaosrun.dev/node=real, zone=a'), { 'chaosrun.dev/node': 'real', zone: 'a' });
  assert.equal(parseNodeSelector(''), undefined);
  assert.throws(() => parseNodeSelector('justakey'), /key=value pairs, not "justakey"/);
});

test('tolerations in kubectl taint spelling', () => {
  assert.deepEqual(parseTolerations('chaosrun.dev/real-node=true:NoSchedule,dedicated:NoExecute,any'), [
    { key: 'chaosrun.dev/real-node', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' },
    { key: 'any', operator: 'Exists' },
  ]);
  assert.throws(() => parseTolerations('k=v:Sometimes'), /NoSchedule\|PreferNoSchedule\|NoExecute/);
  assert.throws(() => parseTolerations('=v:NoSchedule'), /needs a key/);
});

test('placement is undefined when neither is given', () => {
  assert.equal(parseStepPlacement('', ''), undefined);
  assert.deepEqual(parseStepPlacement('a=b', ''), { nodeSelector: { a: 'b' }, tolerations: undefined });
});
