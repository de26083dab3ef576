// The `chaosrun` command (and `kubectl-chaosrun`) where users run it: `npm exec`/`npx` in the checkout,
// `npm install -g` from the checkout and from the tarball `npm pack` makes, each run with every Node on
// this machine (`which -a node`, the project's Node 24, and any in CHAOSRUN_TEST_NODES). A Node that
// package.json's engines supports runs it; an older one gets one line naming the version it needs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../helpers/env.ts';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string }; version: string };
const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)![1];
const atLeast = (v: string, min: string) => {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
};

interface NodeBinary { path: string; version: string; supported: boolean }
function nodes(): NodeBinary[] {
  let onPath: string[] = [];
  try { onPath = execFileSync('which', ['-a', 'node'], { encoding: 'utf8' }).split('\n').filter(Boolean); } catch { /* none on the PATH */ }
  const candidates = [...onPath, join(repoRoot, 'node_modules/.bin/node'), ...(process.env.CHAOSRUN_TEST_NODES ?? '').split(':').filter(Boolean)];
  const seen = new Map<string, NodeBinary>();
  for (const c of candidates) {
    const real = realpathSync(c);
    if (seen.has(real)) continue;
    const version = execFileSync(real, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    seen.set(real, { path: real, version, supported: atLeast(version, minimum) });
  }
  return [...seen.values()];
}

const work = mkdtempSync(join(tmpdir(), 'chaosrun-install-'));
after(() => rmSync(work, { recursive: true, force: true }));
const config = join(work, 'config.yaml');
writeFileSync(config, 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n        - pod.yml\ntunings:\n  wait_duration: 30\n  iterations: 3\n');
writeFileSync(join(work, 'pod.yml'), '- id: kill-pods\n  config:\n    namespace_pattern: ^web$\n    label_selector: app=web\n');

interface Result { code: number; stdout: string; stderr: string }

/**
 * How this machine reaches the npm registry, carried into the user's shell: a TLS proxy's CA
 * (NODE_EXTRA_CA_CERTS, SSL_CERT_*), proxies and npm's own settings. Without them every registry fetch
 * fails certificate checks and npm retries for many minutes before it gives up.
 */
function networkEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] =>
    e[1] !== undefined && /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|(HTTPS?|NO)_PROXY|(https?|no)_proxy|npm_config_(cafile|registry|proxy|https_proxy|noproxy|strict_ssl))$/.test(e[0])));
}
function run(file: string, args: string[], node: NodeBinary, cwd = work, extraPath: string[] = []): Promise<Result> {
  // The user's shell: this Node first on the PATH, then the system's tools (npm, tar).
  const PATH = [...extraPath, dirname(node.path), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...networkEnv(), PATH, HOME: process.env.HOME, npm_config_cache: process.env.npm_config_cache }, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

/** On a supported Node the import prints the manifest; on an older one, one line and exit 1. */
function assertImport(r: Result, node: NodeBinary, how: string) {
  if (node.supported) {
    assert.equal(r.code, 0, `${how} on Node ${node.version}: ${r.stderr}`);
    assert.match(r.stdout, /^kind: ChaosRun$/m, `${how} on Node ${node.version}`);
    assert.match(r.stdout, /^ {2}iterations: 3$/m);
  } else {
    assert.equal(r.code, 1, `${how} on Node ${node.version}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `chaosrun: needs Node.js ${minimum} or later (the maintained LTS lines); this is Node.js ${node.version} (${node.path})\n`, how);
  }
}

const NODES = nodes();
console.log(`Node binaries: ${NODES.map((n) => `${n.version} (${n.path}, ${n.supported ? 'supported' : 'unsupported'})`).join('; ')}; engines ${pkg.engines.node}`);

it('the machine has a supported and an older Node to prove both outcomes', () => {
  assert.ok(NODES.some((n) => n.supported), 'a supported Node (the project\'s own, node_modules/.bin/node)');
  if (!NODES.some((n) => !n.supported)) console.log(`SKIPPED: the unsupported-Node cases: every Node found is >= ${minimum}`);
});

describe('chaosrun where users run it', { concurrency: false }, () => {
  it('npm exec and npx in the checkout', async () => {
    for (const node of NODES) {
      // npm exec puts the checkout's node_modules/.bin first on the PATH, the project's own Node 24 with
      // it: in a checkout with its dev dependencies the command runs whatever Node the user has.
      const r = await run('npm', ['exec', '--offline', '--', 'chaosrun', 'import', config, '--base-dir', work], node, repoRoot);
      assert.equal(r.code, 0, `npm exec on Node ${node.version}: ${r.stderr}`);
      assert.match(r.stdout, /^kind: ChaosRun$/m);
      const x = await run('npx', ['--offline', 'chaosrun', '--version'], node, repoRoot);
      assert.equal(x.stdout, `${pkg.version}\n`, x.stderr);
    }
  });

  it('npm install -g from the checkout', async () => {
    const prefix = join(work, 'global-checkout');
    const install = await run('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, repoRoot], NODES.find((n) => n.supported)!);
    assert.equal(install.code, 0, install.stderr);
    for (const node of NODES) {
      assertImport(await run(join(prefix, 'bin/chaosrun'), ['import', config, '--base-dir', work], node), node, 'a global install from the checkout');
      const plugin = await run(join(prefix, 'bin/kubectl-chaosrun'), ['--help'], node);
      if (node.supported) assert.match(plugin.stdout, /^Usage: kubectl chaosrun <verb>/m, plugin.stderr);
      else assert.match(plugin.stderr, /^kubectl-chaosrun: needs Node\.js \S+ or later/);
    }
  });

  // npm pack builds with tsc and the install fetches the dependencies from npm's cache: about a minute
  // on an idle machine, far more on a loaded one.
  it('npm pack, then npm install -g from the tarball (the built JavaScript, no TypeScript at run time)', { timeout: 1_800_000 }, async () => {
    const packs = join(work, 'packs');
    const supported = NODES.find((n) => n.supported)!;
    const pack = await run('npm', ['pack', '--pack-destination', work], supported, repoRoot, [join(repoRoot, 'node_modules/.bin')]);
    assert.equal(pack.code, 0, pack.stderr);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    const listing = execFileSync('tar', ['tzf', join(work, tarball)], { encoding: 'utf8' });
    assert.match(listing, /^package\/dist\/cli\.js$/m);
    assert.match(listing, /^package\/bin\/kubectl-chaosrun\.js$/m);
    assert.doesNotMatch(listing, /^package\/(src|test)\//m, 'no sources or tests in the tarball');
    // The packed README links into docs/: the reference travels with it.
    for (const doc of readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md'))) assert.match(listing, new RegExp(`^package/docs/${doc.replace('.', '\\.')}$`, 'm'));
    for (const asset of ['index.html', 'app.js', 'app.css', 'favicon.svg']) assert.match(listing, new RegExp(`^package/dist/console/ui/${asset.replace('.', '\\.')}$`, 'm'));
    const prefix = join(packs, 'global');
    const install = await run('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, join(work, tarball)], supported);
    assert.equal(install.code, 0, install.stderr);
    // The installed signal server's console reads its page and assets beside the built JavaScript.
    const assets = join(prefix, 'lib/node_modules', 'chaosrun-operator', 'dist/console/assets.js');
    const loaded = await run(supported.path, ['--input-type=module', '-e', `const { consoleRouter } = await import(${JSON.stringify(assets)}); consoleRouter('none'); console.log('console assets loaded');`], supported);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.equal(loaded.stdout, 'console assets loaded\n');
    for (const node of NODES) {
      assertImport(await run(join(prefix, 'bin/chaosrun'), ['import', config, '--base-dir', work], node), node, 'a global install of the tarball');
      if (node.supported) {
        const plugin = await run(join(prefix, 'bin/kubectl-chaosrun'), ['status', '--bogus'], node);
        assert.equal(plugin.stderr, 'kubectl chaosrun status: Unknown option \'--bogus\'. To specify a positional argument starting with a \'-\', place it at the end of the command after \'--\', as in \'-- "--bogus"\n');
      }
    }
  });
});

