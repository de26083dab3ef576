// A lock on part of the shared test plane, across the runner's concurrent test processes. A chart
// installed cluster-wide brings a ValidatingAdmissionPolicy bound to every namespace; while it is
// there, another file's policy is not the only one refusing, and which one the API server names is
// not fixed. Files that install a cluster-wide policy hold this lock while it exists.
// The lock is a directory (mkdir is atomic) holding its owner's pid; a dead owner's lock is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../../src/local/pid.ts';


/** Waits until this process holds `name` in `dir` (the plane's directory); returns the release. */
export async function lockPlane(dir: string, name: string, timeoutMs = 600_000): Promise<() => void> {
  const path = join(dir, `lock-${name}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      return () => rmSync(path, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try { owner = Number(readFileSync(join(path, 'pid'), 'utf8')); } catch { /* being written or removed */ }
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) rmSync(path, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`the test plane's ${name} lock is still held by pid ${owner} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
