// What the agent's tests (and the lasting-faults campaign) share to stand in for a node: the check that
// this machine can make network namespaces, a pod sandbox's pause process in a /proc stand-in, the agent
// as a process, and the runs and holder pods it reads.
// A test that cannot run says SKIPPED and why, and registers its tests as skipped, never passed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATION_DURATION, ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, LABEL_FAULT, type FaultSpec, type FaultTargetRef } from '../../src/api/fault-holder.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';

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

/** A run the agent reads only the signal of: one step, its body never run (no controller here). */
export async function createBareRun(client: KubeClient, namespace: string, name: string, signalState: 'RUN' | 'PAUSE', step = 'cut'): Promise<void> {
  await client.request('POST', paths.chaosRuns(namespace), { body: {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name },
    spec: { signalState, scenarios: [{ name: step, job: { image: 'busybox' } }] },
  } });
}

/**
 * A lasting step's holder as the agent sees it once it has picked its targets: a pod on the kwok node
 * (kwok reports it Running) with the fault's label, spec and targets. Resolves to its uid once Running.
 */
export async function createHolder(client: KubeClient, namespace: string, holder: { name: string; run: string; step?: string; spec: FaultSpec; targets: FaultTargetRef[]; duration?: string }): Promise<string> {
  const pod = await client.request<{ metadata: { uid: string } }>('POST', paths.pods(namespace), { body: {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: holder.name, labels: { [LABEL_FAULT]: holder.spec.kind, 'chaosrun.dev/run': holder.run, 'chaosrun.dev/step': holder.step ?? 'cut' },
      annotations: {
        [ANNOTATION_FAULT]: JSON.stringify(holder.spec), [ANNOTATION_FAULT_TARGETS]: JSON.stringify(holder.targets),
        ...(holder.duration ? { [ANNOTATION_DURATION]: holder.duration } : {}),
      },
    },
    spec: {
      nodeName: 'kwok-node-0', containers: [{ name: 'holder', image: 'busybox' }],
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
    },
  } });
  // Not env.ts's eventually: the fault campaign imports this file, and env.ts brings the plane's set-up with it.
  for (const deadline = Date.now() + 30_000; ;) {
    const { status } = await client.request<{ status?: { phase?: string } }>('GET', paths.pods(namespace, holder.name));
    if (status?.phase === 'Running') return pod.metadata.uid;
    if (Date.now() > deadline) throw new Error(`holder ${holder.name} not Running (kwok) within 30 s (phase ${status?.phase ?? 'none'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
