// @ts-check
// The chaosrun console: a list of runs and a page per run, kept live by the signal server's event
// stream (GET runs/stream). It holds no state of its own beyond what the stream says: every control is a
// call of the signal server's HTTP API (the same routes, checks and audit as curl). Plain JavaScript,
// no dependency and no build: what is in this file is what the browser runs. Every URL is relative,
// so it works behind kubectl port-forward or any path prefix.

/** @typedef {{iteration: number, stepIndex: number, step: string, job: string, result: 'Running'|'Succeeded'|'Failed'|'Aborted', startTime: string, endTime?: string, message?: string}} StepRecord */
/** @typedef {{time: string, kind: 'Signal'|'GateHeld'|'GateReleased'|'GateStopped', signal?: string, pauseUntil?: string, source?: string, gate?: string, message?: string}} Transition */
/** @typedef {{type: string, status: string, reason: string, message: string, lastTransitionTime: string}} Condition */
/**
 * A stretch of time a lasting fault was in force (the view's faultSpans): no until and no reason while it still is.
 * @typedef {{iteration: number, stepIndex: number, step: string, kind: string, pods: number, since: string, until?: string,
 *   reason?: 'Paused'|'Stopped'|'StepEnded'|'Retargeted'|'HolderGone'}} FaultSpan
 */
/**
 * @typedef {{namespace: string, name: string, created?: string, signal: 'RUN'|'PAUSE'|'STOP', pauseUntil?: string,
 *   phase: string, finished: boolean, progress?: string, iteration?: number, step?: {index: number, name: string},
 *   steps: string[], iterations: number|null, waitDuration: string, gate?: {gate: string, message: string, since?: string},
 *   nextStepTime?: string, startTime?: string, completionTime?: string,
 *   counts?: {succeeded: number, failed: number, aborted: number}, history: StepRecord[], transitions: Transition[],
 *   conditions: Condition[], report?: Record<string, unknown>,
 *   faults?: {step: string, kind: string, targets: Array<{namespace: string, pod: string, node: string}>, since: string, leaseSeconds: number},
 *   faultSpans: FaultSpan[]}} RunView
 */

const AUTH_MODE = document.documentElement.dataset.auth || 'none';
const TOKEN_KEY = 'chaosrun-console-token';
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  /** @type {Map<string, RunView>} */ runs: new Map(),
  /** @type {Map<string, {patch: boolean}>} */ access: new Map(),
  connected: false,
  synced: false,
  /** Namespace and phase filters of the list, and whether finished runs are unfolded. */
  filter: { namespace: '', phase: '' },
};

// ---------- small helpers ----------

/**
 * Builds an element: h('a', {href: '#'}, 'text', child).
 * @param {string} tag @param {Record<string, unknown>} [attrs] @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** An SVG text element. @param {Record<string, string|number>} attrs @param {string} content */
function stext(attrs, content) {
  const el = s('text', attrs);
  el.textContent = content;
  return el;
}

/** @param {string} tag @param {Record<string, string|number>} attrs @param {string} [title] */
function s(tag, attrs, title) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (title) { const t = document.createElementNS(SVG, 'title'); t.textContent = title; el.append(t); }
  return el;
}

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const keyOf = (/** @type {{namespace: string, name: string}} */ r) => `${r.namespace}/${r.name}`;
const enc = encodeURIComponent;

/** "3s", "4m 10s", "2h 5m", "3d 4h" */
function span(ms) {
  const t = Math.max(0, Math.round(ms / 1000));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${t % 60 ? ` ${t % 60}s` : ''}`;
  if (t < 86400) return `${Math.floor(t / 3600)}h${Math.floor(t / 60) % 60 ? ` ${Math.floor(t / 60) % 60}m` : ''}`;
  return `${Math.floor(t / 86400)}d${Math.floor(t / 3600) % 24 ? ` ${Math.floor(t / 3600) % 24}h` : ''}`;
}
const clock = (/** @type {string|number} */ t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const stamp = (/** @type {string} */ t) => new Date(t).toLocaleString();

function notice(/** @type {string} */ text, kind = 'error') {
  const n = $('notice');
  n.textContent = text;
  n.className = `notice notice-${kind}`;
  n.hidden = !text;
}

// ---------- talking to the signal server ----------

function token() { return sessionStorage.getItem(TOKEN_KEY) ?? ''; }
function authHeaders() {
  const t = token();
  /** @type {Record<string, string>} */ const headers = {};
  if (AUTH_MODE === 'kubernetes' && t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

/** Asks for a token (with --auth=kubernetes), then reconnects. */
function askToken(/** @type {string} */ why) {
  const dialog = /** @type {HTMLDialogElement} */ ($('token-dialog'));
  const err = $('token-error');
  err.textContent = why;
  err.hidden = !why;
  if (!dialog.open) dialog.showModal();
}

/**
 * POSTs a signal; answers the server's message. Errors (403, 409, ...) come back as their one-line message.
 * @param {string} path @returns {Promise<{ok: boolean, text: string}>}
 */
async function post(path) {
  const res = await fetch(path, { method: 'POST', headers: authHeaders() });
  const text = await res.text();
  if (res.status === 401) askToken('The token was refused; nothing was changed.');
  if (res.ok) return { ok: true, text };
  try { return { ok: false, text: /** @type {{error: string}} */ (JSON.parse(text)).error }; } catch { return { ok: false, text: text.trim() }; }
}

// The live stream: fetch (so the token goes in a header, never in the URL) read as server-sent events.
let streamAbort = /** @type {AbortController|null} */ (null);
let retryMs = 1000;
let retryTimer = /** @type {number|undefined} */ (undefined);

function setConnected(/** @type {boolean} */ on, /** @type {string} */ text) {
  state.connected = on;
  const c = $('conn');
  c.textContent = text;
  c.className = `conn ${on ? 'conn-live' : 'conn-lost'}`;
  document.body.classList.toggle('offline', !on);
  scheduleRender(); // controls follow the connection (disabled while it is down)
}

async function connect() {
  clearTimeout(retryTimer);
  streamAbort?.abort();
  const abort = new AbortController();
  streamAbort = abort;
  if (AUTH_MODE === 'kubernetes' && !token()) { setConnected(false, 'not signed in'); askToken(''); return; }
  try {
    const res = await fetch('runs/stream', { headers: { ...authHeaders(), Accept: 'text/event-stream' }, signal: abort.signal, cache: 'no-store' });
    if (res.status === 401) { setConnected(false, 'not signed in'); askToken('The token was refused (expired, or not a Kubernetes token).'); return; }
    if (!res.ok || !res.body) throw new Error(`the stream answered ${res.status}`);
    retryMs = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (data.length) onEvent(event, JSON.parse(data.join('\n')));
      }
    }
  } catch (err) {
    if (abort.signal.aborted) return;
    console.warn('event stream failed', err);
  }
  if (abort.signal.aborted) return;
  setConnected(false, `connection lost — reconnecting in ${Math.round(retryMs / 1000)}s`);
  retryTimer = window.setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 10_000);
}

/** @param {string} event @param {any} data */
function onEvent(event, data) {
  if (event === 'snapshot') {
    state.runs = new Map(data.runs.map((/** @type {RunView} */ r) => [keyOf(r), r]));
    state.access = new Map(Object.entries(data.access));
    state.synced = true;
    setConnected(true, 'live');
  } else if (event === 'run') state.runs.set(keyOf(data), data);
  else if (event === 'delete') state.runs.delete(keyOf(data));
  else if (event === 'access') state.access.set(data.namespace, { patch: data.patch });
  scheduleRender();
}

// ---------- rendering ----------

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

/** The route: '#/' (the list) or '#/runs/NAMESPACE/NAME'. */
function route() {
  const m = location.hash.match(/^#\/runs\/([^/]+)\/([^/]+)$/);
  return m ? { page: 'run', namespace: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) } : { page: 'list' };
}

let mountedRoute = '';
function render() {
  const r = route();
  const id = r.page === 'run' ? `run:${r.namespace}/${r.name}` : 'list';
  const main = $('main');
  if (id !== mountedRoute) {
    mountedRoute = id;
    main.replaceChildren(r.page === 'run' ? runPageShell(/** @type {string} */ (r.namespace), /** @type {string} */ (r.name)) : listShell());
  }
  if (r.page === 'run') updateRunPage(/** @type {string} */ (r.namespace), /** @type {string} */ (r.name));
  else updateList();
  updateStopAll();
}

/** Why a control is disabled for this run, or '' when it may be used. */
function blocked(/** @type {RunView} */ run, /** @type {string} */ signal) {
  if (!state.connected) return 'not connected to the signal server';
  if (run.finished) return `the run is ${run.phase}; signals no longer apply`;
  if (!state.access.get(run.namespace)?.patch) return `your RBAC does not allow patching chaosruns in ${run.namespace}`;
  if (run.signal === 'STOP') return 'STOP was sent; it is final';
  if (signal === run.signal && signal !== 'PAUSE') return `the signal is already ${signal}`;
  return '';
}

/** The candidates of "Stop everything": every unfinished run shown that is not already stopping. */
const stoppable = () => [...state.runs.values()].filter((r) => !r.finished && r.signal !== 'STOP');

function updateStopAll() {
  const b = /** @type {HTMLButtonElement} */ ($('stop-all'));
  const runs = stoppable();
  const denied = runs.filter((r) => !state.access.get(r.namespace)?.patch);
  const why = !state.connected ? 'not connected to the signal server'
    : runs.length === 0 ? 'no unfinished runs'
    : denied.length ? `your RBAC does not allow patching ${denied.length === 1 ? keyOf(denied[0]) : `${denied.length} of the runs`}` : '';
  b.disabled = why !== '';
  b.title = why || `send STOP to all ${runs.length} unfinished runs`;
  b.textContent = runs.length ? `Stop everything (${runs.length})` : 'Stop everything';
  $('forget').hidden = AUTH_MODE !== 'kubernetes' || !token();
}

async function signal(/** @type {RunView} */ run, /** @type {string} */ sig, forDuration = '') {
  const q = forDuration ? `?for=${enc(forDuration)}` : '';
  const r = await post(`runs/${enc(run.namespace)}/${enc(run.name)}/${sig}${q}`);
  notice(r.ok ? `${sig}${forDuration ? ` for ${forDuration}` : ''} sent to ${keyOf(run)}` : `${sig} refused: ${r.text}`, r.ok ? 'ok' : 'error');
}

// The list

function listShell() {
  const ns = h('select', { id: 'filter-ns', 'aria-label': 'namespace', onchange: (/** @type {Event} */ e) => { state.filter.namespace = /** @type {HTMLSelectElement} */ (e.target).value; updateList(); } });
  const ph = h('select', { id: 'filter-phase', 'aria-label': 'phase', onchange: (/** @type {Event} */ e) => { state.filter.phase = /** @type {HTMLSelectElement} */ (e.target).value; updateList(); } },
    h('option', { value: '' }, 'all phases'), ...['Pending', 'Running', 'Paused', 'Completed', 'Stopped', 'Failed'].map((p) => h('option', { value: p }, p)));
  /** @type {HTMLSelectElement} */ (ph).value = state.filter.phase;
  return h('section', { class: 'list' },
    h('div', { class: 'toolbar' }, h('h1', {}, 'Runs'), h('span', { class: 'spacer' }), ns, ph),
    h('p', { id: 'access-note', class: 'access-note', hidden: true }),
    h('div', { id: 'live-runs' }),
    h('details', { id: 'finished', class: 'finished' }, h('summary', { id: 'finished-summary' }, 'Finished runs'), h('div', { id: 'finished-runs' })));
}

function updateList() {
  const nsSelect = /** @type {HTMLSelectElement|null} */ (document.getElementById('filter-ns'));
  if (!nsSelect) return;
  const namespaces = [...new Set([...state.runs.values()].map((r) => r.namespace))].sort();
  const want = ['', ...namespaces];
  if ([...nsSelect.options].map((o) => o.value).join('\n') !== want.join('\n')) {
    nsSelect.replaceChildren(...want.map((n) => h('option', { value: n }, n || 'all namespaces')));
    nsSelect.value = namespaces.includes(state.filter.namespace) ? state.filter.namespace : '';
  }
  const runs = [...state.runs.values()]
    .filter((r) => (!state.filter.namespace || r.namespace === state.filter.namespace) && (!state.filter.phase || r.phase === state.filter.phase))
    .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  const readOnly = [...new Set(runs.filter((r) => !r.finished && !state.access.get(r.namespace)?.patch).map((r) => r.namespace))];
  const note = $('access-note');
  note.hidden = readOnly.length === 0;
  note.textContent = `Read-only: your RBAC does not allow patching chaosruns in ${readOnly.join(', ')}, so the controls there are disabled.`;
  const live = runs.filter((r) => !r.finished);
  const done = runs.filter((r) => r.finished);
  $('live-runs').replaceChildren(live.length ? runTable(live) : h('p', { class: 'muted empty' }, state.synced ? 'No live runs in scope.' : 'Waiting for the stream…'));
  $('finished-summary').textContent = `Finished runs (${done.length})`;
  $('finished-runs').replaceChildren(done.length ? runTable(done) : h('p', { class: 'muted' }, 'None.'));
}

function runTable(/** @type {RunView[]} */ runs) {
  const now = Date.now();
  return h('table', { class: 'runs' },
    h('thead', {}, h('tr', {}, ...['Run', 'Signal', 'Phase', 'Progress', 'Step', 'Gate', 'Next step', 'Age', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, ...runs.map((r) => {
      const next = r.nextStepTime && !r.finished ? Date.parse(r.nextStepTime) - now : NaN;
      return h('tr', { 'data-run': keyOf(r) },
        h('td', { 'data-label': 'Run' }, h('a', { href: `#/runs/${enc(r.namespace)}/${enc(r.name)}`, class: 'run-link' }, h('span', { class: 'ns' }, `${r.namespace}/`), r.name)),
        h('td', { 'data-label': 'Signal' }, signalBadge(r)),
        h('td', { 'data-label': 'Phase' }, h('span', { class: `phase phase-${r.phase}` }, r.phase)),
        h('td', { 'data-label': 'Progress' }, r.progress ?? '—'),
        h('td', { 'data-label': 'Step' }, r.finished ? '—' : r.step?.name ?? '—'),
        h('td', { 'data-label': 'Gate' }, r.gate ? h('span', { class: 'gate-held', title: r.gate.message }, `held by ${r.gate.gate}`) : h('span', { class: 'muted' }, 'clear')),
        h('td', { 'data-label': 'Next step', 'data-next': r.finished ? undefined : r.nextStepTime }, next > 0 ? `in ${span(next)}` : '—'),
        h('td', { 'data-label': 'Age', 'data-age': r.created }, r.created ? span(now - Date.parse(r.created)) : '—'),
        h('td', { class: 'row-controls' }, r.finished ? '' : h('div', { class: 'row-buttons' }, ...['PAUSE', 'RUN', 'STOP'].map((sig) => controlButton(r, sig)))));
    })));
}

function signalBadge(/** @type {RunView} */ r) {
  const until = r.signal === 'PAUSE' && r.pauseUntil ? ` until ${clock(r.pauseUntil)}` : '';
  return h('span', { class: `signal signal-${r.signal}` }, `${r.signal}${until}`);
}

function controlButton(/** @type {RunView} */ run, /** @type {string} */ sig, label = sig) {
  const why = blocked(run, sig);
  return h('button', {
    type: 'button', class: `ctl ctl-${sig}`, disabled: why !== '', title: why || `send ${sig} to ${keyOf(run)}`,
    'data-signal': sig, onclick: () => signal(run, sig),
  }, label);
}

// A run's page

function runPageShell(/** @type {string} */ namespace, /** @type {string} */ name) {
  const dur = h('input', { id: 'pause-for', type: 'text', value: '10m', size: 6, 'aria-label': 'pause duration', pattern: '[0-9hms. ]+' });
  return h('section', { class: 'run-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← all runs')),
    h('div', { class: 'run-head' }, h('h1', {}, h('span', { class: 'ns' }, `${namespace}/`), name), h('span', { id: 'run-badges', class: 'badges' })),
    h('p', { id: 'run-summary', class: 'summary' }),
    h('div', { class: 'controls', id: 'controls' },
      h('button', { type: 'button', id: 'ctl-RUN', class: 'ctl ctl-RUN', onclick: () => current() && signal(/** @type {RunView} */ (current()), 'RUN') }, 'RUN'),
      h('button', { type: 'button', id: 'ctl-PAUSE', class: 'ctl ctl-PAUSE', onclick: () => current() && signal(/** @type {RunView} */ (current()), 'PAUSE') }, 'PAUSE'),
      h('span', { class: 'pause-for' },
        h('button', { type: 'button', id: 'ctl-PAUSE-for', class: 'ctl ctl-PAUSE', onclick: () => current() && signal(/** @type {RunView} */ (current()), 'PAUSE', /** @type {HTMLInputElement} */ (dur).value.trim()) }, 'PAUSE for'),
        dur),
      h('button', { type: 'button', id: 'ctl-STOP', class: 'ctl ctl-STOP', onclick: () => current() && signal(/** @type {RunView} */ (current()), 'STOP') }, 'STOP'),
      h('span', { id: 'controls-why', class: 'why muted' })),
    h('div', { id: 'faults', class: 'faults' }),
    h('h2', {}, 'Timeline'),
    h('div', { id: 'timeline', class: 'timeline' }),
    h('div', { class: 'legend' }, ...[['Succeeded', 'succeeded'], ['Failed', 'failed'], ['Aborted', 'aborted'], ['Running', 'running'], ['Wait', 'wait'], ['Paused', 'paused'], ['Gated', 'gated'], ['STOP', 'stop'], ['Fault in force', 'fault']]
      .map(([label, cls]) => h('span', { class: `key key-${cls}` }, label))),
    h('div', { class: 'cols' },
      h('div', {}, h('h2', {}, 'Report'), h('div', { id: 'report' })),
      h('div', {}, h('h2', {}, 'Conditions'), h('div', { id: 'conditions' }))),
    h('h2', {}, 'Transitions'), h('div', { id: 'transitions' }),
    h('section', { id: 'fault-marks', hidden: true }, h('h2', {}, 'Lasting faults'), h('div', { id: 'fault-spans' })),
    h('h2', {}, 'Steps'), h('div', { id: 'steps' }),
    h('div', { id: 'step-log', class: 'step-log', hidden: true }),
    h('h2', {}, 'Events'),
    h('p', {}, h('button', { type: 'button', id: 'load-events', onclick: () => loadEvents(namespace, name) }, 'Show the last Events')),
    h('div', { id: 'events' }));
}

/**
 * GETs a JSON route of the run (Events, a step's log): asked for by a button, never live.
 * @param {string} path @returns {Promise<any>}
 */
async function getJson(path) {
  const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (res.status === 401) askToken('The token was refused.');
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

async function loadEvents(/** @type {string} */ namespace, /** @type {string} */ name) {
  const box = $('events');
  if (!box) return;
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const { events } = await getJson(`runs/${enc(namespace)}/${enc(name)}/events`);
    box.replaceChildren(events.length
      ? wrap(h('table', { class: 'plain events' },
        h('thead', {}, h('tr', {}, ...['Time', 'Type', 'Reason', 'Message', 'From'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...events.map((/** @type {{type: string, reason: string, message: string, count: number, time: string, from: string}} */ e) => h('tr', {},
          h('td', { class: 'time' }, e.time ? clock(e.time) : ''), h('td', {}, h('span', { class: `evtype evtype-${e.type}` }, e.type)),
          h('td', {}, e.reason), h('td', { class: 'msg' }, `${e.message}${e.count > 1 ? ` (×${e.count})` : ''}`), h('td', { class: 'muted' }, e.from))))))
      : h('p', { class: 'muted' }, 'No Events (Kubernetes keeps them for an hour by default).'));
  } catch (err) {
    box.replaceChildren(h('p', { class: 'error' }, `Events: ${/** @type {Error} */ (err).message}`));
  }
}

async function loadLog(/** @type {RunView} */ run, /** @type {StepRecord} */ step) {
  const box = $('step-log');
  if (!box) return;
  box.hidden = false;
  const title = h('h3', {}, `Log of ${step.step} (iteration ${step.iteration}, job ${step.job})`);
  const close = h('button', { type: 'button', class: 'quiet close', onclick: () => { box.hidden = true; } }, 'Close');
  box.replaceChildren(h('div', { class: 'log-head' }, title, close), h('p', { class: 'muted' }, 'Loading…'));
  try {
    const r = await getJson(`runs/${enc(run.namespace)}/${enc(run.name)}/logs?job=${enc(step.job)}`);
    box.replaceChildren(h('div', { class: 'log-head' }, title, h('span', { class: 'muted' }, `pod ${r.pod}`), close), h('pre', { class: 'log' }, r.log || '(empty)'));
  } catch (err) {
    box.replaceChildren(h('div', { class: 'log-head' }, title, close), h('p', { class: 'error' }, /** @type {Error} */ (err).message));
  }
}

/** The run the page shows, from the stream. */
function current() {
  const r = route();
  return r.page === 'run' ? state.runs.get(`${r.namespace}/${r.name}`) : undefined;
}

function updateRunPage(/** @type {string} */ namespace, /** @type {string} */ name) {
  const run = state.runs.get(`${namespace}/${name}`);
  if (!run) {
    $('run-summary').textContent = state.synced ? `No run ${namespace}/${name} in scope (deleted, unpublished, or not visible to you).` : 'Waiting for the stream…';
    for (const sig of ['RUN', 'PAUSE', 'PAUSE-for', 'STOP']) /** @type {HTMLButtonElement} */ ($(`ctl-${sig}`)).disabled = true;
    return;
  }
  $('run-badges').replaceChildren(signalBadge(run), h('span', { class: `phase phase-${run.phase}` }, run.phase),
    run.gate ? h('span', { class: 'gate-held', title: run.gate.message }, `held by gate ${run.gate.gate}`) : '');
  const running = run.conditions.find((c) => c.type === 'Running');
  $('run-summary').textContent = [
    run.progress ? `iteration ${run.progress}` : '', run.step && !run.finished ? `step ${run.step.name}` : '',
    run.nextStepTime && !run.finished && Date.parse(run.nextStepTime) > Date.now() ? `next step in ${span(Date.parse(run.nextStepTime) - Date.now())}` : '',
    running?.message ?? '',
  ].filter(Boolean).join(' · ');
  let why = '';
  for (const sig of ['RUN', 'PAUSE', 'STOP']) {
    const reason = blocked(run, sig);
    const b = /** @type {HTMLButtonElement} */ ($(`ctl-${sig}`));
    b.disabled = reason !== '';
    b.title = reason || `send ${sig}`;
    if (sig === 'PAUSE') {
      const f = /** @type {HTMLButtonElement} */ ($('ctl-PAUSE-for'));
      f.disabled = reason !== '';
      f.title = reason || 'a timed pause: the operator resumes the run by itself';
    }
    if (reason && sig === 'STOP') why = reason;
  }
  $('controls-why').textContent = why;
  // The running step's lasting faults while the node agents hold them (status.faults).
  const f = run.faults;
  $('faults').replaceChildren(f && !run.finished
    ? h('p', { class: 'faults-in-force' }, h('strong', {}, `${f.kind} in force`), ` on ${f.targets.map((t) => `${t.namespace}/${t.pod} (${t.node})`).join(', ')}`,
      ` for ${span(Date.now() - Date.parse(f.since))}, lease ${f.leaseSeconds}s`)
    : '');
  drawTimeline(run);
  const spans = run.faultSpans;
  $('fault-marks').hidden = spans.length === 0;
  $('fault-spans').replaceChildren(spans.length
    ? wrap(h('table', { class: 'plain fault-spans' },
      h('thead', {}, h('tr', {}, ...['Iteration', 'Step', 'Fault', 'Applied', 'Reverted', 'Why', 'In force'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...[...spans].reverse().map((f) => h('tr', { 'data-since': f.since },
        h('td', {}, String(f.iteration)), h('td', {}, f.step), h('td', {}, faultText(f)),
        h('td', { class: 'time' }, clock(f.since)), h('td', { class: 'time' }, f.until ? clock(f.until) : 'in force'),
        h('td', { class: 'muted' }, f.reason ? REVERTED_BY[f.reason] : ''),
        h('td', {}, span((f.until ? Date.parse(f.until) : Date.now()) - Date.parse(f.since))))))))
    : '');
  $('report').replaceChildren(run.report ? reportTable(run.report) : h('p', { class: 'muted' }, 'Written when the run ends.'));
  $('conditions').replaceChildren(run.conditions.length
    ? wrap(h('table', { class: 'plain' }, h('tbody', {}, ...run.conditions.map((c) => h('tr', {},
      h('th', {}, c.type), h('td', {}, h('span', { class: `cond cond-${c.status}` }, c.status)), h('td', {}, c.reason), h('td', { class: 'msg' }, c.message))))))
    : h('p', { class: 'muted' }, 'None yet.'));
  $('transitions').replaceChildren(run.transitions.length
    ? wrap(h('table', { class: 'plain' }, h('tbody', {}, ...[...run.transitions].reverse().map((t) => h('tr', {},
      h('td', { class: 'time' }, clock(t.time)), h('td', {}, transitionText(t)), h('td', { class: 'muted' }, t.source ?? t.message ?? ''))))))
    : h('p', { class: 'muted' }, 'No signal changes or gate holds yet.'));
  $('steps').replaceChildren(run.history.length
    ? wrap(h('table', { class: 'plain steps' },
      h('thead', {}, h('tr', {}, ...['Iteration', 'Step', 'Result', 'Started', 'Took', 'Job', 'Message', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...[...run.history].reverse().map((e) => h('tr', {},
        h('td', {}, String(e.iteration)), h('td', {}, e.step), h('td', {}, h('span', { class: `result result-${e.result}` }, e.result)),
        h('td', { class: 'time' }, clock(e.startTime)), h('td', {}, span((e.endTime ? Date.parse(e.endTime) : Date.now()) - Date.parse(e.startTime))),
        h('td', { class: 'job' }, e.job), h('td', { class: 'msg' }, e.message ?? ''),
        h('td', {}, h('button', { type: 'button', class: 'ctl log-button', 'data-job': e.job, onclick: () => loadLog(run, e) }, 'log')))))))
    : h('p', { class: 'muted' }, 'No step has started yet.'));
}

/** A table that scrolls sideways on its own when the screen is too narrow for it. */
const wrap = (/** @type {HTMLElement} */ table) => h('div', { class: 'table-wrap' }, table);

/** Text cut to what fits in `px` pixels of an 11px label. */
const fit = (/** @type {string} */ text, /** @type {number} */ px) => {
  const n = Math.floor((px - 8) / 6.5);
  return text.length <= n ? text : n > 2 ? `${text.slice(0, n - 1)}…` : '';
};

/** What reverted a fault, as the timeline and the table say it (status.history[].faults[].reason). */
const REVERTED_BY = {
  Paused: 'PAUSE', Stopped: 'STOP (or a stop gate)', StepEnded: 'the step ended', Retargeted: 'its holder named other targets',
  HolderGone: 'its holder pod went away',
};
const faultText = (/** @type {FaultSpan} */ f) => `${f.kind} on ${f.pods} pod${f.pods === 1 ? '' : 's'}`;

function transitionText(/** @type {Transition} */ t) {
  if (t.kind === 'Signal') return `${t.signal}${t.pauseUntil ? ` until ${clock(t.pauseUntil)}` : ''}`;
  if (t.kind === 'GateHeld') return `gate ${t.gate} holds the run`;
  if (t.kind === 'GateReleased') return `gate ${t.gate ?? ''} released`;
  return `gate ${t.gate} stopped the run`;
}

function reportTable(/** @type {Record<string, unknown>} */ r) {
  const rows = [['Result', r.reason], ['Message', r.message], ['Iterations completed', r.iterationsCompleted],
    ['Steps succeeded / failed / aborted', `${r.stepsSucceeded} / ${r.stepsFailed} / ${r.stepsAborted}`],
    ['Duration', span(Number(r.durationSeconds) * 1000)], ['Time gated', span(Number(r.gatedSeconds) * 1000)]];
  return h('table', { class: 'plain' }, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, String(k)), h('td', {}, String(v ?? '—'))))));
}

/**
 * The timeline, to scale: the steps as bars coloured by result with the waits between them, the spans the
 * run was paused (signal or timed pause) and gated, and where STOP landed.
 * @param {RunView} run
 */
function drawTimeline(run) {
  const box = $('timeline');
  const width = Math.max(320, box.clientWidth || 800);
  const now = Date.now();
  const start = Math.min(...[run.startTime, run.created, ...run.history.map((e) => e.startTime), ...run.transitions.map((t) => t.time)]
    .filter((t) => t !== undefined).map((t) => Date.parse(/** @type {string} */ (t))));
  if (!Number.isFinite(start)) { box.replaceChildren(h('p', { class: 'muted' }, 'Nothing has happened yet.')); return; }
  const end = Math.max(run.completionTime ? Date.parse(run.completionTime) : now, start + 1000);
  const left = 8, right = 8, rowH = 26, top = 6;
  const x = (/** @type {number} */ t) => left + ((t - start) / (end - start)) * (width - left - right);
  // A row for lasting faults only when the run has had one.
  const faultRow = run.faultSpans.length ? 22 : 0;
  const rows = { steps: top, faults: top + rowH + 6, holds: top + rowH + 6 + faultRow, axis: top + 2 * rowH + 14 + faultRow };
  const height = rows.axis + 18;
  const svg = s('svg', { class: 'tl', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `timeline of ${keyOf(run)}` });

  // Steps, and the waits between consecutive steps.
  const steps = [...run.history].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
  steps.forEach((e, i) => {
    const a = Date.parse(e.startTime);
    const b = e.endTime ? Date.parse(e.endTime) : (run.completionTime ? Date.parse(run.completionTime) : now);
    const next = steps[i + 1];
    if (next && e.endTime) {
      const w0 = x(b), w1 = x(Date.parse(next.startTime));
      if (w1 - w0 > 1) svg.append(s('line', { x1: w0, x2: w1, y1: rows.steps + rowH / 2, y2: rows.steps + rowH / 2, class: 'tl-wait' }, `wait ${span(Date.parse(next.startTime) - b)}`));
    }
    const bx = x(a), bw = Math.max(2, x(b) - bx);
    const g = s('g', { class: `tl-step tl-${e.result.toLowerCase()}`, 'data-step': `${e.iteration}/${e.stepIndex}` });
    g.append(s('rect', { x: bx, y: rows.steps, width: bw, height: rowH, rx: 3 },
      `${e.step} (iteration ${e.iteration}): ${e.result}, ${span(b - a)}${e.message ? ` — ${e.message}` : ''}`));
    const label = fit(e.step, bw);
    if (label) g.append(stext({ x: bx + 4, y: rows.steps + rowH / 2 + 4, class: 'tl-label' }, label));
    svg.append(g);
  });

  // Pauses (from the recorded signals) and gate holds.
  /** @type {Array<{from: number, to: number, cls: string, label: string}>} */
  const holds = [];
  let pause = /** @type {Transition|undefined} */ (undefined);
  let gate = /** @type {Transition|undefined} */ (undefined);
  const endOf = (/** @type {number} */ t) => Math.min(t, end);
  for (const t of run.transitions) {
    const at = Date.parse(t.time);
    if (t.kind === 'Signal') {
      if (pause) holds.push({ from: Date.parse(pause.time), to: at, cls: 'paused', label: pauseLabel(pause) });
      pause = t.signal === 'PAUSE' ? t : undefined;
      if (t.signal === 'STOP') svg.append(stopMark(x(at), rows, rowH, `STOP at ${clock(at)}${t.source ? ` (${t.source})` : ''}`));
    } else if (t.kind === 'GateHeld') gate = t;
    else if (t.kind === 'GateReleased' && gate) { holds.push({ from: Date.parse(gate.time), to: at, cls: 'gated', label: `gate ${gate.gate}: ${gate.message ?? ''}` }); gate = undefined; }
    else if (t.kind === 'GateStopped') svg.append(stopMark(x(at), rows, rowH, `stopped by gate ${t.gate} at ${clock(at)}: ${t.message ?? ''}`));
  }
  if (pause) holds.push({ from: Date.parse(pause.time), to: endOf(now), cls: 'paused', label: pauseLabel(pause) });
  if (gate) holds.push({ from: Date.parse(gate.time), to: endOf(now), cls: 'gated', label: `gate ${gate.gate}: ${gate.message ?? ''}` });
  for (const hld of holds) {
    const hx = x(hld.from), hw = Math.max(2, x(hld.to) - hx);
    const g = s('g', { class: `tl-hold tl-${hld.cls}` });
    g.append(s('rect', { x: hx, y: rows.holds, width: hw, height: rowH - 6, rx: 3 }, `${hld.label}, ${span(hld.to - hld.from)}`));
    const label = fit(hld.label, hw);
    if (label) g.append(stext({ x: hx + 4, y: rows.holds + rowH / 2 + 1, class: 'tl-label' }, label));
    svg.append(g);
  }

  // Lasting faults: a bar while in force, marked where it was applied and where it was reverted.
  run.faultSpans.forEach((f, i) => {
    const a = Date.parse(f.since);
    const b = f.until ? Date.parse(f.until) : endOf(now);
    const fx = x(a), fw = Math.max(2, x(b) - fx), y = rows.faults + 4;
    const what = `${faultText(f)} (step ${f.step}, iteration ${f.iteration})`;
    const g = s('g', { class: `tl-fault${f.until ? '' : ' tl-fault-live'}`, 'data-fault': i, 'data-since': f.since, ...(f.until ? { 'data-until': f.until } : {}) });
    g.append(s('rect', { x: fx, y, width: fw, height: 10, rx: 2, class: 'tl-fault-bar' },
      `${what} in force ${span(b - a)}${f.until ? '' : ' so far'}`));
    g.append(s('path', { d: `M${fx - 4},${rows.faults - 2} l4,5 l4,-5 z M${fx},${rows.faults + 2} v14`, class: 'tl-fault-applied' },
      `${what} applied at ${clock(a)}`));
    if (f.until && f.reason) {
      g.append(s('path', { d: `M${fx + fw - 4},${rows.faults + 20} l4,-5 l4,5 z M${fx + fw},${rows.faults + 16} v-14`, class: 'tl-fault-reverted' },
        `${what} reverted at ${clock(b)}: ${REVERTED_BY[f.reason]}`));
    }
    svg.append(g);
  });

  // The time axis: start, a few ticks, end (or now).
  svg.append(s('line', { x1: left, x2: width - right, y1: rows.axis, y2: rows.axis, class: 'tl-axis' }));
  const ticks = Math.max(2, Math.min(6, Math.floor(width / 140), Math.floor((end - start) / 1000)));
  let lastLabel = '';
  for (let i = 0; i <= ticks; i++) {
    const t = start + ((end - start) * i) / ticks;
    const tx = x(t);
    const tickLabel = i === ticks && !run.completionTime ? 'now' : clock(t);
    if (tickLabel === lastLabel) continue;
    lastLabel = tickLabel;
    svg.append(s('line', { x1: tx, x2: tx, y1: rows.axis, y2: rows.axis + 4, class: 'tl-axis' }));
    svg.append(stext({ x: tx, y: rows.axis + 15, class: `tl-tick${i === 0 ? ' first' : i === ticks ? ' last' : ''}` }, tickLabel));
  }
  box.replaceChildren(svg);
}

function pauseLabel(/** @type {Transition} */ t) {
  return `${t.pauseUntil ? `timed pause until ${clock(t.pauseUntil)}` : 'PAUSE'}${t.source ? ` (${t.source})` : ''}`;
}

function stopMark(/** @type {number} */ px, /** @type {{steps: number, axis: number}} */ rows, /** @type {number} */ _rowH, /** @type {string} */ title) {
  const g = s('g', { class: 'tl-stop' });
  g.append(s('line', { x1: px, x2: px, y1: rows.steps - 4, y2: rows.axis, class: 'tl-stop-line' }, title));
  g.append(s('path', { d: `M${px - 5},${rows.axis} l5,-7 l5,7 z`, class: 'tl-stop-head' }, title));
  return g;
}

/** Once a second: the relative times in place (no rebuild, so a click in progress is never lost). */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-age]')) el.textContent = span(now - Date.parse(/** @type {HTMLElement} */ (el).dataset.age ?? ''));
  for (const el of document.querySelectorAll('[data-next]')) {
    const left = Date.parse(/** @type {HTMLElement} */ (el).dataset.next ?? '') - now;
    el.textContent = left > 0 ? `in ${span(left)}` : '—';
  }
  const run = current();
  if (run && !run.finished && mountedRoute === `run:${keyOf(run)}`) updateRunPage(run.namespace, run.name);
}

// ---------- Stop everything, the token, start-up ----------

function openStopAll() {
  const runs = stoppable();
  if (!runs.length) return;
  $('confirm-title').textContent = `Stop ${runs.length} run${runs.length === 1 ? '' : 's'}?`;
  $('confirm-text').textContent = `This sends STOP to every unfinished run in scope: ${runs.length} run${runs.length === 1 ? '' : 's'}. ` +
    'Running steps are aborted and their Jobs deleted. STOP is final: a stopped run cannot be resumed.';
  $('confirm-list').replaceChildren(...runs.slice(0, 12).map((r) => h('li', {}, keyOf(r))), runs.length > 12 ? h('li', {}, `and ${runs.length - 12} more`) : '');
  $('confirm-ok').textContent = `Stop ${runs.length} run${runs.length === 1 ? '' : 's'}`;
  /** @type {HTMLDialogElement} */ ($('confirm-dialog')).showModal();
}

function start() {
  $('stop-all').addEventListener('click', openStopAll);
  $('confirm-cancel').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('confirm-dialog')).close());
  $('confirm-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {HTMLDialogElement} */ ($('confirm-dialog')).close();
    const r = await post('STOP');
    notice(r.ok ? r.text.trim() : `Stop everything refused: ${r.text}`, r.ok ? 'ok' : 'error');
  });
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = /** @type {HTMLTextAreaElement} */ ($('token-input')).value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    /** @type {HTMLTextAreaElement} */ ($('token-input')).value = '';
    /** @type {HTMLDialogElement} */ ($('token-dialog')).close();
    void connect();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.runs.clear();
    streamAbort?.abort();
    setConnected(false, 'not signed in');
    scheduleRender();
    askToken('');
  });
  window.addEventListener('hashchange', () => { notice(''); scheduleRender(); });
  window.addEventListener('resize', scheduleRender);
  // Relative times (age, next step in, the timeline's "now") move on without any server traffic.
  setInterval(() => { if (!document.hidden && state.runs.size) tick(); }, 1000);
  render();
  void connect();
}

start();
