// The pod sandboxes on this node, read from /proc: for each pod uid, the network namespace of its
// pause process. The agent runs with the host's PID namespace, so /proc shows every process of the
// node; a pod's processes sit in a cgroup whose path names the pod's uid (`pod<uid>` with the cgroupfs
// driver, `pod<uid with underscores>.slice` with systemd's), and the sandbox's own process is the one
// running `pause`. Entering that process's namespace (not a container's) is what makes a revert work
// while the target container crash-loops or restarts: the sandbox lives as long as the pod.
// Read fresh on every pass: a restarted agent needs nothing remembered.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const POD_IN_CGROUP = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** pod uid -> /proc/<pause pid>/ns/net, for every sandbox found under `proc`. */
export function findSandboxes(proc = '/proc'): Map<string, string> {
  const found = new Map<string, string>();
  let pids: string[];
  try { pids = readdirSync(proc).filter((p) => /^\d+$/.test(p)); } catch { return found; }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(join(proc, pid, 'cmdline'), 'latin1').split('\0')[0];
      if (!/(^|\/)pause$/.test(cmdline)) continue;
      const m = POD_IN_CGROUP.exec(readFileSync(join(proc, pid, 'cgroup'), 'utf8'));
      if (!m) continue;
      found.set(m[1].replaceAll('_', '-'), join(proc, pid, 'ns/net'));
    } catch { /* the process ended while we looked */ }
  }
  return found;
}

/** Every sandbox network namespace on the node: where a restarted agent looks for what it left. */
export function sandboxNamespaces(sandboxes: Map<string, string>): string[] {
  return [...new Set(sandboxes.values())].sort();
}
