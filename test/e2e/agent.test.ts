// The node agent as users run it: its image (the Dockerfile's `agent` target) in the chart's DaemonSet,
// installed by `helm install` on the real node, holding a `network` step's partition in a real pod's
// sandbox while the installed operator runs the step. Requests are made from the host inside the
// client pod's network namespace (nsenter + curl, a new connection each), so every figure is measured
// where the packets really go. Proven, with the figures printed:
//   - the partition cuts the target from the client in both directions, and only from the client;
//   - PAUSE heals within 1 s, RUN cuts again;
//   - a target container that crashes mid-partition comes back still cut (the fault lives in the
//     sandbox), and PAUSE still heals at once;
//   - the agent SIGKILLed (and kept down): the kernel ends the fault within its lease + 1 s, and the
//     container the DaemonSet restarts applies it again while it is still wanted;
//   - the holder pod deleted: healed within 1 s;
//   - each of NET_ADMIN, SYS_ADMIN, SYS_PTRACE and KILL is needed (the image without one cannot do its job);
//   - helm uninstall removes the agent, and no chaosrun_* table is left in any network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chaosRun, e2eEnv, eventually, getRun, hostPids, installOperator, pidAlive, placement, type Pod, type Release } from './e2e.ts';
import {
  allFail, chaosrunTablesOnNode, cutAfter, everyNetns, getPod as getPodIn, healedAfter, request, runningHolder, sandboxOf, startWorkload,
  tableAfter, type Workload,
} from './node-net.ts';
import type { TestEnv } from '../helpers/env.ts';
import { listFound } from '../../src/agent/nft.ts';
import { DEFAULT_LEASE_SECONDS } from '../../src/api/fault-holder.ts';

// At the top level: the helpers register after() hooks that run at the file's end.
const env: TestEnv = await e2eEnv('e2e-agent');
const release: Release = installOperator(env);
const ns = await env.createNamespace('e2e-fault');
const apply = (obj: unknown) => env.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const LEASE = DEFAULT_LEASE_SECONDS;
const marker = `chaosrun-e2e-target-${ns}`;
const AGENT_PROCESS = 'dist/cli.js agent';

const capabilityNames: Record<number, string> = { 5: 'KILL', 12: 'NET_ADMIN', 19: 'SYS_PTRACE', 21: 'SYS_ADMIN' };
function processStatus(pid: number): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}
function capabilities(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) if (mask & (1n << BigInt(bit))) names.push(capabilityNames[bit] ?? `cap${bit}`);
  return names.sort();
}

const agentPid = (): number => {
  const pids = hostPids(AGENT_PROCESS);
  assert.equal(pids.length, 1, `one agent process on the node: ${pids}`);
  return pids[0];
};
const agentPod = (): Pod => {
  const pods = release.agentPods();
  assert.equal(pods.length, 1, 'one agent pod (the real node only)');
  return pods[0];
};
const signal = (s: 'RUN' | 'PAUSE') => env.kubectl(['patch', 'chaosrun', '-n', ns, 'cut', '--type', 'merge', '-p', JSON.stringify({ spec: { signalState: s } })]);

// --- the workload --------------------------------------------------------------------------------------

let w: Workload;
let holder: Pod;
const figures: Record<string, string> = {};
const getPod = (name: string): Pod => getPodIn(env, ns, name);

test('the agent runs on the real node as the chart says: the host PID namespace, root with exactly NET_ADMIN, SYS_ADMIN, SYS_PTRACE and KILL, seccomp on, Ready', async () => {
  assert.deepEqual(chaosrunTablesOnNode(), [], 'no chaosrun table on the node before the test');
  // helm's --wait lets a DaemonSet through with maxUnavailable (1) pods not Ready: wait for the probe.
  const pod = await eventually('the agent pod Ready by its readiness probe (/readyz: its watches synced)',
    () => { const p = agentPod(); return p.status.containerStatuses?.every((c) => c.ready) ? p : undefined; }, 60_000, 250);
  assert.equal(pod.spec.nodeName, env.state.realNode!.name);
  // The process as the node's kernel sees it (the pod shares the host's PID namespace: same pid here).
  const status = processStatus(agentPid());
  assert.match(status.Uid, /^0\s+0\s+0\s+0$/, 'root');
  assert.deepEqual(capabilities(status.CapEff), ['KILL', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'], 'effective capabilities');
  assert.deepEqual(capabilities(status.CapBnd), ['KILL', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'], 'bounding set: nothing more can be gained');
  assert.equal(status.Seccomp, '2', 'a seccomp filter (RuntimeDefault) is in force, and setns works under it');
  figures['agent RSS'] = status.VmRSS;
  console.log(`agent process: uid 0, CapEff ${status.CapEff} (${capabilities(status.CapEff).join(', ')}), Seccomp ${status.Seccomp}, VmRSS ${status.VmRSS}`);
});

test('a network step partitions the target from the client in both directions, and only from it; PAUSE heals within 1 s, RUN cuts again', async () => {
  w = await startWorkload(env, ns, `/tmp/${marker}`);
  const { target, client } = w;

  // The real network kind: the installed operator runs its holder; the agent on the node holds the fault.
  apply(chaosRun(ns, 'cut', {
    scenarios: [{
      name: 'cut', duration: '10m',
      network: { namespace: ns, labelSelector: 'app=target', count: 1, direction: 'both', partition: {}, leaseSeconds: LEASE, to: [{ cidr: `${client.status.podIP}/32` }] },
    }],
  }));
  holder = await runningHolder(env, ns, 'cut');
  const recorded = JSON.parse((holder as Pod & { metadata: { annotations: Record<string, string> } }).metadata.annotations['chaosrun.dev/fault-targets']);
  assert.deepEqual(recorded, [{ namespace: ns, name: 'target', uid: target.metadata.uid, node: env.state.realNode!.name }]);
  const seen = Date.now();
  const table = await eventually('the fault\'s table in the target\'s sandbox, its lease live', async () =>
    (await listFound(w.targetNetns)).find((f) => f.id === holder.metadata.uid && (f.leaseExpiresInMs ?? 0) > 0), 30_000, 50);
  console.log(`holder Running with its targets -> table in force: ${Date.now() - seen} ms (lease ${LEASE} s, ${table.leaseExpiresInMs} ms left)`);

  assert.ok(await allFail(w.clientNetns, w.toTarget), 'client -> target fails (ingress)');
  assert.ok(await allFail(w.targetNetns, w.toClient), 'target -> client fails (egress)');
  assert.ok(await request(undefined, w.toTarget), 'the host still reaches the target: only the client is cut');
  assert.deepEqual(await listFound(w.clientNetns), [], 'nothing in the client\'s own namespace');

  const paused = Date.now();
  signal('PAUSE');
  const healMs = await healedAfter(w.clientNetns, w.toTarget, paused, 1000);
  figures['PAUSE -> requests pass'] = `${healMs} ms`;
  console.log(`PAUSE -> client -> target passes: ${healMs} ms`);
  assert.ok(healMs < 1000, `healed within 1 s of PAUSE (${healMs} ms)`);
  assert.ok(await request(w.targetNetns, w.toClient), 'target -> client passes too');
  assert.equal((await listFound(w.targetNetns)).length, 0, 'the table is gone');

  const resumed = Date.now();
  signal('RUN');
  const appliedMs = await tableAfter(w.targetNetns, holder.metadata.uid, resumed);
  figures['RUN -> table in force'] = `${appliedMs} ms`;
  console.log(`RUN -> the table in force again: ${appliedMs} ms`);
  await cutAfter(w.clientNetns, w.toTarget, resumed);
  assert.ok(await allFail(w.targetNetns, w.toClient), 'both directions again');
});

test('a target container that crashes mid-partition comes back still cut (the fault lives in its sandbox), and PAUSE still heals within 1 s', async () => {
  const [httpd] = hostPids(marker);
  assert.ok(httpd, 'the target\'s httpd is a host process');
  process.kill(httpd, 'SIGKILL');
  await eventually('the target container restarted', () => {
    const restarts = getPod('target').status.containerStatuses?.[0]?.restartCount ?? 0;
    const now = hostPids(marker);
    return restarts >= 1 && now.length === 1 && now[0] !== httpd && !pidAlive(httpd);
  }, 60_000, 200);
  assert.equal(sandboxOf(w.target.metadata.uid), w.targetNetns, 'the same sandbox');
  await eventually('the restarted httpd serving (from the host)', () => request(undefined, w.toTarget), 30_000, 200);
  assert.ok(await allFail(w.clientNetns, w.toTarget), 'client -> target still fails');
  assert.ok(await allFail(w.targetNetns, w.toClient), 'target -> client still fails');

  const paused = Date.now();
  signal('PAUSE');
  const healMs = await healedAfter(w.clientNetns, w.toTarget, paused, 1000);
  figures['PAUSE after a target crash -> requests pass'] = `${healMs} ms`;
  console.log(`after the target's crash, PAUSE -> client -> target passes: ${healMs} ms`);
  assert.ok(healMs < 1000, `healed within 1 s of PAUSE (${healMs} ms)`);
  signal('RUN');
  await cutAfter(w.clientNetns, w.toTarget, Date.now());
});

test('the agent SIGKILLed and kept down: the kernel ends the fault within its lease + 1 s; let back up, the restarted container applies it again while it is still wanted', async () => {
  const pid = agentPid();
  const restartsBefore = agentPod().status.containerStatuses?.[0]?.restartCount ?? 0;
  assert.ok(await allFail(w.clientNetns, w.toTarget), 'cut before the kill');
  // The kubelet restarts the container at once, and a new agent that renews within the lease leaves no
  // gap (seen here: a restart 2.6-3.3 s after the kill). To see what the kernel does alone, every
  // agent process that comes up is SIGKILLed too, until the fault has ended: an agent that stays dead.
  process.kill(pid, 'SIGKILL');
  const killed = Date.now();
  const alsoKilled: number[] = [];
  let keepDown = true;
  const keeper = (async () => {
    while (keepDown) {
      for (const p of hostPids(AGENT_PROCESS)) {
        try { process.kill(p, 'SIGKILL'); alsoKilled.push(p); } catch { /* gone already */ }
      }
      await sleep(25);
    }
  })();
  let healMs: number;
  try {
    healMs = await healedAfter(w.clientNetns, w.toTarget, killed, LEASE * 1000 + 1000);
    // No process of ours ended it: the table is still there, its lease run out.
    const left = (await listFound(w.targetNetns)).find((f) => f.id === holder.metadata.uid);
    assert.equal(left?.leaseExpiresInMs, 0, `the table left in place, its lease expired: ${JSON.stringify(left)}`);
  } finally {
    keepDown = false;
    await keeper;
  }
  figures['agent SIGKILL -> requests pass'] = `${healMs} ms (lease ${LEASE} s)`;
  console.log(`agent SIGKILLed (and ${alsoKilled.length} restart(s) killed too) -> client -> target passes: ${healMs} ms (lease ${LEASE} s)`);
  assert.ok(healMs <= LEASE * 1000 + 1000, `healed within the lease + 1 s (${healMs} ms)`);

  // Let back up (after the kubelet's crash-loop back-off), the agent renews what is still wanted.
  const released = Date.now();
  const reappliedMs = await tableAfter(w.targetNetns, holder.metadata.uid, released, 120_000);
  figures['agent let back up -> lease renewed'] = `${reappliedMs} ms (the kubelet's back-off included)`;
  console.log(`agent let back up -> the restarted container renews the lease: ${reappliedMs} ms (the kubelet's back-off included)`);
  await cutAfter(w.clientNetns, w.toTarget, Date.now(), 10_000);
  const pod = await eventually('the agent container restarted and Ready', () => {
    const p = agentPod();
    const c = p.status.containerStatuses?.[0];
    return c && c.restartCount > restartsBefore && c.ready ? p : undefined;
  }, 60_000, 250);
  assert.notEqual(agentPid(), pid);
  assert.equal(pod.spec.nodeName, env.state.realNode!.name);
  assert.ok(await allFail(w.targetNetns, w.toClient), 'both directions again');
});

test('the holder pod deleted: the fault is reverted within 1 s, and not applied again', async () => {
  assert.ok(await allFail(w.clientNetns, w.toTarget), 'cut before the delete');
  const deleted = Date.now();
  env.kubectl(['delete', 'pod', '-n', ns, holder.metadata.name, '--wait=false']);
  const healMs = await healedAfter(w.clientNetns, w.toTarget, deleted, 1000);
  figures['holder deleted -> requests pass'] = `${healMs} ms`;
  console.log(`holder pod deleted -> client -> target passes: ${healMs} ms`);
  assert.ok(healMs < 1000, `healed within 1 s of the delete (${healMs} ms)`);
  await eventually('the table removed', async () => (await listFound(w.targetNetns)).length === 0, 5_000, 50);
  // The step ended with its holder: no new holder, the fault stays off.
  await eventually('the run to end its step', () => (getRun(env, ns, 'cut').status?.history?.length ?? 0) >= 1, 60_000, 250);
  await sleep(2 * LEASE * 1000 / 3);
  assert.ok(await request(w.clientNetns, w.toTarget), 'client -> target still passes');
  assert.ok(await request(w.targetNetns, w.toClient), 'target -> client passes');
  assert.deepEqual(chaosrunTablesOnNode(), [], 'no chaosrun table anywhere on the node');
});

test('each of the four capabilities is needed: the agent\'s image without one of them cannot reach a sandbox\'s nftables or signal another user\'s process (RuntimeDefault seccomp throughout)', async () => {
  // The target's pause process (user 65535), as the agent finds it.
  const pause = /^\/proc\/(\d+)\/ns\/net$/.exec(w.targetNetns)![1];
  const image = env.state.realNode!.agentImage;
  // The nft check, then a signal 0 to the pause process (another user's, as a containerKill's target is).
  const script = `nsenter --net=/proc/${pause}/ns/net nft add table inet chaosrun_capcheck && nsenter --net=/proc/${pause}/ns/net nft delete table inet chaosrun_capcheck && echo OK; kill -0 ${pause} 2>&1 && echo SIGNAL-OK`;
  const sets: Record<string, string[]> = {
    all: ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE', 'KILL'], 'no-net-admin': ['SYS_ADMIN', 'SYS_PTRACE', 'KILL'],
    'no-sys-admin': ['NET_ADMIN', 'SYS_PTRACE', 'KILL'], 'no-sys-ptrace': ['NET_ADMIN', 'SYS_ADMIN', 'KILL'], 'no-kill': ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'],
  };
  for (const [name, add] of Object.entries(sets)) {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `caps-${name}`, namespace: ns },
      spec: {
        ...placement, hostPID: true, restartPolicy: 'Never',
        securityContext: { runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{ name: 'c', image, imagePullPolicy: 'Never', command: ['sh', '-c', script],
          securityContext: { readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add } } }],
      },
    });
  }
  const said: Record<string, string> = {};
  for (const name of Object.keys(sets)) {
    await eventually(`caps-${name} to finish`, () => ['Succeeded', 'Failed'].includes(getPod(`caps-${name}`).status.phase), 60_000, 250);
    said[name] = env.kubectl(['logs', '-n', ns, `caps-${name}`]).trim();
  }
  console.log(`capabilities: ${JSON.stringify(said)}`);
  assert.equal(said.all, 'OK\nSIGNAL-OK');
  assert.match(said['no-kill'], /^OK\n.*(Operation not permitted|not permitted)/s, 'a signal to another user\'s process (containerKill) needs KILL');
  assert.doesNotMatch(said['no-kill'], /SIGNAL-OK/);
  assert.match(said['no-sys-ptrace'], /cannot open \/proc\/\d+\/ns\/net: Permission denied/, 'another user\'s ns link needs SYS_PTRACE');
  assert.match(said['no-sys-admin'], /reassociate to namespace 'ns\/net' failed: Operation not permitted/, 'setns needs SYS_ADMIN');
  assert.match(said['no-net-admin'], /Operation not permitted/, 'nft needs NET_ADMIN');
  assert.doesNotMatch(said['no-net-admin'], /reassociate|cannot open/, 'it got into the namespace: only nft was refused');
});

test('helm uninstall removes the agent with the release; no chaosrun table is left in any network namespace of the node', async () => {
  release.uninstall();
  await eventually('the agent pod and process gone', () => release.agentPods().length === 0 && hostPids(AGENT_PROCESS).length === 0, 60_000, 500);
  assert.equal(env.kubectl(['get', 'daemonset,serviceaccount', '-n', release.namespace, '-l', `app.kubernetes.io/instance=${release.name}`, '-o', 'name']).trim(), '');
  assert.equal(env.kubectl(['get', 'clusterrole,clusterrolebinding', '-l', `app.kubernetes.io/instance=${release.name}`, '-o', 'name']).trim(), '');
  const tables = chaosrunTablesOnNode();
  assert.deepEqual(tables, [], `no chaosrun table in any of the ${everyNetns().length} network namespaces`);
  console.log(`no chaosrun table in any of the node's ${everyNetns().length} network namespaces; figures: ${JSON.stringify(figures)}`);
});
