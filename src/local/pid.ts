// A leaf helper shared by the local plane, its real node and the test runner's plane lock.

/** The process exists: signal 0 reaches it, or it exists but belongs to someone else (EPERM). */
export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}
