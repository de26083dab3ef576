// The signal server's HTTP metrics, on the shared registry (imported only by the signal server, so the
// controller process does not export them).
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.ts';

export const signalRequests = new Counter({
  name: 'chaosrun_signal_http_requests_total',
  help: 'HTTP requests served by the signal server, by route template, method and status code.',
  labelNames: ['route', 'method', 'code'] as const,
  registers: [registry],
});

export const signalRequestDuration = new Histogram({
  name: 'chaosrun_signal_http_request_duration_seconds',
  help: 'Latency of the signal server\'s HTTP requests, by route template and method.',
  labelNames: ['route', 'method'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const signalsAccepted = new Counter({
  name: 'chaosrun_signals_accepted_total',
  help: 'Signals written to ChaosRuns by the signal server, by signal.',
  labelNames: ['signal'] as const,
  registers: [registry],
});

export const streamViewers = new Gauge({
  name: 'chaosrun_signal_stream_viewers',
  help: 'Open event streams (console tabs and GET /runs/stream clients).',
  registers: [registry],
});
