// The signal server's HTTP API as an Express app, pure of process concerns (no listening, no signals).
// It keeps krkn's wire contract (POST /RUN|/PAUSE|/STOP, GET / answering the bare state) but holds no
// state: reads come from the informer cache, every signal is a patch of the ChaosRun's spec.
import express, { type NextFunction, type Request, type Response } from 'express';
import { SIGNALS, type ChaosRun, type Signal } from '../api/types.ts';
import { KubeError, isNotFound, isUnreachable, type KubeClient } from '../kube/client.ts';
import { objectKey } from '../kube/informer.ts';
import { consoleRouter } from '../console/assets.ts';
import { RunHub } from '../console/hub.ts';
import { openStream } from '../console/stream.ts';
import { runEvents, stepLog } from '../console/details.ts';
import type { Logger } from '../log.ts';
import { registry } from '../metrics/registry.ts';
import { signalRequestDuration, signalRequests } from '../metrics/signal.ts';
import type { Access, Auth, User } from './auth.ts';
import { HttpError, badRequest, forbidden, notFound } from './errors.ts';
import { killSwitchNote, type KillSwitchTarget } from './kill-switch.ts';
import { openApiDocument } from './openapi.ts';
import { broadcastRuns, broadcastSignal, pauseUntilFor, publishedRuns, runDetail, runSummary, signalRefusal, signalRun, stateText, type RunCache, type SignalDeps } from './runs.ts';

export interface SignalAppOptions {
  client: KubeClient;
  cache: RunCache;
  auth: Auth;
  log: Logger;
  /** Default 2000 ms. */
  cacheWaitMs?: number;
  /** An event stream ends after this long (the client reconnects, and its access is reviewed again); default 30 min. */
  streamMaxMs?: number;
  /** Where POST /STOP writes the kill-switch record before it patches the runs; none: it writes none. */
  killSwitch?: KillSwitchTarget;
}

/** Every route the app serves; test/signal/openapi.test.ts holds openapi.ts to exactly this list. */
export const ROUTES = [
  { id: 'state', method: 'GET', path: '/', format: 'text' },
  ...SIGNALS.map((s) => ({ id: 'broadcast', method: 'POST', path: `/${s}`, format: 'text' }) as const),
  { id: 'list', method: 'GET', path: '/runs', format: 'json' },
  { id: 'stream', method: 'GET', path: '/runs/stream', format: 'json' },
  { id: 'runStream', method: 'GET', path: '/runs/:namespace/:name/stream', format: 'json' },
  { id: 'events', method: 'GET', path: '/runs/:namespace/:name/events', format: 'json' },
  { id: 'logs', method: 'GET', path: '/runs/:namespace/:name/logs', format: 'json' },
  { id: 'get', method: 'GET', path: '/runs/:namespace/:name', format: 'json' },
  { id: 'signal', method: 'POST', path: '/runs/:namespace/:name/:signal', format: 'json' },
  { id: 'healthz', method: 'GET', path: '/healthz', format: 'text' },
  { id: 'readyz', method: 'GET', path: '/readyz', format: 'text' },
  { id: 'metrics', method: 'GET', path: '/metrics', format: 'text' },
  { id: 'openapi', method: 'GET', path: '/openapi.json', format: 'json' },
] as const;
type RouteId = (typeof ROUTES)[number]['id'];
type Handler = (req: Request, res: Response) => Promise<void> | void;

const GET_ONLY = new Set(['stream', 'events', 'logs']);
/** Bodies are ignored, but read (up to this size) so an oversize one gets a clear 413. */
const BODY_LIMIT = '16kb';

export function createSignalApp(options: SignalAppOptions) {
  const { cache, auth, log } = options;
  const deps: SignalDeps = { client: options.client, cache, log, cacheWaitMs: options.cacheWaitMs ?? 2000, killSwitch: options.killSwitch };
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.set('x-powered-by', false);
  app.set('etag', false);
  app.set('query parser', 'simple');
  const hub = new RunHub(cache);
  const streamMaxMs = options.streamMaxMs ?? 30 * 60_000;

  const userOf = async (req: Request): Promise<User> => {
    const user = await auth.authenticate(req.get('authorization'));
    if (!user) {
      throw new HttpError(401, 'Unauthorized', 'a valid Kubernetes bearer token is required (Authorization: Bearer <token>); nothing was changed',
        { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    return user;
  };
  const deny = (user: User, a: Access) =>
    forbidden(`user ${user.name} may not ${a.verb} chaosruns${a.name ? ` ${a.name}` : ''} in namespace ${a.namespace}; nothing was changed`);

  /** The published runs this user may list, namespace by namespace (as `kubectl get crun -n NS` would). */
  const visibleRuns = async (user: User): Promise<ChaosRun[]> => {
    const runs = publishedRuns(cache);
    const namespaces = [...new Set(runs.map((r) => r.metadata.namespace))];
    const allowed = await Promise.all(namespaces.map((namespace) => auth.allowed(user, { verb: 'list', namespace })));
    const visible = new Set(namespaces.filter((_, i) => allowed[i]));
    return runs.filter((r) => visible.has(r.metadata.namespace));
  };

  /** The run a per-run route names: authorized first, so a denied user learns nothing about it. */
  const namedRun = async (req: Request, user: User, verb: 'get' | 'patch'): Promise<ChaosRun> => {
    const { namespace, name } = req.params as { namespace: string; name: string };
    const access: Access = { verb, namespace, name };
    if (!(await auth.allowed(user, access))) throw deny(user, access);
    const run = cache.get(name, namespace);
    if (!run) throw notFound(`ChaosRun ${namespace}/${name} not found in the signal server's scope`);
    if (run.spec.publishStatus === false) {
      throw new HttpError(403, 'NotPublished', `ChaosRun ${namespace}/${name} has spec.publishStatus: false, so the signal server may not read or steer it (kubectl still can)`);
    }
    return run;
  };

  const handlers: Record<RouteId, Handler> = {
    // krkn's GET /: exactly its bare answer (no newline) when there is one state to tell.
    async state(req, res) {
      res.type('text').send(stateText(await visibleRuns(await userOf(req))));
    },

    // krkn's POST /RUN, /PAUSE, /STOP, applied to every unfinished run in scope: the kill switch (STOP
    // writes its record first; the answer's second line says when that failed).
    async broadcast(req, res) {
      const signal = req.path.slice(1) as Signal;
      const user = await userOf(req);
      const pauseUntil = pauseUntilOf(req, signal);
      const { denied, summary, killSwitch } = await broadcastSignal(deps, await broadcastRuns(cache, log), signal, pauseUntil, user,
        (r) => auth.allowed(user, { verb: 'patch', namespace: r.metadata.namespace, name: r.metadata.name }));
      if (denied.length) throw forbidden(`user ${user.name} may not patch chaosruns ${denied.map(objectKey).join(', ')}; nothing was changed`);
      const note = killSwitchNote(killSwitch);
      res.type('text').send(note ? `${summary}${note}\n` : summary);
    },

    async list(req, res) {
      const runs = await visibleRuns(await userOf(req));
      res.json({ runs: runs.map(runSummary) });
    },

    // Server-sent events from the informer cache (src/console/stream.ts): the console's live view.
    async stream(req, res) {
      const user = await userOf(req);
      openStream(req, res, { hub, log, streamMaxMs, access: {
        canList: (namespace) => auth.allowed(user, { verb: 'list', namespace }),
        canPatch: (namespace) => auth.allowed(user, { verb: 'patch', namespace }),
      } });
    },

    async runStream(req, res) {
      const user = await userOf(req);
      const run = await namedRun(req, user, 'get');
      openStream(req, res, { hub, log, streamMaxMs, only: run.metadata, access: {
        canList: async () => true,
        canPatch: (namespace) => auth.allowed(user, { verb: 'patch', namespace, name: run.metadata.name }),
      } });
    },

    // On demand for the console's run page: one API call per press, never live.
    async events(req, res) {
      const user = await userOf(req);
      const run = await namedRun(req, user, 'get');
      const access: Access = { verb: 'list', namespace: run.metadata.namespace, resource: 'events' };
      if (!(await auth.allowed(user, access))) throw forbidden(`user ${user.name} may not list events in namespace ${access.namespace}`);
      res.json({ events: await runEvents(options.client, run) });
    },

    async logs(req, res) {
      const user = await userOf(req);
      const job = req.query.job;
      if (typeof job !== 'string' || !job) throw badRequest('give "job" once: the step\'s Job, as in the run\'s history');
      const run = await namedRun(req, user, 'get');
      if (!run.status?.history?.some((h) => h.job === job)) throw notFound(`job ${job} is not a step of ChaosRun ${objectKey(run)} (see its history)`);
      const access: Access = { verb: 'get', namespace: run.metadata.namespace, resource: 'pods/log' };
      if (!(await auth.allowed(user, access))) throw forbidden(`user ${user.name} may not read pod logs in namespace ${access.namespace}`);
      const log = await stepLog(options.client, run, job);
      if (!log.found) throw notFound(log.why);
      res.json({ job, pod: log.pod, log: log.log });
    },

    async get(req, res) {
      res.json(runDetail(await namedRun(req, await userOf(req), 'get')));
    },

    async signal(req, res) {
      const signal = req.params.signal as Signal;
      // The run's stream, Events and logs share this path's shape; they are read with GET only.
      if (GET_ONLY.has(signal)) throw new HttpError(405, 'MethodNotAllowed', 'method not allowed here; use GET, HEAD', { headers: { Allow: 'GET, HEAD' } });
      const user = await userOf(req);
      if (!SIGNALS.includes(signal)) throw badRequest(`unknown signal ${JSON.stringify(req.params.signal)}: use RUN, PAUSE or STOP`);
      const pauseUntil = pauseUntilOf(req, signal);
      const run = await namedRun(req, user, 'patch');
      const refusal = signalRefusal(run, signal);
      if (refusal) throw new HttpError(409, refusal.reason, refusal.message, { details: { phase: run.status?.phase ?? 'Pending' } });
      const result = await signalRun(deps, run, signal, pauseUntil, user);
      res.json({ changed: result.changed, ...runDetail(result.run) });
    },

    healthz(_req, res) { res.type('text').send('ok\n'); },
    readyz(_req, res) {
      if (!cache.synced) throw new HttpError(503, 'NotReady', 'the ChaosRun cache has not synced yet');
      res.type('text').send('ok\n');
    },
    async metrics(_req, res) { res.type(registry.contentType).send(await registry.metrics()); },
    openapi(_req, res) { res.json(openApiDocument); },
  };

  // Metrics by route template (bounded cardinality), recorded when the response is sent.
  app.use((req, res, next) => {
    const end = signalRequestDuration.startTimer();
    res.on('finish', () => {
      const labels = { route: (req.route as { path?: string } | undefined)?.path ?? 'unmatched', method: req.method };
      end(labels);
      signalRequests.inc({ ...labels, code: String(res.statusCode) });
    });
    next();
  });

  app.use(consoleRouter(auth.mode));
  const readBody = express.raw({ type: () => true, limit: BODY_LIMIT });
  for (const r of ROUTES) {
    const handler = handlers[r.id];
    app[r.method === 'GET' ? 'get' : 'post'](r.path, readBody, async (req, res) => { await handler(req, res); });
  }
  // A known path with another method: 405 naming the methods it has.
  for (const path of new Set(ROUTES.map((r) => r.path))) {
    const methods = ROUTES.filter((r) => r.path === path).map((r) => r.method);
    const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : [])].join(', ');
    app.all(path, () => {
      throw new HttpError(405, 'MethodNotAllowed', `method not allowed here; use ${allow}`, { headers: { Allow: allow } });
    });
  }
  app.use(() => { throw notFound('no such route; see GET /openapi.json'); });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toHttpError(err, log);
    if (res.headersSent) { res.end(); return; }
    res.set(e.headers).status(e.status);
    const path = (req.route as { path?: string } | undefined)?.path;
    if (ROUTES.some((r) => r.path === path && r.format === 'text')) res.type('text').send(`${e.message}\n`);
    else res.json({ error: e.message, reason: e.reason, ...e.details });
  });

  return app;
}

/** `?for=10m` on a PAUSE: the RFC 3339 time the pause ends; null for an untimed signal. */
function pauseUntilOf(req: Request, signal: Signal): string | null {
  const value = req.query.for;
  if (value === undefined) return null;
  if (typeof value !== 'string') throw badRequest('give "for" once, as a duration such as 10m');
  if (signal !== 'PAUSE') throw badRequest(`"for" applies to PAUSE only, not ${signal}`);
  try { return pauseUntilFor(value); } catch (err) { throw badRequest(`bad "for": ${(err as Error).message}`); }
}

function toHttpError(err: unknown, log: Logger): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof KubeError) {
    if (isUnreachable(err)) return new HttpError(503, 'ServiceUnavailable', `the Kubernetes API server is unreachable: ${err.message}`);
    if (isNotFound(err)) return notFound(`not found: ${err.message}`);
    // The API server's own rules (STOP is final) refused the write: a conflict with the run's state.
    if (err.status === 422) return new HttpError(409, 'Conflict', err.message);
    log.error({ err: err.message, status: err.status, reason: err.reason }, 'Kubernetes API call refused');
    return new HttpError(502, 'BadGateway', `the Kubernetes API server refused the call: ${err.message}`);
  }
  // body-parser and the router mark client errors (oversize body, bad encoding, bad URI escape) with a 4xx status.
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const reason = status === 413 ? 'PayloadTooLarge' : status === 415 ? 'UnsupportedMediaType' : 'BadRequest';
    return new HttpError(status, reason, status === 413 ? `request body too large (the body is ignored; limit ${BODY_LIMIT})` : String((err as Error).message));
  }
  log.error({ err }, 'signal server request failed');
  return new HttpError(500, 'InternalError', 'internal error; see the signal server log');
}
