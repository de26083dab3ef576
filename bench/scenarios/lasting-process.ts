// 10, its process half: freeze and stress held by the same node agent process as section 10's network
// faults (bench/scenarios/lasting.ts starts it with this lab's --containerd-tasks and --state-dir), on
// real processes in real cgroup v1 cgroups named by stand-in containerd task bundles
// (test/helpers/container-lab.ts), with the holder pods and daemon runs made as section 10 makes them.
// Every time is read from the host, never from the agent's logs, by polling every millisecond from
// before the write it times: a freeze is in force when the container's freezer.state reads FROZEN and
// undone when it reads THAWED; a stress is in force when a process tagged CHAOSRUN_STRESS= is in the
// container's cgroup, undone when none is. Measured, as for network faults:
// - step start → in force: from the answer to the holder's targets PATCH (its containers recorded as
//   the real holder records them);
// - PAUSE, RUN and STOP (kubectl's merge patch of spec.signalState) answered → undone / again / undone.
// The floor beside each figure: one watch delivery (section 10's) plus the agent's own act on the
// container, carried out by the agent's shell (src/agent/process-shell.ts) in this process with no
// watch in between: the freeze (record, guard started, FROZEN), the thaw (THAWED written, guard
// stopped), a stressor's start (setpriv, stress-ng charged to the cgroups) and its stop (SIGKILL,
// exit, workers gone), each timed to the same reading of the host (p50 with p50, p99 with p99).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { FaultTargetRef, FreezeFaultSpec, ProcessFaultSpec, StressFaultSpec } from '../../src/api/fault-holder.ts';
import { cgroupLayout } from '../../src/agent/containers.ts';
import { keyOf, UNBOUNDED_SECONDS, type WantedProcessFault } from '../../src/agent/process-faults.ts';
import { ProcessShell } from '../../src/agent/process-shell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { createLogger } from '../../src/log.ts';
import { createRun, kwokStep, signal } from '../../test/helpers/operator.ts';
import type { ContainerLab, LabContainer } from '../../test/helpers/container-lab.ts';
import { holderPod, targetsPatch } from '../../faults/agent-lab.ts';
import { createRuns, names, sleep, timeWrite, type Bench } from '../context.ts';
import { distribution, latency, value, type Figure } from '../report.ts';
import { summarize, type Summary } from '../stats.ts';
import type { Watched } from '../watch.ts';

const FREEZE: FreezeFaultSpec = { kind: 'freeze' };
/** Half a CPU of one worker, in a container limited to 0.2 CPU: the load stays small beside the bench. */
const STRESS: StressFaultSpec = { kind: 'stress', cpu: { workers: 1, load: 50 } };
const LIMITS = { cpuQuotaUs: 20_000, memoryBytes: 128 * 1024 ** 2 };
const WARM_UP = 3;

export interface ProcessBenchContext {
  b: Bench;
  client: KubeClient;
  ns: string;
  node: string;
  lab: ContainerLab;
  pods: Watched<V1Pod>;
  section: string;
  /** Section 10's floors: a pod's and a run's PATCH answered → the plain watch sees it. */
  podDelivery: number[];
  runDelivery: number[];
  addFloors: (a: Summary, b: Summary) => Summary;
  floorNote: (f: Summary, what: string) => string;
  goalMs: number;
}

/** Resolves with performance.now() at the first reading (every ~1 ms) for which `test` holds; rejects after timeoutMs. */
function whenHost(test: () => boolean, timeoutMs: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const look = () => {
      const at = performance.now();
      let ok = false;
      try { ok = test(); } catch { /* a cgroup file not there yet, or gone */ }
      if (ok) return resolve(at);
      if (at > deadline) return reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`));
      setTimeout(look, 1);
    };
    look();
  });
}

interface Probe { inForce: () => boolean; undone: () => boolean; inForceWord: string; undoneWord: string }

function probeOf(lab: ContainerLab, c: LabContainer, spec: ProcessFaultSpec): Probe {
  return spec.kind === 'freeze'
    ? { inForce: () => lab.freezerState(c) === 'FROZEN', undone: () => lab.freezerState(c) === 'THAWED', inForceWord: 'container FROZEN', undoneWord: 'THAWED' }
    : { inForce: () => lab.stressorsIn(c).length > 0, undone: () => lab.stressorsIn(c).length === 0, inForceWord: 'a stressor in the container\'s cgroup', undoneWord: 'no stressor in the cgroup' };
}

/** The agent's own act and its undoing, by the agent's shell in this process (its own state directory): the floor's second half. */
async function actFloor(lab: ContainerLab, c: LabContainer, spec: ProcessFaultSpec, samples: number): Promise<{ act: number[]; undo: number[] }> {
  const stateDir = mkdtempSync(join(os.tmpdir(), 'chaosrun-bench-floor-state-'));
  const shell = new ProcessShell({ layout: cgroupLayout(), stateDir, log: createLogger('bench', 'warn') });
  const probe = probeOf(lab, c, spec);
  const fault: WantedProcessFault = {
    key: keyOf('bench-floor', c.id), id: 'bench-floor', run: { namespace: 'bench', name: 'floor' }, step: 'hold',
    target: { namespace: 'bench-targets', pod: 'floor', podUid: c.podUid, container: c.name, containerId: c.id }, spec, cgroupsPath: c.cgroupsPath,
  };
  const act: number[] = [];
  const undo: number[] = [];
  try {
    for (let i = -WARM_UP; i < samples; i++) {
      let t = performance.now();
      let seen = whenHost(probe.inForce, 20_000, `the floor's ${probe.inForceWord}`);
      await shell.carryOut(spec.kind === 'freeze' ? { kind: 'freeze', fault, guardSeconds: UNBOUNDED_SECONDS } : { kind: 'start', fault, timeoutSeconds: UNBOUNDED_SECONDS });
      let at = await seen;
      if (i >= 0) act.push(at - t);
      await sleep(20);
      t = performance.now();
      seen = whenHost(probe.undone, 20_000, `the floor's ${probe.undoneWord}`);
      await shell.carryOut(spec.kind === 'freeze' ? { kind: 'thaw', key: fault.key } : { kind: 'stop', key: fault.key });
      at = await seen;
      if (i >= 0) undo.push(at - t);
    }
  } finally {
    await shell.stopAll();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { act, undo };
}

/** Freeze and stress: start → in force, PAUSE / RUN / STOP → undone / again / undone, with their floors and the revert goal. */
export async function processFaultFigures(x: ProcessBenchContext): Promise<{ figures: Figure[]; worstP99Ms: number; met: boolean }> {
  const { b, client, ns, node, lab, pods, section } = x;
  const { samples } = b.sizes.lasting;
  const figures: Figure[] = [];
  const p99s: string[] = [];
  let worst = 0;
  for (const spec of [FREEZE, STRESS]) {
    const kind = spec.kind;
    const floorContainer = await lab.add(randomUUID(), 'floor', ['sleep', '86400'], LIMITS);
    const c = await lab.add(randomUUID(), 'app', ['sleep', '86400'], LIMITS);
    const target: FaultTargetRef = { namespace: 'bench-targets', name: `${kind}-target`, uid: c.podUid, node, containers: [{ name: c.name, id: c.id }] };
    const probe = probeOf(lab, c, spec);
    const floor = await actFloor(lab, floorContainer, spec, samples);
    const actFloorMs = summarize(floor.act);
    const undoFloorMs = summarize(floor.undo);
    const startFloor = x.addFloors(summarize(x.podDelivery), actFloorMs);
    const againFloor = x.addFloors(summarize(x.runDelivery), actFloorMs);
    const undoFloor = x.addFloors(summarize(x.runDelivery), undoFloorMs);
    const actWhat = kind === 'freeze' ? 'freeze (record written, guard started, FROZEN)' : 'stressor start (setpriv, stress-ng charged to the cgroups)';
    const undoWhat = kind === 'freeze' ? 'thaw (THAWED written, guard stopped)' : 'stressor stop (SIGKILL, workers gone from the cgroup)';
    figures.push(
      latency(section, `lasting floor: the agent's ${actWhat}, by its shell in this process`, floor.act),
      latency(section, `lasting floor: the agent's ${undoWhat}, by its shell in this process`, floor.undo),
    );

    /** A run and its holder, Running, with its targets written; resolves once the fault is in force. */
    const holderInForce = async (run: string): Promise<{ holder: string; ms: number }> => {
      const holder = `${run}-holder`;
      await client.request<V1Pod>('POST', paths.pods(ns), { body: holderPod(holder, run, 'hold', spec, node) });
      await pods.when(ns, holder, (p) => p?.status?.phase === 'Running', 60_000, `${holder} Running (kwok)`);
      const inForce = whenHost(probe.inForce, 20_000, `${kind} of ${holder}: ${probe.inForceWord}`);
      const t = await timeWrite(() => client.request('PATCH', paths.pods(ns, holder), { body: targetsPatch([target]), contentType: MERGE_PATCH }), inForce);
      return { holder, ms: t.fromResponse[0] };
    };
    const deleteHolder = (name: string) => client.request('DELETE', paths.pods(ns, name), { query: { gracePeriodSeconds: 0 } }).catch(() => {});
    const undone = (what: string) => whenHost(probe.undone, 20_000, `${kind}: ${probe.undoneWord} ${what}`);

    // --- step start → in force, and STOP → undone: one run per sample --------------------------------
    const startMs: number[] = [];
    const stopMs: number[] = [];
    const runs = names(`lasting-${kind}`, samples);
    await createRuns(client, ns, runs, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await b.watch.runs.whenAll(ns, runs, (r) => r !== undefined, 60_000, `the lasting ${kind} runs in the watch`);
    for (const run of runs) {
      const h = await holderInForce(run);
      startMs.push(h.ms);
      await sleep(100 + Math.random() * 200);
      const t = await timeWrite(() => signal(client, ns, run, 'STOP'), undone(`after STOP of ${run}`));
      stopMs.push(t.fromResponse[0]);
      await deleteHolder(h.holder);
    }

    // --- PAUSE and RUN on one run ---------------------------------------------------------------------
    const sigRun = `lasting-${kind}-signal`;
    await createRun(client, ns, sigRun, { daemonMode: true, scenarios: [kwokStep('hold', 3600)] });
    await b.watch.runs.when(ns, sigRun, (r) => r !== undefined, 30_000, `${sigRun} in the watch`);
    const sig = await holderInForce(sigRun);
    const pauseMs: number[] = [];
    const resumeMs: number[] = [];
    for (let i = 0; i < samples * 2; i++) {
      await sleep(100 + Math.random() * 200);
      const pause = i % 2 === 0;
      const effect = pause ? undone('after PAUSE') : whenHost(probe.inForce, 20_000, `${kind}: ${probe.inForceWord} again after RUN`);
      const t = await timeWrite(() => signal(client, ns, sigRun, pause ? 'PAUSE' : 'RUN'), effect);
      (pause ? pauseMs : resumeMs).push(t.fromResponse[0]);
    }
    await timeWrite(() => signal(client, ns, sigRun, 'STOP'), undone('after the last STOP'));
    await deleteHolder(sig.holder);

    figures.push(
      distribution(section, `${kind}: step start: holder's targets PATCH answered → ${probe.inForceWord}`, 'ms', startMs, startFloor, x.floorNote(startFloor, `pod delivery + the agent's ${kind === 'freeze' ? 'freeze' : 'stressor start'}`)),
      distribution(section, `${kind}: PAUSE answered → ${probe.undoneWord}`, 'ms', pauseMs, undoFloor, x.floorNote(undoFloor, `run delivery + the agent's ${kind === 'freeze' ? 'thaw' : 'stressor stop'}`)),
      distribution(section, `${kind}: RUN answered → ${probe.inForceWord} again`, 'ms', resumeMs, againFloor, x.floorNote(againFloor, `run delivery + the agent's ${kind === 'freeze' ? 'freeze' : 'stressor start'}`)),
      distribution(section, `${kind}: STOP answered → ${probe.undoneWord}`, 'ms', stopMs, undoFloor, x.floorNote(undoFloor, `run delivery + the agent's ${kind === 'freeze' ? 'thaw' : 'stressor stop'}`)),
    );
    const pauseP99 = summarize(pauseMs).p99;
    const stopP99 = summarize(stopMs).p99;
    worst = Math.max(worst, pauseP99, stopP99);
    p99s.push(`${kind} PAUSE p99 ${Math.round(pauseP99 * 100) / 100} ms, STOP p99 ${Math.round(stopP99 * 100) / 100} ms`);
  }
  const met = worst <= x.goalMs;
  figures.push(value(section, `goal: freeze and stress undone after STOP or PAUSE, p99 ≤ ${x.goalMs} ms from the signal's answer`, 'ms', worst, samples * 4,
    `${met ? 'met' : 'NOT met'}: ${p99s.join('; ')}`));
  return { figures, worstP99Ms: worst, met };
}
