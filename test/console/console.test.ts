// The console in a real browser (Debian's headless chromium, driven by playwright-core), against the
// operator and the signal server on the test control plane: the list shows live runs, a run's page draws
// its timeline, a PAUSE from the console reaches kubectl and a kubectl patch reaches the open page without
// reload, Stop everything stops every run, a token without patch rights sees disabled controls and gets
// 403 anyway, and the page reconnects after the signal server restarts. Screenshots at desktop and phone
// widths (see screenshotDir()).
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { RunningController } from '../../src/controller/manager.ts';
import type { SignalServer } from '../../src/signal/server.ts';
import { launchBrowser, screenshotDir, type Browser } from '../helpers/browser.ts';
import { eventually, testEnv } from '../helpers/env.ts';
import { createRun, getRun, inProcessController, kwokStep, waitForPhase } from '../helpers/operator.ts';
import { testSignalServer } from '../signal/helpers.ts';

const env = await testEnv('console');
const { client, namespace: ns } = env;
let controller: RunningController;
let server: SignalServer;
let browser: Browser;
let page: Page;
const pageErrors: Error[] = [];
const shots = screenshotDir();
const kubectlGet = (name: string, path: string) => env.kubectl(['get', 'crun', '-n', ns, name, '-o', `jsonpath=${path}`]);

/** A ServiceAccount with these verbs on chaosruns in the test namespace, and a token for it. */
async function token(name: string, verbs: string[]): Promise<string> {
  env.kubectl(['create', 'serviceaccount', '-n', ns, name]);
  env.kubectl(['create', 'role', '-n', ns, name, `--verb=${verbs.join(',')}`, '--resource=chaosruns.chaosrun.dev']);
  env.kubectl(['create', 'rolebinding', '-n', ns, name, `--role=${name}`, `--serviceaccount=${ns}:${name}`]);
  return env.kubectl(['create', 'token', '-n', ns, name, '--duration=1h']).trim();
}

before(async () => {
  controller = await inProcessController(env);
  server = await testSignalServer(env);
  // A daemon run with a failing middle step, a second one, and one that is finished at once.
  await createRun(client, ns, 'game-day', {
    daemonMode: true, waitDuration: '2s', failurePolicy: 'Continue',
    scenarios: [kwokStep('warm-up', 2), kwokStep('kill-pods', 3, 'fail'), kwokStep('recover', 2)],
  });
  await createRun(client, ns, 'nightly', { iterations: 50, waitDuration: '1s', scenarios: [kwokStep('cpu-hog', 3)] });
  await createRun(client, ns, 'yesterday', { signalState: 'STOP', scenarios: [kwokStep('a', 1)] });
  await waitForPhase(client, ns, 'yesterday', ['Stopped']);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  browser.context.on('weberror', (e) => pageErrors.push(e.error()));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await controller?.stop();
});

const row = (p: Page, name: string) => p.locator(`tr[data-run="${ns}/${name}"]`);

describe('the console', () => {
  it('serves the page with a strict CSP and nothing from another origin', async () => {
    const res = await fetch(`${server.url}/ui`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const violations: string[] = [];
    page.on('console', (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
    await page.goto(`${server.url}/ui`);
    await page.locator('#conn', { hasText: 'live' }).waitFor();
    assert.deepEqual(requests.filter((u) => !u.startsWith(server.url)), [], 'every request goes to the signal server');
    assert.deepEqual(violations, []);
  });

  it('lists the live runs with signal, phase, progress and step; finished runs fold away', async () => {
    await row(page, 'game-day').locator('.phase-Running').waitFor();
    await row(page, 'game-day').locator('td[data-label="Step"]', { hasText: /warm-up|kill-pods|recover/ }).waitFor();
    assert.match(await row(page, 'game-day').locator('td[data-label="Progress"]').innerText(), /^\d+\/∞$/);
    assert.equal(await row(page, 'nightly').locator('.signal').innerText(), 'RUN');
    assert.equal(await page.locator('#finished').getAttribute('open'), null, 'finished runs are folded');
    assert.match(await page.locator('#finished-summary').innerText(), /Finished runs \(1\)/);
    assert.equal(await page.locator('#live-runs').locator(`tr[data-run="${ns}/yesterday"]`).count(), 0);
    await page.screenshot({ path: join(shots, 'list.png') });
  });

  it('filters by phase and namespace', async () => {
    await page.selectOption('#filter-phase', 'Stopped');
    await page.locator('#live-runs', { hasText: 'No live runs' }).waitFor();
    await page.selectOption('#filter-phase', '');
    await page.selectOption('#filter-ns', ns);
    await row(page, 'game-day').waitFor();
  });

  it('draws a run\'s timeline to scale: one bar per step coloured by result, waits between them', async () => {
    await page.click(`a[href="#/runs/${ns}/game-day"]`);
    // warm-up (2s) succeeds, kill-pods (3s) fails, recover starts: at least three bars, one failed.
    // The first failed bar (kill-pods of iteration 1): by the time it is drawn the run may be in its
    // second iteration with a second one, and a bare locator would match both.
    await page.locator('.tl-step.tl-failed').first().waitFor({ timeout: 30_000 });
    await page.locator('.tl-step').nth(2).waitFor({ timeout: 30_000 });
    const bars = await page.locator('.tl-step rect').evaluateAll((rects) => rects.map((r) => ({
      x: Number(r.getAttribute('x')), w: Number(r.getAttribute('width')),
    })));
    for (let i = 1; i < bars.length; i++) assert.ok(bars[i].x >= bars[i - 1].x + bars[i - 1].w - 1, `bar ${i} starts after bar ${i - 1} ends`);
    // To scale: the 3 s step is drawn wider than the 2 s one (as its recorded times say).
    const run = await getRun(client, ns, 'game-day');
    const took = run.status!.history!.filter((e) => e.endTime).map((e) => Date.parse(e.endTime!) - Date.parse(e.startTime));
    const ratio = (bars[1].w / bars[0].w) / (took[1] / took[0]);
    assert.ok(ratio > 0.9 && ratio < 1.1, `bar widths follow durations (ratio ${ratio.toFixed(2)})`);
    assert.ok(await page.locator('.tl-wait').count() >= 1, 'the waits between steps are drawn');
    assert.equal(await page.locator('.tl-step.tl-succeeded').count() >= 1, true);
  });

  it('PAUSE from the console shows up in kubectl get crun; kubectl patch shows up in the open page without reload', async () => {
    const loads: string[] = [];
    page.on('load', () => loads.push(page.url()));
    await page.click('#ctl-PAUSE');
    await eventually('kubectl to show PAUSE', () => kubectlGet('game-day', '{.spec.signalState}') === 'PAUSE');
    await eventually('the run to be Paused', () => kubectlGet('game-day', '{.status.phase}') === 'Paused', 30_000);
    await page.locator('#run-badges .phase-Paused').waitFor();
    const printed = env.kubectl(['get', 'crun', '-n', ns, 'game-day']);
    assert.match(printed, /game-day\s+PAUSE\s+Paused/);
    await page.locator('.tl-hold.tl-paused').waitFor();
    await page.locator('#transitions', { hasText: 'anonymous via HTTP' }).waitFor();

    env.kubectl(['patch', 'crun', '-n', ns, 'game-day', '--type', 'merge', '-p', '{"spec":{"signalState":"RUN"}}']);
    await page.locator('#run-badges .signal-RUN').waitFor();
    await page.locator('#run-badges .phase-Running').waitFor({ timeout: 30_000 });
    await page.locator('#transitions', { hasText: 'spec edit' }).waitFor();
    assert.deepEqual(loads, [], 'no reload');
    // A timed pause from the console: spec.pauseUntil is set about 10 minutes ahead.
    await page.fill('#pause-for', '10m');
    await page.click('#ctl-PAUSE-for');
    await eventually('pauseUntil to be set', () => kubectlGet('game-day', '{.spec.pauseUntil}') !== '');
    const until = Date.parse(kubectlGet('game-day', '{.spec.pauseUntil}'));
    assert.ok(Math.abs(until - Date.now() - 600_000) < 30_000);
    await page.locator('#run-badges .signal-PAUSE', { hasText: 'until' }).waitFor();
    await page.locator('#run-badges .phase-Paused').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'run.png'), fullPage: true });
  });

  it('shows the run\'s last Events and a step\'s log on demand', async () => {
    await page.click('#load-events');
    await page.locator('#events table.events', { hasText: 'SignalReceived' }).waitFor();
    assert.match(await page.locator('#events').innerText(), /signal PAUSE from anonymous via HTTP/);
    const job = await page.locator('.log-button').first().getAttribute('data-job');
    await page.locator('.log-button').first().click();
    await page.locator('#step-log pre.log, #step-log .error').first().waitFor();
    const panel = await page.locator('#step-log').innerText();
    assert.match(panel, new RegExp(`Log of \\S+ \\(iteration \\d+, job ${job}\\)`));
    // The test plane's kwok node runs no containers, so the API server has no log to give; a real node has.
    if (await page.locator('#step-log pre.log').count() === 0) assert.match(panel, new RegExp(`the log of pod ${job}-\\w+ is not available`));
  });

  it('a narrow (phone) screen shows the runs as cards', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${server.url}/ui`);
    await phone.locator('#conn', { hasText: 'live' }).waitFor();
    await phone.locator(`#live-runs tr[data-run="${ns}/game-day"]`).waitFor();
    assert.equal(await phone.locator('.runs thead').first().isVisible(), false);
    await phone.screenshot({ path: join(shots, 'list-phone.png'), fullPage: true });
    await phone.goto(`${server.url}/ui#/runs/${ns}/game-day`);
    await phone.locator('.tl-step').first().waitFor();
    await phone.screenshot({ path: join(shots, 'run-phone.png'), fullPage: true });
    await phone.close();
  });

  it('Stop everything names how many runs it stops, and stops them all', async () => {
    await page.goto(`${server.url}/ui#/`);
    await page.locator('#conn', { hasText: 'live' }).waitFor();
    await page.locator('#stop-all', { hasText: 'Stop everything (2)' }).waitFor();
    await page.click('#stop-all');
    assert.equal(await page.locator('#confirm-title').innerText(), 'Stop 2 runs?');
    assert.match(await page.locator('#confirm-text').innerText(), /2 runs/);
    await page.screenshot({ path: join(shots, 'stop-everything.png') });
    await page.click('#confirm-ok');
    for (const name of ['game-day', 'nightly']) await waitForPhase(client, ns, name, ['Stopped']);
    await page.locator('#live-runs', { hasText: 'No live runs' }).waitFor();
    assert.match(await page.locator('#finished-summary').innerText(), /Finished runs \(3\)/);
    assert.equal(await page.locator('#stop-all').isDisabled(), true);
    // The run page marks where STOP landed.
    await page.goto(`${server.url}/ui#/runs/${ns}/nightly`);
    await page.locator('.tl-stop').waitFor();
    assert.equal(await page.locator('#ctl-RUN').isDisabled(), true);
    assert.match(await page.locator('#ctl-RUN').getAttribute('title') ?? '', /Stopped; signals no longer apply/);
  });

});

describe('the console with --auth=kubernetes', () => {
  let authServer: SignalServer;
  before(async () => {
    authServer = await testSignalServer(env, { auth: 'kubernetes' });
    await createRun(client, ns, 'guarded', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    await waitForPhase(client, ns, 'guarded', ['Paused']);
  });
  after(async () => { await authServer?.stop(); });

  it('asks for a token, keeps it for the tab only, and disables what RBAC forbids; a forced call gets 403', async () => {
    const viewer = await token('viewer', ['get', 'list']);
    const tab = await browser.context.newPage();
    await tab.goto(`${authServer.url}/ui`);
    await tab.locator('#token-dialog[open]').waitFor();
    await tab.fill('#token-input', 'not-a-token');
    await tab.click('#token-form button[type=submit]');
    await tab.locator('#token-error', { hasText: 'refused' }).waitFor();
    await tab.fill('#token-input', viewer);
    await tab.click('#token-form button[type=submit]');
    await tab.locator('#conn', { hasText: 'live' }).waitFor();
    const pause = row(tab, 'guarded').locator('button[data-signal="RUN"]');
    assert.equal(await pause.isDisabled(), true);
    assert.match(await pause.getAttribute('title') ?? '', /RBAC does not allow patching chaosruns in/);
    assert.equal(await tab.locator('#stop-all').isDisabled(), true);
    await tab.screenshot({ path: join(shots, 'read-only.png') });
    // The controls are only a courtesy: the server says no to the same call made by hand.
    const status = await tab.evaluate(async (path) => {
      const t = sessionStorage.getItem('chaosrun-console-token');
      return (await fetch(path, { method: 'POST', headers: { Authorization: `Bearer ${t}` } })).status;
    }, `runs/${ns}/guarded/RUN`);
    assert.equal(status, 403);
    assert.equal(kubectlGet('guarded', '{.spec.signalState}'), 'PAUSE');
    // Another tab has no token: it asks again.
    const other = await browser.context.newPage();
    await other.goto(`${authServer.url}/ui`);
    await other.locator('#token-dialog[open]').waitFor();
    await other.close();
    await tab.close();
  });

  it('a token allowed to patch gets working controls', async () => {
    const operator = await token('operator', ['get', 'list', 'patch']);
    const tab = await browser.context.newPage();
    await tab.goto(`${authServer.url}/ui`);
    await tab.fill('#token-input', operator);
    await tab.click('#token-form button[type=submit]');
    const run = row(tab, 'guarded').locator('button[data-signal="RUN"]');
    await run.waitFor();
    await eventually('RUN to be enabled', () => run.isEnabled());
    await run.click();
    await eventually('kubectl to show RUN', () => kubectlGet('guarded', '{.spec.signalState}') === 'RUN');
    const source = JSON.parse((await getRun(client, ns, 'guarded')).metadata.annotations?.['chaosrun.dev/signal-source'] ?? '{}') as { by?: string };
    assert.equal(source.by, `system:serviceaccount:${ns}:operator`, 'audited as the token\'s user');
    await tab.close();
  });
});

describe('the console\'s stream', () => {
  it('shows the loss of the stream and reconnects after the signal server restarts', async () => {
    await createRun(client, ns, 'phoenix', { signalState: 'PAUSE', scenarios: [kwokStep('a', 1)] });
    const port = server.port;
    const tab = await browser.context.newPage();
    await tab.goto(`${server.url}/ui#/runs/${ns}/phoenix`);
    await tab.locator('#conn', { hasText: 'live' }).waitFor();
    await tab.locator('#run-badges .phase-Paused').waitFor({ timeout: 30_000 });
    await server.stop();
    await tab.locator('#conn.conn-lost', { hasText: 'reconnecting' }).waitFor();
    await eventually('the controls to be disabled while the stream is down', () => tab.locator('#ctl-STOP').isDisabled());
    assert.match(await tab.locator('#ctl-STOP').getAttribute('title') ?? '', /not connected/);
    await tab.screenshot({ path: join(shots, 'reconnecting.png') });
    server = await testSignalServer(env, { port });
    await tab.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 30_000 });
    env.kubectl(['patch', 'crun', '-n', ns, 'phoenix', '--type', 'merge', '-p', '{"spec":{"signalState":"STOP"}}']);
    await tab.locator('#run-badges .phase-Stopped').waitFor({ timeout: 30_000 });
    await tab.close();
  });
});

test('no page raised a script error', () => { assert.deepEqual(pageErrors.map(String), []); });
