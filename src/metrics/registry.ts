// One prom-client registry per process, with the metric definitions the controller and the signal
// server share. Collectors are created lazily so a process only exports what it uses.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'chaosrun_' });

/** Every API request the process makes, by verb and HTTP status code (counted in src/kube/client.ts). */
export const apiRequests = new Counter({
  name: 'chaosrun_api_requests_total',
  help: 'Kubernetes API requests made by this process, by verb (get, list, watch, create, update, patch, delete) and status code.',
  labelNames: ['verb', 'resource', 'code'] as const,
  registers: [registry],
});
