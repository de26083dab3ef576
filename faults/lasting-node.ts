// A node of the lasting-fault trial's own: a Node object, tainted so that no other pod lands on it, run
// by a kwok process of its own with faults/lasting-stages.yaml. The plane's kwok completes a Job's pod
// as soon as it is Running (src/local/kwok-stages.yaml), which would end a lasting step at once; on this
// node a holder pod stays Running until the trial, playing the holder, ends it at its duration. The
// controller places step pods here with --step-node-selector and --step-tolerations (the same options
// a real installation uses); the targets are pods here too. stop() ends that kwok (by its pid) and
// deletes the node.
//
// The trial's node steps (nodeCordon, nodeDrain) get target nodes of their own too (makeCordonNodes):
// Node objects with no kubelet and no kwok (a cordon is API state: spec.unschedulable and the
// cordoner's marks, so a Node object is a fair target), tainted like the node above so that no pod
// lands there, and labelled so that a step's labelSelector picks only them, never the plane's nodes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildBinaries, freePort } from '../src/local/controlplane.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { poll } from './harness.ts';

export const HOLDER_EXIT_ANNOTATION = 'chaosrun.dev/faults-holder-exit';
/** The holder failed (a node holder that found no node to pick exits 1 with this line). */
export const HOLDER_FAIL_ANNOTATION = 'chaosrun.dev/faults-holder-fail';
export const TAINT_KEY = 'chaosrun.dev/faults-lasting';

export interface LastingNode {
  name: string;
  /** The controller's placement options for this node. */
  controllerArgs: string[];
  /** What a pod needs to run here (nodeName and the toleration). */
  placement: { nodeName: string; tolerations: Array<{ key: string; operator: string; value: string; effect: string }> };
  output(): string;
  stop(): Promise<void>;
}

export const CORDON_TARGET_LABEL = 'chaosrun.dev/faults-cordon-target';

export interface CordonNodes {
  names: string[];
  /** The labelSelector that picks exactly these nodes. */
  labelSelector: string;
  /** Deletes them (whatever state they are in). */
  remove(): Promise<void>;
}

/** `count` Node objects of the trial's own for its node steps (see the header). */
export async function makeCordonNodes(client: KubeClient, count: number): Promise<CordonNodes> {
  const tag = randomBytes(3).toString('hex');
  const names = Array.from({ length: count }, (_, i) => `cordon-${tag}-${i}`);
  const remove = async () => { for (const n of names) await client.request('DELETE', `/api/v1/nodes/${n}`).catch(() => {}); };
  try {
    for (const name of names) {
      await client.request('POST', '/api/v1/nodes', { body: {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/hostname': name, type: 'kwok', [CORDON_TARGET_LABEL]: tag } },
        spec: { taints: [{ key: TAINT_KEY, value: name, effect: 'NoSchedule' }] },
      } });
    }
  } catch (err) { await remove(); throw err; }
  return { names, labelSelector: `${CORDON_TARGET_LABEL}=${tag}`, remove };
}

export async function startLastingNode(client: KubeClient, kubeconfig: string, binDir: string | undefined): Promise<LastingNode> {
  const name = `lasting-${randomBytes(3).toString('hex')}`;
  const bin = binDir ?? buildBinaries();
  await client.request('POST', '/api/v1/nodes', { body: {
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    spec: { taints: [{ key: TAINT_KEY, value: name, effect: 'NoSchedule' }] },
    status: { allocatable: { cpu: '64', memory: '256Gi', pods: '1000' }, capacity: { cpu: '64', memory: '256Gi', pods: '1000' } },
  } });
  const port = await freePort();
  let out = '';
  const child: ChildProcess = spawn(join(bin, 'kwok'), [
    `--kubeconfig=${kubeconfig}`, `--config=${join(import.meta.dirname, 'lasting-stages.yaml')}`, `--manage-single-node=${name}`,
    `--server-address=127.0.0.1:${port}`, '--cidr=198.18.236.1/24', '--node-ip=198.18.236.1', '--node-lease-duration-seconds=40',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
  child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) await new Promise<void>((r) => { child.once('exit', () => r()); child.kill('SIGTERM'); });
    await client.request('DELETE', `/api/v1/nodes/${name}`).catch(() => {});
  };
  const ready = await poll(async () => {
    if (child.exitCode !== null) return 'exited';
    const node = await client.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/api/v1/nodes/${name}`);
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'ready' : undefined;
  }, 60_000, 200);
  if (ready !== 'ready') {
    await stop();
    throw new Error(`the lasting-fault node's kwok ${ready === 'exited' ? 'exited' : 'did not make it Ready in 60 s'}:\n${out.slice(-2000)}`);
  }
  return {
    name,
    controllerArgs: ['--step-node-selector', `kubernetes.io/hostname=${name}`, '--step-tolerations', `${TAINT_KEY}=${name}:NoSchedule`],
    placement: { nodeName: name, tolerations: [{ key: TAINT_KEY, operator: 'Equal', value: name, effect: 'NoSchedule' }] },
    output: () => out,
    stop,
  };
}
