// What the agent's tests (and the lasting-faults campaign) share to stand in for a node: the check that
// this machine can make network namespaces, and a pod sandbox's pause process in a /proc stand-in.
// A test that cannot run says SKIPPED and why, and registers its tests as skipped, never passed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Why network-namespace tests cannot run here (root and these tools), or undefined; prints SKIPPED when so. */
export function rootWithTools(tests: string, tools: string[], why = 'to create network namespaces'): string | undefined {
  const need = (() => {
    if (process.getuid?.() !== 0) return `needs root ${why}`;
    for (const tool of tools) {
      try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (not found)`; }
    }
    return undefined;
  })();
  if (need) console.log(`SKIPPED ${tests}: ${need}`);
  return need;
}

/**
 * The pause process of a pod's sandbox under a /proc stand-in: its cmdline, a cgroup line naming the
 * pod's uid (cgroupfs spelling unless another line is given), and ns/net linking to a real network
 * namespace, which is all src/agent/sandboxes.ts reads.
 */
export function addPauseProcess(proc: string, pid: number, podUid: string, netns: string, cgroup = `12:freezer:/kubepods/besteffort/pod${podUid}/c0ffee`): void {
  const dir = join(proc, String(pid));
  mkdirSync(join(dir, 'ns'), { recursive: true });
  writeFileSync(join(dir, 'cmdline'), '/pause\0');
  writeFileSync(join(dir, 'cgroup'), `${cgroup}\n`);
  symlinkSync(netns, join(dir, 'ns/net'));
}

/** `chaosrun agent` from the sources as a process of its own, its output handed to `onOutput` (`env` on top of this process's). */
export function spawnAgent(args: string[], kubeconfig: string, onOutput: (text: string) => void, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../src/cli.ts'), 'agent', '--metrics-port', '0', ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => onOutput(d.toString()));
  child.stderr!.on('data', (d: Buffer) => onOutput(d.toString()));
  return child;
}

/** Sends `signal` and waits for the exit; at once for a process that has already ended. */
export function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
