import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoints } from './agent-reports.ts';

test('--agent-endpoints: NODE=URL pairs, * for any node; a bad entry is named in one line', () => {
  assert.equal(parseEndpoints(undefined), undefined);
  assert.deepEqual(parseEndpoints('*=http://127.0.0.1:8082/, node-a = http://10.0.0.2:8082'), { '*': 'http://127.0.0.1:8082', 'node-a': 'http://10.0.0.2:8082' });
  assert.throws(() => parseEndpoints('node-a'), { message: '--agent-endpoints: "node-a" is not NODE=http://HOST:PORT (NODE may be *)' });
  assert.throws(() => parseEndpoints('=http://x:1'), /"=http:\/\/x:1" is not NODE=/);
  assert.throws(() => parseEndpoints('a=ftp://x'), /"a=ftp:\/\/x" is not/);
});
