// What a real node that was SIGKILLed leaves on the host, made by hand, for the runner's last check:
// `removeHostState` (what `cluster up --real-node` runs first) must clear all of it. Run only when no
// real node is up (after the test plane's teardown), since it creates and removes the node's names.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BRIDGE, NODE_IP, hostLeftovers, hostPaths, removeHostState, snapshotHost, writeOwner } from '../../src/realnode/host.ts';

export async function staleNodeIsCleared(): Promise<{ made: string[]; left: Record<string, unknown> }> {
  snapshotHost();
  // A record whose processes are gone (a dead pid), the bridge with its address, the route, a chain
  // with its jump, a CNI network namespace, a kubelet volume mount and the node's directories.
  writeOwner({ clusterDir: '/nonexistent/killed-plane', pids: { kubelet: 2 ** 22 + 1 } });
  execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
  execFileSync('ip', ['route', 'add', 'blackhole', '198.18.0.0/15']);
  execFileSync('iptables', ['-w', '-N', 'CHAOSRUN-FORWARD']);
  execFileSync('iptables', ['-w', '-I', 'FORWARD', '1', '-j', 'CHAOSRUN-FORWARD']);
  execFileSync('iptables', ['-w', '-t', 'nat', '-N', 'KUBE-SERVICES']);
  execFileSync('iptables', ['-w', '-t', 'nat', '-I', 'OUTPUT', '1', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
  execFileSync('ip', ['netns', 'add', 'cni-00000000-dead-beef-0000-000000000000']);
  const volume = join(hostPaths.lib, 'kubelet/pods/0000/volumes/kubernetes.io~projected/token');
  mkdirSync(volume, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', volume]);
  mkdirSync(hostPaths.podLogs, { recursive: true });
  writeFileSync(join(hostPaths.podLogs, 'stale.log'), 'x');
  const made = ['owner record', 'bridge', 'route', 'FORWARD chain + jump', 'nat chain + jump', 'network namespace', 'tmpfs mount', 'directories'];
  const before = hostLeftovers();
  if (!before.bridge || !before.mounts.length || !before.chains.length || !before.netns.length) {
    throw new Error(`the stale state was not made as intended: ${JSON.stringify(before)}`);
  }
  await removeHostState();
  const left = Object.fromEntries(Object.entries(hostLeftovers()).filter(([, v]) => (Array.isArray(v) ? v.length > 0 : v)));
  return { made, left };
}
