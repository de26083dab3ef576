// The OpenAPI 3 description of the signal server, served at GET /openapi.json. test/signal/openapi.test.ts
// holds it to the app's route table and fuzzes the running server from it.
import { DURATION_PATTERN } from '../api/duration.ts';
import { FAULT_END_REASONS, PHASES, SIGNALS } from '../api/types.ts';

const text = (description: string, example?: string) => ({
  description, content: { 'text/plain': { schema: { type: 'string', ...(example ? { example } : {}) } } },
});
const json = (description: string, ref: string) => ({
  description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const errors = (format: 'text' | 'json', codes: Record<number, string>) =>
  Object.fromEntries(Object.entries(codes).map(([code, d]) => [code, format === 'text' ? text(d) : json(d, 'Error')]));

const UNAUTHORIZED = 'No valid bearer token (with --auth=kubernetes); nothing was changed.';
const UNREACHABLE = 'The Kubernetes API server is unreachable.';
/** Bodies are ignored but read, so these can answer any request that has one. */
const BODY_ERRORS = { 413: 'Request body over 16 KiB.', 415: 'Unsupported Content-Encoding of the body.' };
const forQuery = {
  name: 'for', in: 'query', required: false,
  description: 'A timed pause (PAUSE only): sets spec.pauseUntil to now plus this duration (at most 8760h); the operator resumes the run then.',
  schema: { type: 'string', pattern: DURATION_PATTERN, example: '10m' },
};
const sse = (description: string, events: string[]) => ({
  description,
  content: {
    'text/event-stream': {
      schema: {
        type: 'object', required: ['event', 'data'],
        description: 'One event: "event: NAME" and "data: JSON" (a RunView for run); ": ping" comment lines keep the stream open.',
        properties: { event: { type: 'string', enum: events }, data: { type: 'string', description: 'JSON' } },
      },
    },
  },
});
const STREAM_DESCRIPTION = 'text/event-stream, read from the signal server\'s cache (no API-server load per viewer). A run\'s view ' +
  '(schema RunView) holds its signal, phase, progress, step, gate, history and transitions. The stream ends after the server\'s ' +
  'stream limit (30 minutes by default); SSE clients reconnect by themselves and get a fresh first event.';
const runParams = [
  { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } },
  { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
];
const security = [{ bearerAuth: [] }, {}];

const broadcast = (signal: string) => ({
  post: {
    summary: `krkn-compatible: ${signal} every unfinished run in scope`,
    description: `Patches spec.signalState to ${signal} on every run in scope (namespaces, label selector, publishStatus: true) ` +
      'that is not finished. The request body is ignored. With --auth=kubernetes the user must be allowed to patch each of those runs, or nothing changes.' +
      (signal === 'STOP' ? ' STOP (the kill switch) first writes the kill-switch record (ConfigMap chaosrun-kill-switch in the operator\'s namespace) naming those runs, ' +
        'which every node agent watches, so their lasting faults end at once; if that write fails, the runs are stopped all the same and a second line of the answer says so.' : ''),
    security,
    parameters: signal === 'PAUSE' ? [forQuery] : [],
    responses: {
      200: text('The new state and how many runs it changed.', `${signal}: 1 run changed`),
      ...errors('text', { 400: 'Bad "for" duration.', 401: UNAUTHORIZED, 403: 'RBAC denies patching one of the runs; nothing was changed.', ...BODY_ERRORS, 503: UNREACHABLE }),
    },
  },
});

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'chaosrun signal server',
    version: '1.0.0',
    description: 'krkn-compatible signals (RUN, PAUSE, STOP) over ChaosRuns. Every signal is a patch of the ChaosRun\'s ' +
      'spec.signalState, the same field kubectl patch writes; every answer is read from the ChaosRuns.',
  },
  paths: {
    '/': {
      get: {
        summary: 'krkn-compatible: the current state',
        description: 'The state of the unfinished runs in scope (the runs the broadcast POSTs act on): the bare state (RUN, PAUSE or STOP) ' +
          'when they agree, otherwise one "namespace/name STATE" per line. Finished runs count only when no run is unfinished; ' +
          'in a listing they are marked with their phase ("namespace/name STOP (Stopped)"). With no runs in scope: "no ChaosRuns in scope".',
        security,
        responses: { 200: text('The state, or the listing.', 'RUN'), ...errors('text', { 401: UNAUTHORIZED, ...BODY_ERRORS, 503: UNREACHABLE }) },
      },
    },
    ...Object.fromEntries(SIGNALS.map((s) => [`/${s}`, broadcast(s)])),
    '/runs': {
      get: {
        summary: 'The runs in scope that this user may list',
        security,
        responses: { 200: json('The runs.', 'RunList'), ...errors('json', { 401: UNAUTHORIZED, ...BODY_ERRORS, 503: UNREACHABLE }) },
      },
    },
    '/runs/stream': {
      get: {
        summary: 'Server-sent events of run changes (the console\'s live feed; curl -N works)',
        description: STREAM_DESCRIPTION + ' First event: snapshot {runs, access} with the runs this user may list and, per namespace, ' +
          'whether they may patch there; then run (a run\'s new view), delete {namespace, name}, and access {namespace, patch} for a namespace seen for the first time.',
        security,
        responses: { 200: sse('The stream of changes to the runs in scope that this user may list.', ['snapshot', 'run', 'delete', 'access']), ...errors('json', { 401: UNAUTHORIZED, ...BODY_ERRORS, 503: UNREACHABLE }) },
      },
    },
    '/runs/{namespace}/{name}': {
      get: {
        summary: 'One run: signal, phase, iteration, step, conditions, and its report once final',
        security,
        parameters: runParams,
        responses: {
          200: json('The run.', 'RunDetail'),
          ...errors('json', { 401: UNAUTHORIZED, 403: 'RBAC denies get, or the run has publishStatus: false.', 404: 'No such run in scope.', ...BODY_ERRORS, 503: UNREACHABLE }),
        },
      },
    },
    '/runs/{namespace}/{name}/stream': {
      get: {
        summary: 'Server-sent events of one run\'s changes',
        description: STREAM_DESCRIPTION + ' First event: run (the run now); then run on every change, delete when it leaves the scope.',
        security,
        parameters: runParams,
        responses: {
          200: sse('The stream of the run\'s changes.', ['run', 'delete']),
          ...errors('json', { 401: UNAUTHORIZED, 403: 'RBAC denies get, or the run has publishStatus: false.', 404: 'No such run in scope.', ...BODY_ERRORS, 503: UNREACHABLE }),
        },
      },
    },
    '/runs/{namespace}/{name}/events': {
      get: {
        summary: 'The run\'s newest Events (at most 50), read from the API server when asked',
        security,
        parameters: runParams,
        responses: {
          200: json('The Events, newest first.', 'EventList'),
          ...errors('json', { 401: UNAUTHORIZED, 403: 'RBAC denies get on the run or list on events, or the run has publishStatus: false.', 404: 'No such run in scope.', ...BODY_ERRORS, 503: UNREACHABLE }),
        },
      },
    },
    '/runs/{namespace}/{name}/logs': {
      get: {
        summary: 'The log of one step\'s pod (its last 1000 lines, at most 256 KiB), read from the API server when asked',
        security,
        parameters: [...runParams, { name: 'job', in: 'query', required: true, description: 'The step\'s Job, as in the run\'s history.', schema: { type: 'string', minLength: 1 } }],
        responses: {
          200: json('The log.', 'StepLog'),
          ...errors('json', {
            400: 'No "job".', 401: UNAUTHORIZED, 403: 'RBAC denies get on the run or on pods/log, or the run has publishStatus: false.',
            404: 'No such run in scope, the job is not one of its steps, or its pod is gone.', 502: 'The API server could not fetch the log (e.g. from the node).',
            ...BODY_ERRORS, 503: UNREACHABLE,
          }),
        },
      },
    },
    '/runs/{namespace}/{name}/{signal}': {
      post: {
        summary: 'Signal one run',
        description: 'Patches the run\'s spec.signalState (and spec.pauseUntil for a timed PAUSE). The request body is ignored.',
        security,
        parameters: [...runParams, { name: 'signal', in: 'path', required: true, schema: { type: 'string', enum: [...SIGNALS] } }, forQuery],
        responses: {
          200: json('The run after the signal.', 'SignalResult'),
          ...errors('json', {
            400: 'Unknown signal or bad "for" duration.', 401: UNAUTHORIZED,
            403: 'RBAC denies patch, or the run has publishStatus: false.', 404: 'No such run in scope.',
            409: 'The run is finished; the answer names its phase.', ...BODY_ERRORS, 503: UNREACHABLE,
          }),
        },
      },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { 200: text('The process serves.', 'ok') } } },
    '/readyz': {
      get: { summary: 'Readiness: the ChaosRun cache has synced', responses: { 200: text('Ready.', 'ok'), 503: text('Not synced yet.') } },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: text('Metrics in the Prometheus text format.') } } },
    '/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'The OpenAPI document.', content: { 'application/json': { schema: { type: 'object' } } } } } } },
  },
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'A Kubernetes token (kubectl create token ...), checked by TokenReview and SubjectAccessReview.' },
    },
    schemas: {
      Error: {
        type: 'object', required: ['error', 'reason'],
        properties: {
          error: { type: 'string', description: 'What went wrong, in one line.' },
          reason: { type: 'string', description: 'A CamelCase reason, e.g. NotFound, Forbidden, NotPublished, Finished.' },
          phase: { type: 'string', enum: [...PHASES], description: 'The phase of a finished run (409).' },
        },
      },
      RunSummary: {
        type: 'object', required: ['namespace', 'name', 'signal'],
        properties: {
          namespace: { type: 'string' }, name: { type: 'string' },
          signal: { type: 'string', enum: [...SIGNALS] },
          pauseUntil: { type: 'string', format: 'date-time' },
          phase: { type: 'string', enum: [...PHASES] },
          progress: { type: 'string', example: '2/3' },
          iteration: { type: 'integer' },
          step: { type: 'object', properties: { index: { type: 'integer' }, name: { type: 'string' } } },
        },
      },
      RunView: {
        type: 'object', description: 'A run as the console and the event streams show it (src/console/view.ts).',
        required: ['namespace', 'name', 'signal', 'phase', 'finished', 'history', 'transitions', 'conditions'],
        properties: {
          namespace: { type: 'string' }, name: { type: 'string' }, created: { type: 'string', format: 'date-time' },
          signal: { type: 'string', enum: [...SIGNALS] }, pauseUntil: { type: 'string', format: 'date-time' },
          phase: { type: 'string', enum: [...PHASES] }, finished: { type: 'boolean' },
          progress: { type: 'string' }, iteration: { type: 'integer' },
          step: { type: 'object', properties: { index: { type: 'integer' }, name: { type: 'string' } } },
          steps: { type: 'array', items: { type: 'string' } }, iterations: { type: 'integer', nullable: true, description: 'null in daemon mode.' },
          gate: { type: 'object', description: 'The pauseWhen gate holding the run, if one does.' },
          nextStepTime: { type: 'string', format: 'date-time' }, startTime: { type: 'string', format: 'date-time' },
          completionTime: { type: 'string', format: 'date-time' },
          history: { type: 'array', items: { type: 'object' }, description: 'status.history: one entry per step (its fault records are in faultSpans).' },
          faults: { type: 'object', description: 'status.faults: the running step\'s lasting fault in force now, if one is.' },
          faultSpans: {
            type: 'array', description: 'Each lasting fault that was or is in force, oldest first: no until and no reason while it still is.',
            items: {
              type: 'object', required: ['iteration', 'stepIndex', 'step', 'kind', 'pods', 'since'],
              properties: {
                iteration: { type: 'integer' }, stepIndex: { type: 'integer' }, step: { type: 'string' }, kind: { type: 'string' }, pods: { type: 'integer' },
                since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' }, reason: { type: 'string', enum: [...FAULT_END_REASONS] },
              },
            },
          },
          transitions: { type: 'array', items: { type: 'object' }, description: 'status.transitions: signal changes and gate holds.' },
          conditions: { type: 'array', items: { type: 'object' } },
          report: { type: 'object' },
        },
      },
      EventList: {
        type: 'object', required: ['events'],
        properties: {
          events: {
            type: 'array',
            items: {
              type: 'object', required: ['type', 'reason', 'message', 'count', 'time', 'from'],
              properties: { type: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' }, count: { type: 'integer' }, time: { type: 'string' }, from: { type: 'string' } },
            },
          },
        },
      },
      StepLog: {
        type: 'object', required: ['job', 'pod', 'log'],
        properties: { job: { type: 'string' }, pod: { type: 'string' }, log: { type: 'string' } },
      },
      RunList: { type: 'object', required: ['runs'], properties: { runs: { type: 'array', items: { $ref: '#/components/schemas/RunSummary' } } } },
      RunDetail: {
        allOf: [{ $ref: '#/components/schemas/RunSummary' }, {
          type: 'object', required: ['conditions'],
          properties: {
            observedSignal: { type: 'string', enum: [...SIGNALS] },
            startTime: { type: 'string', format: 'date-time' },
            completionTime: { type: 'string', format: 'date-time' },
            conditions: { type: 'array', items: { type: 'object' } },
            report: { type: 'object', description: 'The final report, once the run is Completed, Stopped or Failed.' },
          },
        }],
      },
      SignalResult: {
        allOf: [{ $ref: '#/components/schemas/RunDetail' }, {
          type: 'object', required: ['changed'],
          properties: { changed: { type: 'boolean', description: 'Whether the desired state differed before this signal.' } },
        }],
      },
    },
  },
};
