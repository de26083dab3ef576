// The second half of `npm run build`: tsc emits dist/**/*.js from src/, and this copies the files the
// JavaScript reads beside itself at run time and tsc does not emit (the console's page and assets, the
// kwok stages), so dist/ runs on its own: in the operator's image and in a packed or global install.
// Every non-TypeScript file under src/ is copied, so a new asset cannot be forgotten here.
import { cpSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

/** Type-checking configs are for tsc, not run time. */
const isAsset = (file: string) => !file.endsWith('.ts') && !/^tsconfig.*\.json$/.test(file);

let copied = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !isAsset(entry.name)) continue;
  const from = join(entry.parentPath, entry.name);
  cpSync(from, join(dist, relative(src, from)));
  copied++;
}
console.log(`build: ${copied} asset files copied from src/ to dist/`);
