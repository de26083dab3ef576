// The cache's trust rule on plain files: an entry that is not what it claims is rebuilt, not used.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedArtefact, isTarArchive } from './cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'cache-test-'));
function makeTar(path: string): void {
  const src = mkdtempSync(join(tmpdir(), 'cache-src-'));
  writeFileSync(join(src, 'hello'), 'x'.repeat(100_000));
  execFileSync('tar', ['-cf', path, '-C', src, 'hello']);
}

it('isTarArchive tells a tar from a directory, an empty file and a truncated tar', () => {
  const good = join(dir, 'good.tar');
  makeTar(good);
  assert.equal(isTarArchive(good), undefined);
  const asDir = join(dir, 'dir.tar');
  mkdirSync(asDir);
  assert.equal(isTarArchive(asDir), 'not a regular file');
  writeFileSync(join(dir, 'empty.tar'), '');
  assert.equal(isTarArchive(join(dir, 'empty.tar')), 'empty');
  const cut = join(dir, 'cut.tar');
  makeTar(cut);
  truncateSync(cut, 3000);
  assert.match(isTarArchive(cut) ?? '', /^not a readable tar/);
  assert.equal(isTarArchive(join(dir, 'nothing.tar')), 'missing');
});

it('cachedArtefact uses a good entry, and rebuilds a directory where a tar belongs (the fresh-machine bug)', () => {
  const path = join(dir, 'rootfs.tar');
  const logs: string[] = [];
  let builds = 0;
  const build = () => { builds++; makeTar(path); };
  mkdirSync(path); // what mmdebstrap left when its target's name did not end in .tar
  assert.equal(cachedArtefact(path, isTarArchive, (m) => logs.push(m), build), path);
  assert.equal(builds, 1);
  assert.ok(statSync(path).isFile());
  assert.match(logs.join('\n'), /rootfs\.tar is unusable \(not a regular file\); rebuilding it/);
  const before = readFileSync(path);
  cachedArtefact(path, isTarArchive, (m) => logs.push(m), build);
  assert.equal(builds, 1, 'a good entry is used as it is');
  assert.deepEqual(readFileSync(path), before);
});

it('cachedArtefact fails at once when the build leaves an unusable entry', () => {
  const path = join(dir, 'bad.tar');
  assert.throws(() => cachedArtefact(path, isTarArchive, () => {}, () => writeFileSync(path, 'not a tar')),
    /the build of .*bad\.tar left an unusable entry \(not a readable tar/);
});
