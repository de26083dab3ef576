// A real browser for the console's tests: Debian's chromium, driven by playwright-core over CDP. No
// browser is ever downloaded: when /usr/bin/chromium is missing, this installs Debian's package with
// apt-get (as CI and a fresh machine need), printing its progress; when that fails, the test fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { repoRoot } from './env.ts';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

let installing: Promise<void> | undefined;
/** Installs Debian's chromium package when it is not there yet (once per process). */
export function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return Promise.resolve();
  installing ??= (async () => {
    console.error(`[browser] ${CHROMIUM} not found: installing Debian's chromium package (apt-get update, apt-get install -y chromium)…`);
    const started = Date.now();
    try {
      // The real node's set-up may be installing its own packages at the same moment: wait for dpkg's lock.
      const wait = ['-o', 'DPkg::Lock::Timeout=600'];
      await run('apt-get', [...wait, 'update']);
      await run('apt-get', [...wait, 'install', '-y', '--no-install-recommends', 'chromium']);
    } catch (err) {
      throw new Error(`could not install Debian's chromium package (needs root and apt access): ${(err as Error).message}`);
    }
    if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is missing`);
    console.error(`[browser] chromium installed in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  })();
  return installing;
}

export interface Browser { context: BrowserContext; close(): Promise<void> }

/** Headless chromium with a fresh profile; every tab of it is a separate sessionStorage. */
export async function launchBrowser(): Promise<Browser> {
  await ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'chaosrun-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 860 }, colorScheme: 'light',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Where screenshots go: docs/console/ (the README's) with CHAOSRUN_UPDATE_SCREENSHOTS=1, otherwise
 * .console-screenshots/ beside it (ignored by git), so a test run does not dirty the work tree.
 */
export function screenshotDir(): string {
  const dir = join(repoRoot, process.env.CHAOSRUN_UPDATE_SCREENSHOTS ? 'docs/console' : '.console-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
