// 8. The console's cost: the signal server's CPU and the API server's request rate with no viewer, with
// `viewers` open event streams (what `viewers` console tabs hold), and with none again, while daemon runs
// keep changing so the streams have events to carry. Invariant 5: a console nobody looks at costs
// nothing, and a viewer costs the API server nothing (it reads the signal server's informer cache).
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { kwokStep } from '../../test/helpers/operator.ts';
import { createRuns, names, sleep, type Bench } from '../context.ts';
import { read } from '../operator.ts';
import { parseMetrics, total } from '../metrics.ts';
import { value, type Figure } from '../report.ts';

/** kube-apiserver's own count of the requests it served (apiserver_request_total, every label). */
async function apiServerRequests(b: Bench): Promise<number> {
  const kc = b.client.kc;
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL('/metrics', b.client.server);
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(url, { ...opts, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  return total(parseMetrics(text), 'apiserver_request_total');
}

interface Window { signalCpuPct: number; apiPerSecond: number; signalApiRequests: number; seconds: number }

async function measure(b: Bench, seconds: number): Promise<Window> {
  const before = await read(b.operator);
  const apiBefore = await apiServerRequests(b);
  await sleep(seconds * 1000);
  const apiAfter = await apiServerRequests(b);
  const after = await read(b.operator);
  const elapsed = (after.at - before.at) / 1000;
  const signalApi = (r: typeof before) => Object.entries(r.requestsByVerb).filter(([k]) => k.startsWith('signal-server ')).reduce((s, [, n]) => s + n, 0);
  return {
    seconds: elapsed,
    signalCpuPct: ((after.signalCpuSeconds - before.signalCpuSeconds) / elapsed) * 100,
    // One scrape of /metrics falls inside the window either way: it is counted alike in every window.
    apiPerSecond: (apiAfter - apiBefore) / elapsed,
    signalApiRequests: signalApi(after) - signalApi(before),
  };
}

/** An event stream read and thrown away, as a console tab reads it; counts the events. */
function viewer(url: string) {
  const abort = new AbortController();
  let events = 0;
  const done = (async () => {
    const res = await fetch(`${url}/runs/stream`, { signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(`GET /runs/stream: HTTP ${res.status}`);
    for await (const chunk of res.body) events += (Buffer.from(chunk).toString('utf8').match(/^event: /gm) ?? []).length;
  })().catch((err: unknown) => { if (!abort.signal.aborted) throw err; });
  return { events: () => events, stop: () => { abort.abort(); return done; } };
}

export async function consoleCost(b: Bench): Promise<Figure[]> {
  const { viewers, runs, seconds } = b.sizes.console;
  const ns = b.namespaces.main;
  const live = names('console', runs);
  // Steps of 2 s with 1 s waits: every run's status changes about twice a second.
  await createRuns(b.client, ns, live, { daemonMode: true, waitDuration: '1s', scenarios: [kwokStep('a', 2), kwokStep('b', 2)] });
  await b.watch.runs.whenAll(ns, live, (r) => Boolean(r?.status?.history?.length), 120_000, 'console runs to start');
  await sleep(3000);
  const none = await measure(b, seconds);
  const tabs = Array.from({ length: viewers }, () => viewer(b.operator.signalUrl));
  await sleep(2000);
  const watched = await measure(b, seconds);
  const delivered = tabs.reduce((s, t) => s + t.events(), 0);
  await Promise.all(tabs.map((t) => t.stop()));
  await sleep(1000);
  const noneAgain = await measure(b, seconds);
  await Promise.all(live.map((name) => fetch(`${b.operator.signalUrl}/runs/${ns}/${name}/STOP`, { method: 'POST' })));
  b.details.console = { none, watched, noneAgain, eventsDelivered: delivered };
  if (watched.signalApiRequests > Math.max(none.signalApiRequests, noneAgain.signalApiRequests)) {
    b.failures.push(`console: the signal server made ${watched.signalApiRequests} API requests with ${viewers} viewers, ` +
      `${none.signalApiRequests} and ${noneAgain.signalApiRequests} with none; viewers must cost the API server nothing`);
  }
  if (delivered === 0) b.failures.push('console: the viewers received no events');
  const note = (w: Window, n: number) => `${w.seconds.toFixed(0)}s, ${n} viewers, ${runs} daemon runs changing`;
  return [
    value('8', 'console: signal server CPU, no viewer', '% of a core', none.signalCpuPct, 1, note(none, 0)),
    value('8', `console: signal server CPU, ${viewers} viewers`, '% of a core', watched.signalCpuPct, 1, note(watched, viewers)),
    value('8', 'console: signal server CPU, no viewer again (noise)', '% of a core', noneAgain.signalCpuPct, 1, note(noneAgain, 0)),
    value('8', 'console: API server requests/s, no viewer', 'req/s', none.apiPerSecond, 1, note(none, 0)),
    value('8', `console: API server requests/s, ${viewers} viewers`, 'req/s', watched.apiPerSecond, 1, note(watched, viewers)),
    value('8', 'console: API server requests/s, no viewer again (noise)', 'req/s', noneAgain.apiPerSecond, 1, note(noneAgain, 0)),
    value('8', `console: signal server API requests, ${viewers} viewers`, 'requests', watched.signalApiRequests, 1, note(watched, viewers)),
    value('8', `console: events delivered to ${viewers} viewers`, 'events', delivered, 1, note(watched, viewers)),
  ];
}
