// Fault 4: two replicas with leader election; the leader is SIGKILLed at random moments (and a new
// replica started in its place). The other must take over within the lease duration + 2 s, and no
// step may be driven by both: from the replicas' own logs, each Job is created by one replica, only
// while it leads (see singleDriver).
import { isFinal } from '../../src/api/types.ts';
import { paths } from '../../src/kube/paths.ts';
import { getRun, kwokStep } from '../../test/helpers/operator.ts';
import { parseReplicaLog, singleDriver, type Violation } from '../invariants.ts';
import type { FaultResult } from '../report.ts';
import {
  kill, poll, settleAndCheck, sleep, startController, track, type Child, type Tracked, type TrialContext, trialNamespace,
} from '../harness.ts';

const LEASE_MS = 3000;
const MARGIN_MS = 2000;

interface Replica { id: string; child: Child; exitedAt?: number }

export async function leaderFault(ctx: TrialContext): Promise<FaultResult> {
  const started = Date.now();
  const { lab, rng } = ctx;
  const kills = ctx.quick ? 2 : 10;
  const { ns, recorder } = await trialNamespace(lab, 'leader');
  const args = ['--leader-elect', '--lease-namespace', ns, '--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '2s', '--retry-period', '500ms'];
  const replicas: Replica[] = [];
  const spawnReplica = async () => {
    const child = await startController(lab.kubeconfig, ns, args);
    replicas.push({ id: `replica-${replicas.length}-pid${child.pid}`, child });
  };
  const alive = () => replicas.filter((r) => r.exitedAt === undefined);
  const becameLeader = (r: Replica) => parseReplicaLog(r.id, r.child.output()).leaderSince[0];
  const violations: Violation[] = [];
  const takeovers: number[] = [];
  const runs: Tracked[] = [];
  try {
    await spawnReplica();
    await spawnReplica();
    for (let k = 0; k < kills; k++) {
      const states = await Promise.all(runs.map((t) => getRun(lab.client, ns, t.name)));
      for (let n = states.filter((r) => !isFinal(r.status?.phase)).length; n < 2; n++) {
        runs.push(await track(lab, ns, `led-${runs.length}`, { iterations: 3, waitDuration: '500ms', scenarios: [kwokStep('a', 1), kwokStep('b', 1)] }));
      }
      await sleep(rng.between(500, 4000));
      const leader = await poll(async () => {
        const lease = await lab.client.request<{ spec: { holderIdentity?: string } }>('GET', paths.leases(ns, 'chaosrun-operator'));
        return alive().find((r) => lease.spec.holderIdentity?.includes(`-${r.child.pid}-`) && becameLeader(r) !== undefined);
      }, 15_000);
      if (!leader) { violations.push({ invariant: 'takeoverInTime', subject: ns, detail: 'no replica led for 15 s' }); break; }
      const killedAt = Date.now();
      await kill(leader.child);
      leader.exitedAt = Date.now();
      const [other] = alive();
      const at = await poll(() => becameLeader(other), LEASE_MS + MARGIN_MS + 10_000, 50);
      const took = (at ?? Date.now()) - killedAt;
      takeovers.push(took);
      if (at === undefined || took > LEASE_MS + MARGIN_MS) violations.push({ invariant: 'takeoverInTime', subject: other.id, detail: `took over ${took} ms after the leader was killed (bound ${LEASE_MS + MARGIN_MS} ms)` });
      await spawnReplica();
    }
    violations.push(...await settleAndCheck(lab, recorder, ns, runs, 90_000));
    violations.push(...singleDriver(replicas.map((r) => parseReplicaLog(r.id, r.child.output(), r.exitedAt))));
  } finally {
    recorder.stop();
    for (const r of replicas) await kill(r.child);
  }
  const created = replicas.map((r) => parseReplicaLog(r.id, r.child.output()).creates.length);
  return {
    fault: '4. leader loss', unit: 'leader kills', trials: takeovers.length, violations, durationMs: Date.now() - started,
    checked: ['takeoverInTime', 'singleDriver', 'oneJobPerStep', 'stepsInOrder', 'reportMatches', 'stopEnds', 'settles'],
    notes: [`${runs.length} runs, ${created.reduce((a, b) => a + b, 0)} Jobs created by ${created.filter((n) => n > 0).length} replicas; takeover ${Math.min(...takeovers)}-${Math.max(...takeovers)} ms (bound ${LEASE_MS + MARGIN_MS} ms)`],
  };
}
