// The project's build cache: where it lives and how an entry is trusted.
//
// Everything the project builds once and reuses (control-plane and node binaries, root filesystems,
// base images, the operator's image) lives under one directory, CHAOSRUN_CACHE, or
// $XDG_CACHE_HOME/chaosrun-operator, or ~/.cache/chaosrun-operator. CI points CHAOSRUN_CACHE at an
// empty directory so a developer's warm cache can never hide a missing step again.
//
// An entry is written under a temporary name, checked, and only then renamed into place; an entry
// found in the cache is checked again before it is used, and one that fails is removed and rebuilt
// (a half-written tar from a killed build, a directory where a tar belongs). The shell scripts that
// build the Go binaries (test/controlplane/build*.sh) follow the same rule with `--version`.
// A leaf module: it imports nothing of ours.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(): string {
  return process.env.CHAOSRUN_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'chaosrun-operator');
}

/** Why a cache entry cannot be used, or undefined when it can. */
export type Validator = (path: string) => string | undefined;

/** A regular file that tar reads to its end. */
export const isTarArchive: Validator = (path) => {
  let st;
  try { st = statSync(path); } catch { return 'missing'; }
  if (!st.isFile()) return 'not a regular file';
  if (st.size === 0) return 'empty';
  const r = spawnSync('tar', ['-tf', path], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  return r.status === 0 ? undefined : `not a readable tar (${r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`})`;
};

/**
 * The cached artefact at `path`: used when `valid` accepts it, otherwise removed and made again by
 * `build` (which writes it atomically), then checked once more: a build that leaves a bad entry is a
 * failure here, not at its first use.
 */
export function cachedArtefact(path: string, valid: Validator, log: (m: string) => void, build: () => void): string {
  if (existsSync(path)) {
    const why = valid(path);
    if (why === undefined) return path;
    log(`cache: ${path} is unusable (${why}); rebuilding it`);
    rmSync(path, { recursive: true, force: true });
  }
  build();
  const why = valid(path);
  if (why !== undefined) throw new Error(`the build of ${path} left an unusable entry (${why})`);
  return path;
}
