// How krkn's images are made from upstream's own files (the tarballs in ../shared/peers/krkn), and the
// cache's trust rule on their archive; no build here (that is test/e2e/krkn-images.test.ts, as root).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HUB_ENTRYPOINT_PREFIX, KRKN_HOG_IMAGE, KRKN_HUB_SCENARIOS, KRKN_IMAGES, VSPHERE_FROM_PYPI, hogContainerfile, hubContainerfile,
  krknArchiveProblem, krknSourcesDir, requirementsForPypi,
} from './krkn-images.ts';

const sources = krknSourcesDir();
const work = mkdtempSync(join(tmpdir(), 'krkn-images-test-'));
/** One file of one of krkn's tarballs, as upstream wrote it. */
function upstream(prefix: 'krkn' | 'krkn-hub' | 'krkn-hog', path: string): string {
  const tarball = readdirSync(sources).find((f) => new RegExp(`^${prefix}-[0-9a-f]+\\.tar\\.gz$`).test(f));
  assert.ok(tarball, `no ${prefix} tarball in ${sources}`);
  const top = tarball.slice(0, -'.tar.gz'.length);
  return execFileSync('tar', ['-xzOf', join(sources, tarball), `${top}/${path}`], { encoding: 'utf8' });
}

it("krkn's requirements.txt: the vSphere SDK's git line becomes PyPI's packages, every other line stays", () => {
  const before = upstream('krkn', 'requirements.txt');
  const after = requirementsForPypi(before);
  assert.doesNotMatch(after, /^git\+/m);
  for (const p of VSPHERE_FROM_PYPI) assert.match(after, new RegExp(`^${p.replaceAll('.', '\\.')}$`, 'm'));
  const kept = (t: string) => t.split('\n').filter((l) => l.trim() && !l.startsWith('git+') && !l.startsWith('#') && !VSPHERE_FROM_PYPI.includes(l));
  assert.deepEqual(kept(after), kept(before));
  assert.match(after, /^krkn-lib==6\.1\.4$/m);
  assert.throws(() => requirementsForPypi('krkn-lib==6.1.4\n'), /no vsphere-automation-sdk-python git line/);
  assert.throws(() => requirementsForPypi('git+https://github.com/vmware/vsphere-automation-sdk-python.git@v8\ngit+https://example.invalid/x.git\n'),
    /another requirement PyPI cannot give: git\+https:\/\/example\.invalid/);
});

it("each krkn-hub scenario's Dockerfile.template keeps its lines; only its shell-form ENTRYPOINT runs under tini -g", () => {
  for (const scenario of KRKN_HUB_SCENARIOS) {
    const template = upstream('krkn-hub', `${scenario}/Dockerfile.template`);
    const input = upstream('krkn-hub', `${scenario}/krknctl-input.json`);
    const out = hubContainerfile(template, input);
    const entry = out.split('\n').filter((l) => l.startsWith('ENTRYPOINT '));
    assert.equal(entry.length, 1, scenario);
    const argv = JSON.parse(entry[0].slice('ENTRYPOINT '.length)) as string[];
    // What docker makes of the shell form, `/bin/sh -c <line>`, after tini -g and the group wait.
    assert.deepEqual(argv, [...HUB_ENTRYPOINT_PREFIX, '/bin/sh', '-c', '/home/krkn/kraken/containers/setup-ssh.sh && /home/krkn/run.sh'], scenario);
    assert.equal(argv[0], '/usr/bin/tini');
    assert.equal(argv[1], '-g');
    // Every other instruction is upstream's, in its order (FROM, COPY of env.sh/run.sh, ENV, LABEL).
    const instructions = (t: string) => t.split('\n').filter((l) => /^[A-Z]+\s/.test(l) && !l.startsWith('ENTRYPOINT'));
    assert.deepEqual(instructions(out).filter((l) => !l.includes('krknctl.input_fields')), instructions(template).filter((l) => !l.includes('krknctl.input_fields')), scenario);
    assert.match(out, new RegExp(`^COPY ${scenario}/run\\.sh /home/krkn/run\\.sh$`, 'm'));
    // $KRKNCTL_INPUT filled in as krkn-hub's build.sh does (the JSON, newlines removed).
    assert.doesNotMatch(out, /\$KRKNCTL_INPUT/);
    assert.ok(out.includes(input.replaceAll('\n', '')), scenario);
  }
  assert.throws(() => hubContainerfile('FROM quay.io/krkn-chaos/krkn:latest\nENTRYPOINT ["/run.sh"]\n', '{}'), /exec form/);
  assert.throws(() => hubContainerfile('FROM fedora:45\nENTRYPOINT /run.sh\n', '{}'), /not FROM quay\.io\/krkn-chaos\/krkn:latest/);
  assert.throws(() => hubContainerfile('FROM quay.io/krkn-chaos/krkn:latest\n', '{}'), /0 ENTRYPOINT lines/);
});

it("krkn-hog's Containerfile on Debian: its FROM and dnf line replaced, its COPY, WORKDIR and bash run.sh entrypoint kept", () => {
  const before = upstream('krkn-hog', 'Containerfile');
  const after = hogContainerfile(before);
  assert.match(after, /^FROM docker\.io\/library\/debian:bookworm$/m);
  assert.match(after, /^RUN apt-get update -q && .*apt-get install .* stress-ng gettext-base /m);
  assert.doesNotMatch(after, /^(FROM fedora|RUN dnf)/m);
  for (const line of ['WORKDIR /stress-ng', 'COPY . .', 'RUN chmod +x ./run.sh', 'ENTRYPOINT ["/bin/bash", "run.sh"]']) assert.ok(after.includes(line), line);
  assert.throws(() => hogContainerfile('FROM alpine\nRUN apk add stress-ng\n'), /0 Fedora FROM and 0 dnf lines/);
});

it('the hog helper has a tag (the kubelet pulls an untagged name always), and it is krkn-hog\'s published tag of the commit built', () => {
  assert.match(KRKN_HOG_IMAGE, /^quay\.io\/krkn-chaos\/krkn-hog:v\d+\.\d+\.\d+$/);
  assert.ok(KRKN_IMAGES.includes(KRKN_HOG_IMAGE));
  assert.deepEqual(KRKN_IMAGES.filter((n) => n.startsWith('quay.io/krkn-chaos/krkn-hub:')).map((n) => n.split(':')[1]), [...KRKN_HUB_SCENARIOS]);
});

/** An OCI layout tar whose index names `names` for containerd, as ensureKrknImages writes it. */
function fakeArchive(path: string, names: string[]): void {
  const dir = mkdtempSync(join(work, 'oci-'));
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs/sha256/layer'), 'x'.repeat(200_000));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: names.map((n) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { 'org.opencontainers.image.ref.name': n, 'io.containerd.image.name': n } })),
  }));
  execFileSync('tar', ['-cf', path, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
}

it("a krkn archive is trusted only whole: truncated, a directory, or missing an image's name, it is unusable", () => {
  const valid = krknArchiveProblem();
  const good = join(work, 'good.tar');
  fakeArchive(good, [...KRKN_IMAGES]);
  assert.equal(valid(good), undefined);
  const cut = join(work, 'cut.tar');
  fakeArchive(cut, [...KRKN_IMAGES]);
  truncateSync(cut, Math.floor(statSync(cut).size / 2));
  assert.match(valid(cut) ?? '', /^not a readable tar/);
  const short = join(work, 'short.tar');
  fakeArchive(short, KRKN_IMAGES.filter((n) => n !== KRKN_HOG_IMAGE));
  assert.equal(valid(short), `its index names no ${KRKN_HOG_IMAGE}`);
  const asDir = join(work, 'dir.tar');
  mkdirSync(asDir);
  assert.equal(valid(asDir), 'not a regular file');
  const plain = join(work, 'plain.tar');
  execFileSync('tar', ['-cf', plain, '-C', work, 'good.tar']);
  assert.equal(valid(plain), 'no index.json in it');
  assert.ok(existsSync(good) && readFileSync(good).length > 0);
});
