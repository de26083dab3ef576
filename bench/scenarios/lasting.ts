// 10. Lasting faults: the node agent (`chaosrun agent`, the built JavaScript, as a process) against this
// plane, holding real nftables tables in real network namespaces. The targets' sandboxes are network
// namespaces (made as `ip netns add` makes them), found by the agent through a stand-in /proc
// (faults/agent-lab.ts, as test/agent/agent-shell.test.ts does); holder pods (src/api/fault-holder.ts)
// are made by the bench on kwok-node-0, which reports them Running, and their runs are daemon runs the
// controller keeps Running. Every time is read from `nft monitor` in the target namespaces (the moment the table's
// transaction is reported), never from the agent's own logs. Measured:
// - step start → fault in force: the holder is Running and writes its targets on itself (as the real
//   holder does); from that PATCH's answer to the chaosrun_<uid> table in the target namespace (its
//   lease elements come in the same transaction; checked live afterwards);
// - PAUSE, RUN and STOP (kubectl's merge patch of spec.signalState) answered → table gone / back / gone;
// - agent SIGKILL → the lease expires by itself (no live element left in its set, polled every 25 ms),
//   the last renewal → that expiry (the kernel's own timing), and the restarted agent → renewed;
// - the kill switch: one broadcast POST /STOP over `killSwitchRuns` runs with a lasting fault each
//   (one holder per run, over SANDBOXES target namespaces) → every table gone.
// The floor beside each figure is what one reaction cannot beat: one watch delivery (a PATCH's answer
// to the bench's own plain watch seeing it) plus one `nsenter --net=… nft -f` of the same script
// (p50 with p50, p99 with p99). Freeze and stress (bench/scenarios/lasting-process.ts) are measured
// the same way with the same agent, on containers of a test/helpers/container-lab.ts lab, when the host
// has cgroup v1, stress-ng and setpriv. Runs before 9 (which kills the controller); its broadcast STOP
// stops whatever runs are unfinished then, as 9's does.
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_LEASE_SECONDS, LABEL_FAULT, type FaultTargetRef, type NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import { KILL_SWITCH_NAME } from '../../src/api/kill-switch.ts';
import type { WantedFault } from '../../src/agent/fault.ts';
import { applyIn, renderTable, revertScript } from '../../src/agent/nft.ts';
import { RELIST_MS } from '../../src/agent/readings.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { paths } from '../../src/kube/paths.ts';
import { BUILT_CLI } from '../../src/local/run-local.ts';
import { createLogger } from '../../src/log.ts';
import { createRun, kwokStep, signal } from '../../test/helpers/operator.ts';
import { AgentProcess, holderPod, lastingPrecondition, NftMonitor, processFaultPrecondition, Sandboxes, tablesIn, targetsPatch, type Sandbox } from '../../faults/agent-lab.ts';
import { ContainerLab } from '../../test/helpers/container-lab.ts';
import { processFaultFigures } from './lasting-process.ts';
import { createRuns, names, post, sleep, timeWrite, type Bench } from '../context.ts';
import { distribution, latency, value, type Figure } from '../report.ts';
import { summarize, type Summary } from '../stats.ts';
import { Watched } from '../watch.ts';

const NODE = 'kwok-node-0';
/**
 * Target sandboxes: at least 4, and no more than 25 faults each under the kill switch. A thousand faults
 * in one network namespace is no node's shape, and nft's listing grows faster than its table count
 * there (measured: 250 tables 1.1 s, 1,000 over 10 s).
 */
const MIN_SANDBOXES = 4;
const FAULTS_PER_SANDBOX = 25;
const LEASE_SECONDS = DEFAULT_LEASE_SECONDS;
/** The goal of issue "lasting faults": a STOP or PAUSE reverts within this many ms of the signal's answer (p99). */
export const REVERT_GOAL_MS = 200;
const WARM_UP = 5;
const SECTION = '10';
const repoRoot = resolve(import.meta.dirname, '../..');

const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: LEASE_SECONDS };

/** Two floors added percentile by percentile (a bound for the sum's percentiles, not its distribution). */
export function addFloors(a: Summary, b: Summary): Summary {
  return { n: Math.min(a.n, b.n), p50: a.p50 + b.p50, p95: a.p95 + b.p95, p99: a.p99 + b.p99, max: a.max + b.max, mean: a.mean + b.mean };
}

const ms = (x: number) => Math.round(x * 100) / 100;
const floorNote = (f: Summary, what: string) => `floor ${what}: p50 ${ms(f.p50)} ms, p99 ${ms(f.p99)} ms`;

/** Which agent and kill-switch code the figures are of: the commit, and whether those files differed from it. */
function codeUnderTest(): { commit: string; uncommitted: string[] } {
  const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  try {
    return {
      commit: git(['log', '-1', '--format=%h %s']).slice(0, 120),
      uncommitted: git(['status', '--porcelain', '--', 'src/agent', 'src/signal', 'src/api']).split('\n').filter(Boolean),
    };
  } catch {
    return { commit: 'unknown (no git)', uncommitted: [] };
  }
}

export async function lastingFaults(b: Bench): Promise<Figure[]> {
  const why = lastingPrecondition();
  if (why) {
    b.details.lasting = { skipped: why };
    return [value(SECTION, 'lasting faults: SKIPPED', '', 0, 0, why)];
  }
  const { client, watch } = b;
  const ns = b.namespaces.lasting;
  const { samples, kills, killSwitchRuns, killSwitchReps } = b.sizes.lasting;
  const SANDBOXES = Math.max(MIN_SANDBOXES, Math.ceil(killSwitchRuns / FAULTS_PER_SANDBOX));
  const targets: FaultTargetRef[] = Array.from({ length: SANDBOXES }, (_, i) => ({ namespace: 'bench-targets', name: `target-${i}`, uid: randomUUID(), node: NODE }));
  const sandboxes = Sandboxes.create('crb', targets.map((t) => t.uid));
  const sandboxOf = (t: FaultTargetRef) => sandboxes.byUid(t.uid)!;
  const logFile = join(mkdtempSync(join(os.tmpdir(), 'chaosrun-bench-agent-')), 'agent.log');
  // Freeze and stress on this lab's containers, held by the same agent.
  const noProcessFaults = processFaultPrecondition();
  const containers = noProcessFaults ? undefined : new ContainerLab();
  const agent = new AgentProcess({ cli: BUILT_CLI, kubeconfig: b.kubeconfig, node: NODE, proc: sandboxes.proc, logFile, operatorNamespace: b.namespaces.system,
    ...(containers ? { processFaults: { containerdTasks: containers.tasksDir, stateDir: containers.stateDir } } : {}) });
  let processGoal: { worstP99Ms: number; met: boolean } | { skipped: string } = { skipped: noProcessFaults ?? 'not reached' };
  const podInformer = new Informer<V1Pod>(client, { name: 'bench-pods', path: (n) => paths.pods(n), namespaces: [ns], log: createLogger('bench', 'warn') });
  const pods = new Watched(podInformer);
  // The kill-switch record, in the operator's namespace (bench/run.ts: where the signal server writes it).
  const recordNamespace = b.namespaces.system;
  const recordInformer = new Informer<V1ConfigMap>(client, {
    name: 'bench-kill-switch', path: (n) => paths.configMaps(n ?? recordNamespace), namespaces: [recordNamespace],
    fieldSelector: `metadata.name=${KILL_SWITCH_NAME}`, log: createLogger('bench', 'warn'),
  });
  const record = new Watched(recordInformer);
  let monitor: NftMonitor | undefined;
  const figures: Figure[] = [];
  const code = codeUnderTest();
  try {
    await Promise.all([podInformer.start(), recordInformer.start()]);
    monitor = await NftMonitor.start(sandboxes.list.map((s) => s.netns));
    const mon = monitor;
    await agent.start();

    // --- the floors ---------------------------------------------------------------------------------
    await client.request('POST', paths.pods(ns), { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'floor-pod' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'busybox' }] } } });
    await pods.when(ns, 'floor-pod', (p) => p !== undefined, 30_000, 'the floor pod in the watch');
    const podDelivery: number[] = [];
    for (let i = -WARM_UP; i < samples; i++) {
      const seen = pods.when(ns, 'floor-pod', (p) => p?.metadata?.annotations?.['bench.chaosrun.dev/i'] === String(i), 30_000, `the watch to show annotation ${i}`);
      const t = await timeWrite(() => client.request('PATCH', paths.pods(ns, 'floor-pod'), { body: { metadata: { annotations: { 'bench.chaosrun.dev/i': String(i) } } }, contentType: MERGE_PATCH }), seen);
      if (i >= 0) podDelivery.push(...t.fromResponse);
    }
    await createRun(client, ns, 'floor-run', { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await watch.runs.when(ns, 'floor-run', (r) => r !== undefined, 30_000, 'the floor run in the watch');
    const runDelivery: number[] = [];
    for (let i = -WARM_UP; i < samples; i++) {
      const target = (i + WARM_UP) % 2 === 0 ? 'PAUSE' : 'RUN';
      const seen = watch.runs.when(ns, 'floor-run', (r) => r?.spec.signalState === target, 30_000, `the watch to show spec.signalState ${target}`);
      const t = await timeWrite(() => signal(client, ns, 'floor-run', target), seen);
      if (i >= 0) runDelivery.push(...t.fromResponse);
    }
    await signal(client, ns, 'floor-run', 'STOP');
    // The same scripts the agent runs, on a table not named chaosrun_ (the agent would revert one of its own).
    const floorFault: WantedFault = {
      id: 'bench-floor', run: { namespace: ns, name: 'floor' }, step: 'hold',
      target: { namespace: 'bench-targets', pod: 'target-0', podUid: targets[0].uid, netns: sandboxes.list[0].netns },
      direction: spec.direction, action: spec.effect, leaseSeconds: LEASE_SECONDS,
    };
    const rename = (script: string) => script.replaceAll('chaosrun_bench-floor', 'benchfloor_bench-floor');
    const applyScript = rename(renderTable(floorFault));
    const revert = rename(revertScript(floorFault.id));
    const applyMs: number[] = [];
    const revertMs: number[] = [];
    for (let i = -WARM_UP; i < samples; i++) {
      let t = performance.now();
      await applyIn(floorFault.target.netns, applyScript);
      if (i >= 0) applyMs.push(performance.now() - t);
      t = performance.now();
      await applyIn(floorFault.target.netns, revert);
      if (i >= 0) revertMs.push(performance.now() - t);
    }
    // The kill switch's share of one sandbox (killSwitchRuns / SANDBOXES tables) reverted in one nft -f, as the agent batches them.
    const share = Math.ceil(killSwitchRuns / SANDBOXES);
    const shareIds = Array.from({ length: share }, (_, i) => `bench-floor-${i}`);
    const shareRename = (script: string) => script.replaceAll('chaosrun_bench-floor', 'benchfloor_bench-floor');
    const batchRevertMs: number[] = [];
    for (let i = -WARM_UP; i < samples; i++) {
      await applyIn(floorFault.target.netns, shareIds.map((id) => shareRename(renderTable({ ...floorFault, id }))).join(''));
      const t = performance.now();
      await applyIn(floorFault.target.netns, shareIds.map((id) => shareRename(revertScript(id))).join(''));
      if (i >= 0) batchRevertMs.push(performance.now() - t);
    }
    const podFloor = addFloors(summarize(podDelivery), summarize(applyMs));
    const applyFloor = addFloors(summarize(runDelivery), summarize(applyMs));
    const revertFloor = addFloors(summarize(runDelivery), summarize(revertMs));
    figures.push(
      latency(SECTION, 'lasting floor: pod PATCH answered → plain watch sees it (0: before the answer)', podDelivery),
      latency(SECTION, 'lasting floor: ChaosRun PATCH answered → plain watch sees it (0: before the answer)', runDelivery),
      latency(SECTION, 'lasting floor: one nsenter --net nft -f of the table script (apply)', applyMs),
      latency(SECTION, 'lasting floor: one nsenter --net nft -f of the revert script', revertMs),
      latency(SECTION, `lasting floor: one nsenter --net nft -f reverting ${share} tables (a sandbox's share of the kill switch, as the agent batches them)`, batchRevertMs),
    );

    /** A run and its holder, Running, with its targets written; resolves once its table is in force. */
    const holderInForce = async (run: string, target: FaultTargetRef): Promise<{ holder: string; uid: string; sandbox: Sandbox; ms: number }> => {
      const holder = `${run}-holder`;
      const pod = await client.request<V1Pod>('POST', paths.pods(ns), { body: holderPod(holder, run, 'hold', spec, NODE) });
      const uid = pod.metadata!.uid!;
      await pods.when(ns, holder, (p) => p?.status?.phase === 'Running', 60_000, `${holder} Running (kwok)`);
      const sandbox = sandboxOf(target);
      const inForce = mon.next((e) => e.kind === 'add-table' && e.id === uid && e.netns === sandbox.netns, 20_000, `the table of ${holder} in ${sandbox.name}`);
      const t = await timeWrite(() => client.request('PATCH', paths.pods(ns, holder), { body: targetsPatch([target]), contentType: MERGE_PATCH }), inForce);
      const live = (await tablesIn(sandbox.netns)).find((x) => x.id === uid);
      if (!live || live.leaseElements === 0) b.failures.push(`lasting: the table of ${holder} was added without a live lease (${JSON.stringify(live)})`);
      return { holder, uid, sandbox, ms: t.fromResponse[0] };
    };
    const deleteHolder = (name: string) => client.request('DELETE', paths.pods(ns, name), { query: { gracePeriodSeconds: 0 } }).catch(() => {});
    const gone = (uid: string, sandbox: Sandbox, what: string) => mon.next((e) => e.kind === 'delete-table' && e.id === uid && e.netns === sandbox.netns, 20_000, what);

    // --- step start → in force, and STOP → gone: one run per sample ------------------------------------
    const startMs: number[] = [];
    const stopMs: number[] = [];
    const runs = names('lasting', samples);
    await createRuns(client, ns, runs, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await watch.runs.whenAll(ns, runs, (r) => r !== undefined, 60_000, 'the lasting runs in the watch');
    for (const [i, run] of runs.entries()) {
      const h = await holderInForce(run, targets[i % SANDBOXES]);
      startMs.push(h.ms);
      await sleep(100 + Math.random() * 200);
      const t = await timeWrite(() => signal(client, ns, run, 'STOP'), gone(h.uid, h.sandbox, `the table of ${h.holder} gone after STOP`));
      stopMs.push(t.fromResponse[0]);
      await deleteHolder(h.holder);
    }

    // --- PAUSE and RUN on one run -----------------------------------------------------------------------
    await createRun(client, ns, 'lasting-signal', { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await watch.runs.when(ns, 'lasting-signal', (r) => r !== undefined, 30_000, 'lasting-signal in the watch');
    const sig = await holderInForce('lasting-signal', targets[0]);
    const pauseMs: number[] = [];
    const resumeMs: number[] = [];
    for (let i = 0; i < samples * 2; i++) {
      await sleep(100 + Math.random() * 200);
      const pause = i % 2 === 0;
      const effect = pause ? gone(sig.uid, sig.sandbox, 'the table gone after PAUSE')
        : mon.next((e) => e.kind === 'add-table' && e.id === sig.uid && e.netns === sig.sandbox.netns, 20_000, 'the table back after RUN');
      const t = await timeWrite(() => signal(client, ns, 'lasting-signal', pause ? 'PAUSE' : 'RUN'), effect);
      (pause ? pauseMs : resumeMs).push(t.fromResponse[0]);
    }
    await signal(client, ns, 'lasting-signal', 'STOP');
    await deleteHolder(sig.holder);

    figures.push(
      distribution(SECTION, 'step start: holder\'s targets PATCH answered → table in force (live lease)', 'ms', startMs, podFloor, floorNote(podFloor, 'pod delivery + nft apply')),
      distribution(SECTION, 'PAUSE answered → table gone', 'ms', pauseMs, revertFloor, floorNote(revertFloor, 'run delivery + nft revert')),
      distribution(SECTION, 'RUN answered → table in force again', 'ms', resumeMs, applyFloor, floorNote(applyFloor, 'run delivery + nft apply')),
      distribution(SECTION, 'STOP answered → table gone', 'ms', stopMs, revertFloor, floorNote(revertFloor, 'run delivery + nft revert')),
    );
    const worst = Math.max(summarize(pauseMs).p99, summarize(stopMs).p99);
    const met = worst <= REVERT_GOAL_MS;
    figures.push(value(SECTION, `goal: revert after STOP or PAUSE, p99 ≤ ${REVERT_GOAL_MS} ms from the signal's answer`, 'ms', worst, pauseMs.length + stopMs.length,
      `${met ? 'met' : 'NOT met'}: PAUSE p99 ${ms(summarize(pauseMs).p99)} ms, STOP p99 ${ms(summarize(stopMs).p99)} ms`));

    // --- freeze and stress: the same figures, the same floors' first half, the same goal ---------------
    if (containers) {
      const p = await processFaultFigures({
        b, client, ns, node: NODE, lab: containers, pods, section: SECTION, podDelivery, runDelivery, addFloors, floorNote, goalMs: REVERT_GOAL_MS,
      });
      figures.push(...p.figures);
      processGoal = { worstP99Ms: p.worstP99Ms, met: p.met };
    } else {
      figures.push(value(SECTION, 'freeze and stress: SKIPPED', '', 0, 0, noProcessFaults));
    }

    // --- agent SIGKILL: the kernel ends the fault at its lease -----------------------------------------
    await createRun(client, ns, 'lasting-kill', { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await watch.runs.when(ns, 'lasting-kill', (r) => r !== undefined, 30_000, 'lasting-kill in the watch');
    const k = await holderInForce('lasting-kill', targets[1]);
    const killMs: number[] = [];
    const sinceRenewalMs: number[] = [];
    const restartMs: number[] = [];
    for (let i = 0; i < kills; i++) {
      // A random moment in the renewal cycle.
      await sleep(Math.random() * LEASE_SECONDS * 1000);
      await agent.stop('SIGKILL');
      const killed = performance.now();
      const renewals = mon.events.filter((e) => e.id === k.uid && e.netns === k.sandbox.netns && (e.kind === 'lease-element' || e.kind === 'add-table') && e.at <= killed);
      const lastRenewal = renewals.at(-1)?.at;
      let expired: number | undefined;
      const deadline = killed + LEASE_SECONDS * 1000 + 5000;
      while (performance.now() < deadline) {
        const polled = performance.now();
        const t = (await tablesIn(k.sandbox.netns)).find((x) => x.id === k.uid);
        if (!t || t.leaseElements === 0) { expired = polled; break; }
        await sleep(25);
      }
      if (expired === undefined) b.failures.push(`lasting: the lease of ${k.holder} was still live ${LEASE_SECONDS + 5} s after the agent was SIGKILLed`);
      else {
        killMs.push(expired - killed);
        if (lastRenewal !== undefined) sinceRenewalMs.push(expired - lastRenewal);
      }
      const renewed = mon.next((e) => e.id === k.uid && e.netns === k.sandbox.netns && (e.kind === 'lease-element' || e.kind === 'add-table'), 60_000, 'the restarted agent to renew the lease');
      renewed.catch(() => {});
      const restarted = performance.now();
      await agent.start();
      restartMs.push(await renewed - restarted);
    }
    await signal(client, ns, 'lasting-kill', 'STOP');
    await gone(k.uid, k.sandbox, 'the killed run\'s table gone after STOP').catch(() => {});
    await deleteHolder(k.holder);
    figures.push(
      latency(SECTION, `agent SIGKILLed → its lease expired by itself (lease ${LEASE_SECONDS} s; no live element, polled every 25 ms)`, killMs, undefined, `bound: the lease, ${LEASE_SECONDS * 1000} ms`),
      latency(SECTION, 'last renewal before the SIGKILL → lease expired (the kernel\'s timeout)', sinceRenewalMs, undefined, `expected: ${LEASE_SECONDS * 1000} ms`),
      latency(SECTION, 'agent started again → the still-wanted fault renewed (start, watches synced, first pass)', restartMs),
    );

    // --- the kill switch: one broadcast STOP over many runs' lasting faults ----------------------------
    const ksSent: number[] = [];
    const ksFirst: number[] = [];
    const ksRecord: number[] = [];
    const listAllMs: number[] = [];
    const ksFromRecord: number[] = [];
    const ksAnswered: number[] = [];
    const ksAnswer: number[] = [];
    const recordLine = /"msg":"kill-switch record: the faults of its runs end"/g;
    let recordSeen = 0;
    for (let rep = 0; rep < killSwitchReps; rep++) {
      const ksRuns = names(`ks${rep}`, killSwitchRuns);
      await createRuns(client, ns, ksRuns, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
      await watch.runs.whenAll(ns, ksRuns, (r) => r !== undefined, 120_000, 'the kill-switch runs in the watch');
      const holders = ksRuns.map((r) => `${r}-holder`);
      const uids: string[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: 20 }, async () => {
        for (let i = next++; i < holders.length; i = next++) {
          const pod = await client.request<V1Pod>('POST', paths.pods(ns), { body: holderPod(holders[i], ksRuns[i], 'hold', spec, NODE) });
          uids[i] = pod.metadata!.uid!;
        }
      }));
      await pods.whenAll(ns, holders, (p) => p?.status?.phase === 'Running', 120_000, 'the kill-switch holders Running');
      const keys = holders.map((_, i) => ({ netns: sandboxOf(targets[i % SANDBOXES]).netns, id: uids[i] }));
      const allInForce = mon.all('add-table', keys, 120_000, `all ${killSwitchRuns} tables in force`);
      next = 0;
      await Promise.all(Array.from({ length: 20 }, async () => {
        for (let i = next++; i < holders.length; i = next++) {
          await client.request('PATCH', paths.pods(ns, holders[i]), { body: targetsPatch([targets[i % SANDBOXES]]), contentType: MERGE_PATCH });
        }
      }));
      await allInForce;
      await sleep(2000);
      const live = (await Promise.all(sandboxes.list.map((s) => tablesIn(s.netns)))).flat().filter((t) => uids.includes(t.id) && t.leaseElements > 0).length;
      if (live !== killSwitchRuns) b.failures.push(`lasting: ${live} of ${killSwitchRuns} kill-switch tables in force before the STOP`);
      // What a pass of the agent read first until it planned from memory (src/agent/readings.ts): the
      // ruleset of every sandbox on the node, at once. Now each sandbox is read again in the background
      // every RELIST_MS (one at a time), and only a sandbox never read is read before a pass plans.
      for (let i = 0; i < 10; i++) {
        const t = performance.now();
        await Promise.all(sandboxes.list.map((x) => tablesIn(x.netns)));
        listAllMs.push(performance.now() - t);
      }
      const before = (agent.output().match(recordLine) ?? []).length;
      const allGone = mon.all('delete-table', keys, 120_000, `all ${killSwitchRuns} tables gone after POST /STOP`);
      const firstGone = mon.next((e) => e.kind === 'delete-table' && uids.includes(e.id), 120_000, 'a first table gone after POST /STOP');
      firstGone.catch(() => {});
      const rvBefore = record.get(recordNamespace, KILL_SWITCH_NAME)?.metadata?.resourceVersion;
      const recorded = record.when(recordNamespace, KILL_SWITCH_NAME, (c) => c !== undefined && c.metadata?.resourceVersion !== rvBefore, 120_000, 'the kill-switch record written');
      recorded.catch(() => {});
      const sent = performance.now();
      const answer = await post(`${b.operator.signalUrl}/STOP`);
      const answered = performance.now();
      try {
        const at = await allGone;
        ksFirst.push(await firstGone - sent);
        const recordAt = await recorded.catch(() => undefined);
        if (recordAt !== undefined) { ksRecord.push(recordAt - sent); ksFromRecord.push(at - recordAt); }
        ksSent.push(at - sent);
        ksAnswered.push(Math.max(0, at - answered));
        ksAnswer.push(answered - sent);
      } catch (err) {
        b.failures.push(`lasting: kill switch: ${(err as Error).message}`);
      }
      recordSeen += (agent.output().match(recordLine) ?? []).length - before;
      b.details[`lastingKillSwitch${rep}`] = { answer: answer.trim(), liveBefore: live };
      // One call deletes them all: a thousand pods take the API server more than the client's default 30 s here.
      await client.request('DELETE', paths.pods(ns), { query: { labelSelector: LABEL_FAULT, gracePeriodSeconds: 0 }, timeoutMs: 300_000 });
      await pods.whenAll(ns, holders, (p) => p === undefined, 120_000, 'the kill-switch holders gone');
      // A holder created in the same second as the record's stoppedAt counts as before it (whole seconds).
      await sleep(1100);
    }
    const how = recordSeen > 0 ? `the agent read the kill-switch record (${recordSeen} of ${killSwitchReps})` : 'the agent saw no kill-switch record: it reverted on each run\'s STOP';
    const ksNote = `${killSwitchRuns} runs, one holder each, over ${SANDBOXES} sandboxes; ${how}`;
    const ksFloor = addFloors(summarize(runDelivery), summarize(batchRevertMs));
    figures.push(
      latency(SECTION, `lasting floor: nft -j list ruleset in all ${SANDBOXES} sandboxes at once, ${share} tables each (what the agent reads again every ${RELIST_MS / 1000} s in the background; no pass waits for it)`, listAllMs),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: POST /STOP sent → answered`, 'ms', ksAnswer, undefined, ksNote),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: POST /STOP sent → the kill-switch record written (the bench's watch)`, 'ms', ksRecord, undefined,
        ksRecord.length ? ksNote : `no record seen in ${recordNamespace}/${KILL_SWITCH_NAME}`),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: POST /STOP sent → the first table gone`, 'ms', ksFirst, undefined, ksNote),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: POST /STOP sent → every table gone`, 'ms', ksSent, undefined, ksNote),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: the record written (the bench's watch) → every table gone`, 'ms',
        ksFromRecord, ksFloor, `${ksNote}; ${floorNote(ksFloor, 'run delivery + one batched revert')}`),
      distribution(SECTION, `kill switch, ${killSwitchRuns} lasting faults: POST /STOP answered → every table gone (0: before the answer)`, 'ms', ksAnswered, revertFloor,
        `${ksNote}; ${floorNote(revertFloor, 'run delivery + one nft revert')}`),
    );
    b.details.lasting = {
      agent: BUILT_CLI, node: NODE, sandboxes: SANDBOXES, leaseSeconds: LEASE_SECONDS, agentLog: logFile, code,
      killSwitchRecordSeen: recordSeen, goal: { revertP99Ms: REVERT_GOAL_MS, worstP99Ms: worst, met }, processGoal,
    };
  } finally {
    await agent.stop('SIGTERM');
    const left = (await Promise.all(sandboxes.list.map((s) => tablesIn(s.netns).catch(() => [])))).flat();
    if (left.length) b.failures.push(`lasting: ${left.length} chaosrun_ table(s) left after the agent's SIGTERM: ${left.map((t) => `${t.netns} ${t.id}`).join(', ')}`);
    if (containers) {
      const frozen = containers.list().filter((c) => containers.freezerState(c) !== 'THAWED').map((c) => c.cgroupsPath);
      const stressors = containers.strayStressors();
      const records = containers.freezeRecords();
      if (frozen.length || stressors.length || records.length) {
        b.failures.push(`lasting: after the agent's SIGTERM: ${frozen.length} cgroup(s) not THAWED ${frozen.join(', ')}; ${stressors.length} stressor(s); ${records.length} freeze record(s)`);
      }
      containers.close();
    }
    monitor?.stop();
    sandboxes.close();
    await client.request('DELETE', paths.pods(ns), { query: { labelSelector: LABEL_FAULT, gracePeriodSeconds: 0 } }).catch(() => {});
    pods.stop();
    record.stop();
  }
  return figures;
}
