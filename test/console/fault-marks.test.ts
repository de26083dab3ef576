// The console's timeline marks when each lasting fault was applied and when it was reverted, in a real
// browser (Debian's headless chromium) against the operator and the signal server on the test control
// plane. A `network` step runs with the controller's own rules; what the kwok node cannot do is played
// by the test: the step's Job pod is kept Pending (a step placement no node matches), and a stand-in
// holder pod (labelled with the Job's name, Running on the kwok node) carries the targets a holder
// records on itself (src/api/fault-holder.ts). The controller reads them as from a real holder, so
// status.faults, the step's fault records and the marks come from decide as they would on a real node
// (test/e2e proves the holder and the agent there). Proven: applied in force with a live bar, PAUSE
// reverts it (history records both ends; the mark sits where the pause starts), RUN applies it again as
// a new record, STOP reverts it (the mark sits on the STOP line), and the list under the timeline says so.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { ANNOTATION_FAULT, ANNOTATION_FAULT_TARGETS, type NetworkFaultSpec } from '../../src/api/fault-holder.ts';
import type { ChaosRun } from '../../src/api/types.ts';
import { jobName } from '../../src/controller/job-name.ts';
import type { RunningController } from '../../src/controller/manager.ts';
import { paths } from '../../src/kube/paths.ts';
import type { SignalServer } from '../../src/signal/server.ts';
import { launchBrowser, screenshotDir, type Browser } from '../helpers/browser.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, waitForPhase } from '../helpers/operator.ts';
import { testSignalServer } from '../signal/helpers.ts';

const env = await testEnv('console-faults');
const { client, namespace: ns } = env;
const RUN = 'partition';
let controller: RunningController;
let server: SignalServer;
let browser: Browser;
let page: Page;
const pageErrors: Error[] = [];
const shots = screenshotDir();
const spec: NetworkFaultSpec = { kind: 'network', direction: 'both', effect: { partition: {} }, leaseSeconds: 4 };

before(async () => {
  controller = await inProcessController(env, {
    render: {
      operatorImage: 'ghcr.io/chaosrun/chaosrun-operator:test', scenarioServiceAccount: 'chaosrun-scenario',
      // No node has this label: the step's own holder pod stays Pending, its Job Active.
      stepPlacement: { nodeSelector: { 'chaosrun.dev/test-no-such-node': 'true' } },
    },
  });
  server = await testSignalServer(env);
  env.kubectl(['create', 'serviceaccount', '-n', ns, 'chaosrun-scenario']);
  // Created paused, so the stand-in holder is in place before the step starts.
  const run = await createRun(client, ns, RUN, {
    signalState: 'PAUSE', scenarios: [{ name: 'cut', duration: '10m', network: { namespace: ns, labelSelector: 'app=web', direction: 'both', partition: {}, leaseSeconds: 4 } }],
  });
  const job = jobName(RUN, run.metadata.uid, 1, 0);
  await client.request('POST', paths.pods(ns), { body: {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: `${job}-stand-in`, labels: { 'batch.kubernetes.io/job-name': job },
      annotations: {
        [ANNOTATION_FAULT]: JSON.stringify(spec),
        [ANNOTATION_FAULT_TARGETS]: JSON.stringify([{ namespace: ns, name: 'web-1', uid: '00000000-0000-4000-8000-000000000001', node: 'kwok-node-0' }]),
      },
    },
    spec: { nodeName: 'kwok-node-0', containers: [{ name: 'holder', image: 'busybox' }] },
  } });
  await eventually('the stand-in holder to be Running', () =>
    env.kubectl(['get', 'pod', '-n', ns, `${job}-stand-in`, '-o', 'jsonpath={.status.phase}']) === 'Running');
  await waitForPhase(client, ns, RUN, ['Paused']);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  browser.context.on('weberror', (e) => pageErrors.push(e.error()));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await controller?.stop();
});

/** The x of a mark's vertical line: its path is "M… z Mx,y v…". */
const markX = (p: Page, selector: string) => p.locator(selector).evaluateAll((els) => els.map((el) => {
  const m = /z M([\d.]+),/.exec(el.getAttribute('d') ?? '');
  return m ? Number(m[1]) : Number.NaN;
}));
const title = (p: Page, selector: string) => p.locator(selector).evaluateAll((els) => els.map((el) => el.querySelector('title')?.textContent ?? ''));
const faultRecords = async () => (await getRun(client, ns, RUN)).status?.history?.[0]?.faults ?? [];

describe('the console\'s fault marks', () => {
  it('marks a fault applied when it comes into force, with a bar that grows while it holds', async () => {
    await page.goto(`${server.url}/ui#/runs/${ns}/${RUN}`);
    await page.locator('#conn', { hasText: 'live' }).waitFor();
    await page.click('#ctl-RUN');
    await eventually('status.faults to show the partition', async () => (await getRun(client, ns, RUN)).status?.faults?.kind === 'partition');
    await page.locator('.tl-fault.tl-fault-live').waitFor();
    assert.equal(await page.locator('.tl-fault-applied').count(), 1);
    assert.equal(await page.locator('.tl-fault-reverted').count(), 0, 'in force: nothing reverted yet');
    assert.match((await title(page, '.tl-fault-applied'))[0], /^partition on 1 pod \(step cut, iteration 1\) applied at /);
    await page.locator('.faults-in-force', { hasText: 'partition in force' }).waitFor();
    await page.locator('#fault-spans tbody tr', { hasText: 'in force' }).waitFor();
    const since = (await getRun(client, ns, RUN)).status!.faults!.since;
    assert.equal(await page.locator('.tl-fault-live').getAttribute('data-since'), since);
  });

  it('PAUSE reverts it: both ends recorded in the step\'s history, the reverted mark where the pause begins', async () => {
    await sleep(2000); // held a while, so the bar is drawn wider than its marks
    await page.click('#ctl-PAUSE');
    await eventually('the fault to be recorded as reverted', async () => (await faultRecords()).length === 1);
    const [record] = await faultRecords();
    assert.equal(record.reason, 'Paused');
    assert.equal(record.pods, 1);
    assert.ok(Date.parse(record.until) >= Date.parse(record.since));
    const run = await getRun(client, ns, RUN);
    assert.equal(run.status?.faults, undefined);
    assert.equal(record.until, run.status?.transitions?.findLast((t) => t.signal === 'PAUSE')?.time, 'reverted in the pass that saw PAUSE');
    await page.locator('.tl-fault-reverted').waitFor();
    assert.equal(await page.locator('.tl-fault-live').count(), 0);
    assert.match((await title(page, '.tl-fault-reverted'))[0], /reverted at .*: PAUSE$/);
    // To scale: the mark stands where the PAUSE span starts (the same instant), after the applied mark.
    // (The first pause span is the one the run was created with.)
    await eventually('the second pause span', async () => await page.locator('.tl-hold.tl-paused').count() === 2);
    const pauseX = Number(await page.locator('.tl-hold.tl-paused rect').last().getAttribute('x'));
    const [revertedX] = await markX(page, '.tl-fault-reverted');
    const [appliedX] = await markX(page, '.tl-fault-applied');
    assert.ok(Math.abs(revertedX - pauseX) < 1.5, `reverted mark at ${revertedX}, pause starts at ${pauseX}`);
    assert.ok(revertedX > appliedX, 'reverted after applied');
    await page.locator('#fault-spans tbody tr', { hasText: 'PAUSE' }).waitFor();
  });

  it('RUN applies it again as a new record; STOP reverts it on the STOP line; the list tells both', async () => {
    await page.click('#ctl-RUN');
    await page.locator('.tl-fault.tl-fault-live').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.tl-fault').count(), 2);
    await sleep(2000);
    await page.screenshot({ path: join(shots, 'faults.png'), fullPage: true });
    await page.click('#ctl-STOP');
    await waitForPhase(client, ns, RUN, ['Stopped']);
    await eventually('the second fault to be recorded as reverted', async () => (await faultRecords()).length === 2);
    const records = await faultRecords();
    assert.deepEqual(records.map((r) => r.reason), ['Paused', 'Stopped']);
    assert.ok(Date.parse(records[1].since) >= Date.parse(records[0].until), 'applied again after the first was reverted');
    const run: ChaosRun = await getRun(client, ns, RUN);
    assert.equal(run.status?.faults, undefined);
    assert.equal(run.status?.faultSummary, undefined);
    await page.locator('#run-badges .phase-Stopped').waitFor();
    await eventually('two reverted marks', async () => await page.locator('.tl-fault-reverted').count() === 2);
    assert.equal(await page.locator('.tl-fault-live').count(), 0, 'a stopped run holds no fault');
    assert.equal(await page.locator('.faults-in-force').count(), 0);
    const stopX = Number(await page.locator('.tl-stop-line').getAttribute('x1'));
    const reverted = await markX(page, '.tl-fault-reverted');
    assert.ok(Math.abs(reverted[1] - stopX) < 1.5, `reverted mark at ${reverted[1]}, STOP at ${stopX}`);
    assert.match((await title(page, '.tl-fault-reverted'))[1], /: STOP/);
    const rows = await page.locator('#fault-spans tbody tr').allInnerTexts();
    assert.equal(rows.length, 2);
    assert.match(rows[0], /partition on 1 pod.*STOP/s, 'newest first');
    assert.match(rows[1], /partition on 1 pod.*PAUSE/s);
  });

  it('a run without lasting faults draws no fault row and no list', async () => {
    await createRun(client, ns, 'plain', { signalState: 'PAUSE', scenarios: [{ name: 'a', job: { image: 'busybox' } }] });
    await page.goto(`${server.url}/ui#/runs/${ns}/plain`);
    await page.locator('#run-badges .phase-Paused').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.tl-fault').count(), 0);
    assert.equal(await page.locator('#fault-marks').isHidden(), true);
  });

  it('no page raised a script error', () => { assert.deepEqual(pageErrors.map(String), []); });
});
