// Unit tests of the kubeconfig reader: client certificates and tokens read here, a token file re-read
// on every request (rotated ServiceAccount tokens), and anything else handed to client-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClusterAccess, type TlsAuth } from './kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaosrun-kubeconfig-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');
function kubeconfig(user: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${b64('CA')}}
users:
- name: u
  user: ${user}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`);
  return path;
}

test('client certificates come from the data fields', async () => {
  const access = loadClusterAccess(kubeconfig(`{client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}}`));
  const o: TlsAuth = {};
  await access.applyToHTTPSOptions(o);
  assert.equal(access.server, 'https://127.0.0.1:6443');
  assert.deepEqual([String(o.ca), String(o.cert), String(o.key)], ['CA', 'CERT', 'KEY']);
  assert.equal(o.headers, undefined);
});

test('a token file is read again on every request', async () => {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'one\n');
  const access = loadClusterAccess(kubeconfig(`{tokenFile: ${tokenFile}}`));
  const first: TlsAuth = {};
  await access.applyToHTTPSOptions(first);
  writeFileSync(tokenFile, 'two\n');
  const second: TlsAuth = {};
  await access.applyToHTTPSOptions(second);
  assert.deepEqual([first.headers?.Authorization, second.headers?.Authorization], ['Bearer one', 'Bearer two']);
});

test('an exec plugin is handed to client-node', () => {
  const access = loadClusterAccess(kubeconfig('{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}}'));
  assert.equal(access.server, 'https://127.0.0.1:6443');
  assert.equal(access.userName, 'u');
});

test('a missing file is one clear line', () => {
  assert.throws(() => loadClusterAccess(join(dir, 'nope')), /^Error: --kubeconfig .*nope: no such file$/);
});
