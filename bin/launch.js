// Starts an entry point of the installed CLI (`chaosrun`, `kubectl-chaosrun`) on whatever `node` the
// user has. It checks the Node version before loading anything of ours, so an unsupported Node gets one
// line naming the version it needs instead of a stack trace from deep in a dependency; keep this file
// plain JavaScript any Node since 12 can parse. Then it runs the TypeScript sources where this Node can
// (a checkout: always what you edited), else the JavaScript `npm pack` builds into dist/ (Node does not
// strip types under node_modules, where global and tarball installs put the package).
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);

/** "22.19.0" >= "22.19.0"; the engines range is a single lower bound, `>=X.Y.Z`. */
export function atLeast(version, minimum) {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0);
  return true;
}

export async function launch(program, entry) {
  const engines = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).engines.node;
  const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(engines);
  if (!minimum) throw new Error(`package.json engines.node must read >=X.Y.Z, not ${engines}`);
  if (!atLeast(process.versions.node, minimum[1])) {
    process.stderr.write(`${program}: needs Node.js ${minimum[1]} or later (the maintained LTS lines); this is Node.js ${process.versions.node} (${process.execPath})\n`);
    process.exit(1);
  }
  const source = new URL(`src/${entry}.ts`, root);
  const built = new URL(`dist/${entry}.js`, root);
  const inNodeModules = realpathSync(fileURLToPath(root)).split(/[\\/]/).includes('node_modules');
  const fromSource = Boolean(process.features && process.features.typescript) && !inNodeModules && existsSync(source);
  if (!fromSource && !existsSync(built)) {
    process.stderr.write(`${program}: ${fileURLToPath(built)} is missing; build it with npm run build in ${fileURLToPath(root)}\n`);
    process.exit(1);
  }
  await import(fromSource ? source.href : built.href);
}
