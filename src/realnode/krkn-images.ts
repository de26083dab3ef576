// krkn's own images for the real node, built on this machine from krkn's sources with no registry and no
// pull: krkn itself (quay.io/krkn-chaos/krkn:latest), the krkn-hub scenario images krknHub steps run
// (quay.io/krkn-chaos/krkn-hub:<scenario>) and the stress-ng helper krkn's hog scenarios start
// (quay.io/krkn-chaos/krkn-hog:v0.0.1). The sources are krkn's, krkn-hub's and krkn-hog's repositories
// at pinned commits, as tarballs beside the checkout (../shared/peers/krkn, or CHAOSRUN_KRKN_SOURCES):
// test inputs, unpacked into a temporary build context, never part of this repository.
//
// What is built as upstream builds it: krkn-hub's per-scenario Dockerfile.template (its FROM, COPY,
// ENV and LABEL lines, $KRKNCTL_INPUT filled in as its build.sh does), its env.sh, run.sh and
// common_run.sh unchanged; krkn's run_kraken.py and plugins from its tarball, with its requirements.txt
// from PyPI as its containers/Dockerfile.template installs them (pip, setuptools 81, jsonschema);
// krkn-hog's Containerfile, run.sh and job-file templates. What differs, and why:
//   - Debian bookworm instead of Fedora (krkn: fedora:45, krkn-hog: fedora:40): no image can be pulled
//     here, and Debian's packages can be installed; the root filesystem is the one images.ts makes with
//     mmdebstrap for the operator's image, shared. Python is Debian's 3.11 (krkn-hub's run.sh calls
//     python3.11), in a venv (/opt/krkn-venv, first on PATH) because Debian's own Python refuses pip.
//   - The vSphere automation SDK's git line of requirements.txt (a git clone, which cannot be made here)
//     is replaced by the PyPI packages that ship the same modules: krkn imports every scenario plugin at
//     start, the VMware one included, so without them no scenario runs at all.
//   - `oc` (built from openshift/oc's sources upstream) is kubectl under that name: run.sh only checks
//     `which oc` and `which kubectl`, and krkn's pod, container and hog scenarios speak to the API
//     server through krkn-lib's Python client. kubectl is the plane's own, built from the pinned
//     k8s.io/kubernetes module (test/controlplane/build.sh; static). No virtctl, yq, ipmitool or sshd:
//     no scenario built here uses them.
//   - The krkn-hub images' entrypoint runs under Debian's tini as PID 1 with -g (signals go to the
//     whole process group), through chaosrun-krkn-entrypoint: upstream's shell-form ENTRYPOINT makes a
//     shell PID 1, which the kernel spares every signal it has no handler for, so a SIGTERM (a STOP, a
//     Job deleted) never reached krkn, which then died by SIGKILL at the end of the grace period.
//     tini forwards it to krkn's python; the shells die of it at once, and the small script stays until
//     every other process of the group has ended, because tini's exit ends the container and the
//     kernel SIGKILLs what is left: krkn's own signal handler runs to its end. The base image's
//     entrypoint (containers/entrypoint.sh, which execs python) runs under tini -g too.
//   - krkn-hog's image keeps its bash PID 1 (`bash run.sh`): krkn-lib starts it as a pod, and deletes
//     it with its own grace period.
//   - quay.io/krkn-chaos/krkn:tools, the image krkn's network-chaos starts its helper pod and Jobs from,
//     has no recipe in krkn's sources: here it is Debian with the tools those run (iproute2's ip and
//     tc, kmod's modprobe, procps).
// A user whose cluster reaches quay.io does nothing of this: the names are upstream's, and upstream's
// images are what their kubelet pulls.
//
// All eight images go into one OCI archive (their layers stored once), cached under
// <cache>/images/krkn-<key>.tar: <key> hashes everything that went into it (the three tarballs, the
// build files made from them, kubectl, the root filesystem, the CA bundle handed to pip). It is written
// under a temporary name, checked (tar reads it to its end and its index names every image) and renamed;
// a cached one is checked again and rebuilt when unusable. buildah's storage is images.ts's, so a rebuild
// reuses its layers (--layers). Progress: every build step as it starts, and a line every 20 s.
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync, copyFileSync, createWriteStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
  renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTarArchive, type Validator } from '../local/cache.ts';
import { SetupError, lastLine, runBuildScript, setupLog } from '../local/setup-step.ts';
import {
  KRKN_BASE_IMAGE, KRKN_HOG_IMAGE, KRKN_HUB_SCENARIOS, KRKN_TOOLS_IMAGE, krknHubImageName, type KrknHubScenario,
} from '../scenarios/krkn-image-names.ts';
import { containerdSocket, type Log } from './host.ts';
import { bookwormRootfs, buildahStorageArgs, cacheDir, tidyBuildStorage, type BuiltImage } from './images.ts';

export { KRKN_BASE_IMAGE, KRKN_HOG_IMAGE, KRKN_HUB_REPOSITORY, KRKN_HUB_SCENARIOS, KRKN_TOOLS_IMAGE, krknHubImageName } from '../scenarios/krkn-image-names.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where krkn's source tarballs are: CHAOSRUN_KRKN_SOURCES when set; else ../shared/peers/krkn beside the
 * checkout, or beside the checkout it was cloned from (CI runs on a fresh clone of the working copy,
 * which may sit anywhere); the first that holds a krkn tarball.
 */
export function krknSourcesDir(): string {
  if (process.env.CHAOSRUN_KRKN_SOURCES) return process.env.CHAOSRUN_KRKN_SOURCES;
  const beside = (root: string) => resolve(root, '../shared/peers/krkn');
  const candidates = [beside(repoRoot)];
  const origin = spawnSync('git', ['-C', repoRoot, 'remote', 'get-url', 'origin'], { encoding: 'utf8' }).stdout?.trim();
  // Only a local path: a clone's origin on a server has no folder beside it here.
  if (origin && origin.startsWith('/')) candidates.push(beside(origin.replace(/\/\.git\/?$/, '')));
  return candidates.find((d) => existsSync(d) && readdirSync(d).some((f) => /^krkn-[0-9a-f]+\.tar\.gz$/.test(f))) ?? candidates[0];
}

/** Why krkn's images cannot be built here (no sources found), or undefined when they can. */
export function krknSourcesProblem(): string | undefined {
  const dir = krknSourcesDir();
  const has = (re: RegExp) => existsSync(dir) && readdirSync(dir).some((f) => re.test(f));
  return has(/^krkn-[0-9a-f]+\.tar\.gz$/) && has(/^krkn-hub-[0-9a-f]+\.tar\.gz$/) && has(/^krkn-hog-[0-9a-f]+\.tar\.gz$/)
    ? undefined : `krkn's sources are not in ${dir} (set CHAOSRUN_KRKN_SOURCES to the folder of krkn's, krkn-hub's and krkn-hog's tarballs)`;
}

/** The stand-in of Debian's own image: the mmdebstrap root filesystem as it is (never imported). */
const DEBIAN_BASE = 'docker.io/library/debian:bookworm';

/** Every image the archive holds, in build order's end: krkn, the hub scenarios, the hog, network-chaos's tools. */
export const KRKN_IMAGES: readonly string[] = [KRKN_BASE_IMAGE, ...KRKN_HUB_SCENARIOS.map(krknHubImageName), KRKN_HOG_IMAGE, KRKN_TOOLS_IMAGE];

/** The vSphere SDK's modules from PyPI, for requirements.txt's git line (../shared/peers/krkn/README.md). */
export const VSPHERE_FROM_PYPI = ['vmware-vcenter==8.0.3.0', 'vmware-vapi-common-client==2.52.0', 'vmware-vapi-runtime==2.52.0'];

/** Debian's packages in krkn's image: what upstream's dnf line installs that the four scenarios use, and tini. */
const KRKN_PACKAGES = ['python3', 'python3-venv', 'git', 'jq', 'gettext-base', 'openssh-client', 'ca-certificates', 'passwd', 'tini'];
/** krkn-hog's dnf line (stress-ng gettext-envsubst which), in Debian's names. */
const HOG_PACKAGES = ['stress-ng', 'gettext-base'];
/** What krkn's network-chaos runs in its tools image: ip and tc (iproute2), modprobe (kmod) for the ingress variant's ifb. */
const TOOLS_PACKAGES = ['iproute2', 'kmod', 'procps'];

const ENTRYPOINT_SCRIPT = '/usr/local/bin/chaosrun-krkn-entrypoint';
/** tini -g as PID 1, then the script that waits for the whole group: see the header. */
export const HUB_ENTRYPOINT_PREFIX = ['/usr/bin/tini', '-g', '--', ENTRYPOINT_SCRIPT];

/** The script between tini and krkn-hub's entrypoint (see the header). */
const ENTRYPOINT_WAIT = `#!/bin/bash
# chaosrun's addition to krkn-hub's images (chaosrun-operator src/realnode/krkn-images.ts).
# tini -g, PID 1, forwards each signal to this script's process group: krkn-hub's entrypoint
# (sh -c 'setup-ssh.sh && run.sh'), run.sh's bash and krkn's python. The shells die of a SIGTERM at once
# and krkn runs its own handler. tini ends the container when this script ends (the kernel then kills
# whatever is left in it), so this script ends only when every other process of its group has.
trap : TERM INT HUP QUIT
"$@"
status=$?
others() {
  local f s
  for f in /proc/[0-9]*/stat; do
    [[ $f == "/proc/$$/stat" ]] && continue
    read -r s < "$f" 2>/dev/null || continue
    s=\${s##*) }
    set -- $s
    [[ $1 != Z && $3 == "$$" ]] && return 0
  done
  return 1
}
while others; do sleep 0.2; done
exit "$status"
`;

/** requirements.txt with its vSphere git line replaced by PyPI's packages; throws when there is no such line. */
export function requirementsForPypi(text: string): string {
  const lines = text.split('\n');
  const git = lines.findIndex((l) => /^git\+https:\/\/github\.com\/vmware\/vsphere-automation-sdk-python/.test(l.trim()));
  if (git < 0) throw new Error("krkn's requirements.txt has no vsphere-automation-sdk-python git line to replace (did upstream change it?)");
  lines.splice(git, 1, `# ${lines[git].trim()}: from PyPI instead (chaosrun's build)`, ...VSPHERE_FROM_PYPI);
  const other = lines.find((l) => /^(git\+|-e |\S+ @ )/.test(l.trim()));
  if (other) throw new Error(`krkn's requirements.txt has another requirement PyPI cannot give: ${other.trim()}`);
  return lines.join('\n');
}

/** krkn-hub's shell-form ENTRYPOINT line, as docker runs it (sh -c), under tini -g and the group wait. */
export function hubContainerfile(template: string, krknctlInput: string): string {
  let entrypoints = 0;
  const out = template.split('\n').map((line) => {
    const m = /^ENTRYPOINT\s+(.*\S)\s*$/.exec(line);
    if (!m) return line;
    entrypoints++;
    if (m[1].startsWith('[')) throw new Error(`krkn-hub's ENTRYPOINT is in exec form (${m[1]}); the build expects its shell form`);
    return `# upstream: ${line.trim()}\nENTRYPOINT ${JSON.stringify([...HUB_ENTRYPOINT_PREFIX, '/bin/sh', '-c', m[1]])}`;
  });
  if (entrypoints !== 1) throw new Error(`krkn-hub's Dockerfile.template has ${entrypoints} ENTRYPOINT lines, not one`);
  const from = out.find((l) => /^FROM\s/i.test(l));
  if (from?.trim() !== `FROM ${KRKN_BASE_IMAGE}`) throw new Error(`krkn-hub's Dockerfile.template starts ${JSON.stringify(from)}, not FROM ${KRKN_BASE_IMAGE}`);
  // build.sh: export KRKNCTL_INPUT=$(cat $i/krknctl-input.json|tr -d "\n"); envsubst < Dockerfile.template
  return out.join('\n').replaceAll('$KRKNCTL_INPUT', krknctlInput.replaceAll('\n', ''));
}

/** krkn-hog's Containerfile on Debian: its FROM and its dnf line replaced, the rest as it is. */
export function hogContainerfile(upstream: string): string {
  let from = 0;
  let dnf = 0;
  const out = upstream.split('\n').map((line) => {
    if (/^FROM\s+(docker\.io\/library\/|registry\.fedoraproject\.org\/)?fedora(:\S+)?\s*$/.test(line.trim())) {
      from++;
      return `# upstream: ${line.trim()}\nFROM ${DEBIAN_BASE}`;
    }
    if (/^RUN\s+dnf\s/.test(line.trim())) {
      dnf++;
      return `# upstream: ${line.trim()}\nRUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${HOG_PACKAGES.join(' ')} && rm -rf /var/lib/apt/lists/*`;
    }
    return line;
  });
  if (from !== 1 || dnf !== 1) throw new Error(`krkn-hog's Containerfile has ${from} Fedora FROM and ${dnf} dnf lines (expected one each)`);
  return `${out.join('\n')}\n`;
}

/** krkn:tools, stood in: upstream publishes it without its recipe in krkn's sources; Debian with the same tools. */
function toolsContainerfile(): string {
  return `# ${KRKN_TOOLS_IMAGE}, stood in: Debian bookworm with the tools krkn's network-chaos runs (chaosrun-operator src/realnode/krkn-images.ts)
FROM ${DEBIAN_BASE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${TOOLS_PACKAGES.join(' ')} && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
`;
}

function debianContainerfile(): string {
  return `# ${DEBIAN_BASE}, stood in: the Debian bookworm root filesystem made by mmdebstrap (images.ts)
FROM scratch
ADD bookworm-minbase.tar /
CMD ["bash"]
`;
}

/** krkn's containers/Dockerfile.template, on Debian (see the header for what differs). */
function krknContainerfile(withCa: boolean): string {
  const ca = withCa ? '--mount=type=bind,source=host-ca.crt,target=/tmp/host-ca.crt PIP_CERT=/tmp/host-ca.crt ' : '';
  return `# ${KRKN_BASE_IMAGE}, stood in: krkn's containers/Dockerfile.template on Debian bookworm (chaosrun-operator src/realnode/krkn-images.ts)
FROM ${DEBIAN_BASE}
ENV PYTHON_CMD=python3.11
ENV KUBECONFIG=/home/krkn/.kube/config
ENV PATH=/opt/krkn-venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${KRKN_PACKAGES.join(' ')} && rm -rf /var/lib/apt/lists/*
RUN groupadd -g 1001 krkn && useradd -m -u 1001 -g krkn krkn
# oc: kubectl under that name (run.sh checks \`which oc\`; these scenarios never run it)
COPY kubectl /usr/bin/kubectl
RUN ln -s kubectl /usr/bin/oc
COPY chaosrun-krkn-entrypoint ${ENTRYPOINT_SCRIPT}
COPY requirements.txt /tmp/krkn-requirements.txt
RUN ${ca}sh -c 'python3.11 -m venv /opt/krkn-venv && pip install --progress-bar off --upgrade pip setuptools==81.0.0 wheel && pip install --progress-bar off --no-build-isolation -r /tmp/krkn-requirements.txt && pip install --progress-bar off jsonschema && pip install --progress-bar off --force-reinstall --no-deps setuptools==81.0.0 && rm -rf /root/.cache/pip /tmp/krkn-requirements.txt'
COPY krkn /home/krkn/kraken
RUN mkdir -p /home/krkn/.kube /home/krkn/.ssh && chmod 700 /home/krkn/.ssh && chmod +x /home/krkn/kraken/containers/setup-ssh.sh /home/krkn/kraken/containers/entrypoint.sh && chown -R krkn:krkn /home/krkn && chmod 755 /home/krkn
LABEL krknctl.title.global="Krkn Base Image"
LABEL krknctl.description.global="This is the krkn base image."
USER krkn
WORKDIR /home/krkn/kraken
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/bin/bash", "/home/krkn/kraken/containers/entrypoint.sh"]
CMD ["--config=config/config.yaml"]
`;
}

interface Sources { krkn: string; hub: string; hog: string }

function findSources(): Sources {
  const dir = krknSourcesDir();
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const pick = (re: RegExp, what: string): string => {
    const found = files.filter((f) => re.test(f)).sort();
    if (found.length !== 1) {
      throw new SetupError("building krkn's images", `${found.length ? `more than one ${what} tarball` : `no ${what} tarball`} in ${dir} (krkn's sources; set CHAOSRUN_KRKN_SOURCES to their folder)`, setupLog('krkn-images'));
    }
    return join(dir, found[0]);
  };
  return { krkn: pick(/^krkn-[0-9a-f]+\.tar\.gz$/, 'krkn-<commit>'), hub: pick(/^krkn-hub-[0-9a-f]+\.tar\.gz$/, 'krkn-hub-<commit>'), hog: pick(/^krkn-hog-[0-9a-f]+\.tar\.gz$/, 'krkn-hog-<commit>') };
}

/** Unpacks a GitHub-style tarball (one top folder) into `into`, returning that folder. */
function unpack(tarball: string, into: string): string {
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', into, '--no-same-owner']);
  const [top, ...more] = readdirSync(into);
  if (!top || more.length) throw new Error(`${tarball} does not hold exactly one folder`);
  return join(into, top);
}

/** The CA bundle this machine's TLS proxy needs, handed to pip during the build only (never in a layer). */
function hostCaBundle(): string | undefined {
  for (const v of ['PIP_CERT', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS']) {
    const f = process.env[v];
    if (f && existsSync(f)) return f;
  }
  return undefined;
}

function kubectlBinary(): string {
  const bin = runBuildScript(join(repoRoot, 'test/controlplane/build.sh'), 'building the control plane binaries (for kubectl)', 'controlplane-build');
  return join(bin, 'kubectl');
}

function hashFile(h: ReturnType<typeof createHash>, path: string): void {
  h.update(path.split('/').pop()!);
  h.update('\0');
  h.update(readFileSync(path));
  h.update('\0');
}

/** One image to build: its name, its build context and its Containerfile there. */
interface Recipe { name: string; context: string; containerfile: string }

interface Plan { key: string; recipes: Recipe[]; workdir: string }

/** Unpacks the sources into a temporary build context and writes every Containerfile; keys the lot. */
function plan(log: Log, kubectl?: string): Plan {
  const sources = findSources();
  const workdir = mkdtempSync(join(tmpdir(), 'chaosrun-krkn-build-'));
  try {
    const h = createHash('sha256');
    h.update('krkn-images-1\0');
    for (const f of [sources.krkn, sources.hub, sources.hog]) hashFile(h, f);
    const rootfs = bookwormRootfs(log);
    const st = statSync(rootfs);
    h.update(`rootfs ${st.size} ${st.mtimeMs}\0`);
    const kubectlBin = kubectl ?? kubectlBinary();
    hashFile(h, kubectlBin);
    const ca = hostCaBundle();
    if (ca) hashFile(h, ca);

    const debianCtx = join(workdir, 'debian');
    mkdirSync(debianCtx);
    try { linkSync(rootfs, join(debianCtx, 'bookworm-minbase.tar')); } catch { copyFileSync(rootfs, join(debianCtx, 'bookworm-minbase.tar')); }
    writeFileSync(join(debianCtx, 'Containerfile'), debianContainerfile());

    const krknCtx = join(workdir, 'krkn-base');
    const krkn = unpack(sources.krkn, join(workdir, 'src-krkn'));
    mkdirSync(krknCtx);
    renameSync(krkn, join(krknCtx, 'krkn'));
    writeFileSync(join(krknCtx, 'requirements.txt'), requirementsForPypi(readFileSync(join(krknCtx, 'krkn/requirements.txt'), 'utf8')));
    copyFileSync(kubectlBin, join(krknCtx, 'kubectl'));
    writeFileSync(join(krknCtx, 'chaosrun-krkn-entrypoint'), ENTRYPOINT_WAIT, { mode: 0o755 });
    if (ca) copyFileSync(ca, join(krknCtx, 'host-ca.crt'));
    writeFileSync(join(krknCtx, 'Containerfile'), krknContainerfile(ca !== undefined));

    const hub = unpack(sources.hub, join(workdir, 'src-hub'));
    const hubRecipes = KRKN_HUB_SCENARIOS.map((scenario: KrknHubScenario): Recipe => {
      const containerfile = join(hub, scenario, 'Containerfile.chaosrun');
      writeFileSync(containerfile, hubContainerfile(readFileSync(join(hub, scenario, 'Dockerfile.template'), 'utf8'), readFileSync(join(hub, scenario, 'krknctl-input.json'), 'utf8')));
      return { name: krknHubImageName(scenario), context: hub, containerfile };
    });

    const hog = unpack(sources.hog, join(workdir, 'src-hog'));
    // Written outside the context: krkn-hog's `COPY . .` copies its folder as upstream's does.
    const hogFile = join(workdir, 'krkn-hog.Containerfile');
    writeFileSync(hogFile, hogContainerfile(readFileSync(join(hog, 'Containerfile'), 'utf8')));

    const toolsCtx = join(workdir, 'krkn-tools');
    mkdirSync(toolsCtx);
    writeFileSync(join(toolsCtx, 'Containerfile'), toolsContainerfile());

    const recipes: Recipe[] = [
      { name: DEBIAN_BASE, context: debianCtx, containerfile: join(debianCtx, 'Containerfile') },
      { name: KRKN_BASE_IMAGE, context: krknCtx, containerfile: join(krknCtx, 'Containerfile') },
      ...hubRecipes,
      { name: KRKN_HOG_IMAGE, context: hog, containerfile: hogFile },
      { name: KRKN_TOOLS_IMAGE, context: toolsCtx, containerfile: join(toolsCtx, 'Containerfile') },
    ];
    for (const r of recipes) { h.update(r.name); h.update('\0'); h.update(readFileSync(r.containerfile)); h.update('\0'); }
    h.update(ENTRYPOINT_WAIT);
    h.update(readFileSync(join(krknCtx, 'requirements.txt')));
    return { key: h.digest('hex').slice(0, 16), recipes, workdir };
  } catch (err) {
    rmSync(workdir, { recursive: true, force: true });
    throw err;
  }
}

/** Why a krkn archive cannot be used (a tar read to its end whose OCI index names every image), or undefined. */
export function krknArchiveProblem(names: readonly string[] = KRKN_IMAGES): Validator {
  return (path) => {
    const why = isTarArchive(path);
    if (why) return why;
    const r = spawnSync('tar', ['-xOf', path, 'index.json'], { encoding: 'utf8', maxBuffer: 16 << 20 });
    if (r.status !== 0) return 'no index.json in it';
    let index: { manifests?: { annotations?: Record<string, string> }[] };
    try { index = JSON.parse(r.stdout) as typeof index; } catch { return 'its index.json is not JSON'; }
    const held = new Set((index.manifests ?? []).map((m) => m.annotations?.['io.containerd.image.name']));
    const missing = names.filter((n) => !held.has(n));
    return missing.length ? `its index names no ${missing.join(', ')}` : undefined;
  };
}

function elapsed(since: number): string { return `${((Date.now() - since) / 1000).toFixed(0)}s`; }

/**
 * Runs buildah with the cache's storage; its output goes to `logFile`. Each build step is printed as it
 * starts, and every 20 s a line says how far it is (pip's count of packages, the last line).
 */
function buildahStreamed(args: string[], what: string, logFile: string, log: Log, label: string): Promise<void> {
  return new Promise((done, fail) => {
    const started = Date.now();
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`$ buildah ${[...buildahStorageArgs, ...args].join(' ')}\n`);
    const child = spawn('buildah', [...buildahStorageArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    let tail = '';
    let collected = 0;
    let partial = '';
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      const text = partial + chunk.toString('utf8');
      const lines = text.split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.trim();
        if (!line) continue;
        last = line;
        tail = `${tail}\n${line}`.slice(-4000);
        if (/^Collecting /.test(line)) collected++;
        // The steps that take time (FROM, RUN, ADD, COPY) as they start; LABEL, ENV and the like are instant.
        if (/^STEP \d+\/\d+: (FROM|RUN|ADD|COPY) /.test(line)) log(`images: krkn: ${label} ${line.length > 140 ? `${line.slice(0, 137)}...` : line}`);
        else if (/^Successfully installed /.test(line)) log(`images: krkn: ${label} pip installed ${line.split(' ').length - 2} packages (${elapsed(started)})`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => {
      const shown = last.length > 120 ? `${last.slice(0, 117)}...` : last;
      log(`images: krkn: ${label} still building (${elapsed(started)}${collected ? `; pip: ${collected} packages collected` : ''}): ${shown}`);
    }, 20_000);
    child.on('error', (err) => { clearInterval(timer); out.end(); fail(new SetupError(what, err.message, logFile)); });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      out.end(() => {
        if (code === 0) done();
        else fail(new SetupError(what, lastLine(`${tail}\n${partial}`) || `buildah exited ${code ?? signal}`, logFile));
      });
    });
  });
}

/**
 * Writes the images into one OCI layout (each layer once), names each for containerd
 * (io.containerd.image.name, which `ctr images import` reads first), and tars it.
 */
async function exportArchive(names: readonly string[], archive: string, logFile: string, log: Log): Promise<void> {
  const what = "exporting krkn's images";
  const dir = `${archive.slice(0, -'.tar'.length)}.partial.d`;
  const tmp = `${archive.slice(0, -'.tar'.length)}.partial.tar`;
  for (const p of [dir, tmp]) rmSync(p, { recursive: true, force: true });
  try {
    for (const name of names) await buildahStreamed(['push', '--disable-compression', name, `oci:${dir}:${name}`], what, logFile, log, `export ${name}`);
    const indexFile = join(dir, 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    for (const m of index.manifests) {
      const ref = m.annotations?.['org.opencontainers.image.ref.name'];
      if (ref) m.annotations = { ...m.annotations, 'io.containerd.image.name': ref };
    }
    writeFileSync(indexFile, JSON.stringify(index));
    execFileSync('tar', ['-cf', tmp, '-C', dir, ...readdirSync(dir).sort()]);
    const why = krknArchiveProblem(names)(tmp);
    if (why) throw new SetupError(what, `the archive written, ${tmp}, is unusable: ${why}`, logFile);
    renameSync(tmp, archive);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
}

export interface EnsureKrknOptions {
  /** kubectl to put in the image (default: the control plane's, built if needed). */
  kubectl?: string;
}

/**
 * krkn's images, as one cached archive (built now when there is no usable one for these sources): one
 * entry per image name, all naming that archive. Needs buildah (root), like the operator's image.
 */
export async function ensureKrknImages(log: Log, options: EnsureKrknOptions = {}): Promise<BuiltImage[]> {
  const started = Date.now();
  const p = plan(log, options.kubectl);
  try {
    const archive = join(cacheDir, `krkn-${p.key}.tar`);
    const valid = krknArchiveProblem();
    if (existsSync(archive)) {
      const why = valid(archive);
      if (why === undefined) {
        log(`images: krkn's images cached (${archive})`);
        return KRKN_IMAGES.map((name) => ({ name, archive, seconds: 0, cached: true }));
      }
      log(`cache: ${archive} is unusable (${why}); rebuilding it`);
      rmSync(archive, { recursive: true, force: true });
    }
    const logFile = setupLog('krkn-images');
    writeFileSync(logFile, '');
    log(`images: building krkn's images from ${krknSourcesDir()} with buildah (first time: several minutes; log: ${logFile}) ...`);
    for (const r of p.recipes) {
      const t = Date.now();
      await buildahStreamed(['bud', '--pull=never', '--layers', '--isolation', 'oci', '--network', 'host', '-f', r.containerfile, '-t', r.name, r.context],
        `building krkn's image ${r.name}`, logFile, log, r.name);
      log(`images: krkn: ${r.name} ready (${elapsed(t)})`);
    }
    const t = Date.now();
    for (const f of readdirSync(cacheDir).filter((f) => /^krkn-[0-9a-f]+\.tar$/.test(f))) rmSync(join(cacheDir, f), { force: true });
    await exportArchive(KRKN_IMAGES, archive, logFile, log);
    tidyBuildStorage();
    const seconds = (Date.now() - started) / 1000;
    log(`images: krkn's ${KRKN_IMAGES.length} images built in ${seconds.toFixed(0)}s (export ${elapsed(t)}; ${(statSync(archive).size / 2 ** 20).toFixed(0)} MiB)`);
    return KRKN_IMAGES.map((name) => ({ name, archive, seconds, cached: false }));
  } finally {
    rmSync(p.workdir, { recursive: true, force: true });
  }
}

/** The images the real node's containerd holds (k8s.io namespace), by name. */
export function nodeImageNames(): string[] {
  return execFileSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'ls', '-q'], { encoding: 'utf8' })
    .split('\n').filter((l) => l && !l.startsWith('sha256:'));
}

/** Imports krkn's archive into the running real node's containerd; returns their names, each checked to be there. */
export function importKrknImages(images: BuiltImage[], log: Log = () => {}): string[] {
  const started = Date.now();
  for (const archive of new Set(images.map((i) => i.archive))) {
    const r = spawnSync('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', archive], { encoding: 'utf8' });
    if (r.status !== 0) {
      const logFile = setupLog('krkn-images');
      appendFileSync(logFile, `$ ctr images import ${archive}\n${r.stdout}${r.stderr}`);
      throw new SetupError("importing krkn's images into the real node", r.error?.message ?? lastLine(`${r.stdout}${r.stderr}`), logFile);
    }
  }
  const held = nodeImageNames();
  const missing = images.map((i) => i.name).filter((n) => !held.includes(n));
  if (missing.length) throw new SetupError("importing krkn's images into the real node", `containerd holds no ${missing.join(', ')} after the import`, setupLog('krkn-images'));
  log(`real node: imported krkn's ${images.length} images in ${elapsed(started)}`);
  return images.map((i) => i.name);
}
