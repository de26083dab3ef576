// The controller's metrics, on the shared registry.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.ts';

export const signalLatency = new Histogram({
  name: 'chaosrun_signal_latency_seconds',
  help: 'Time from the controller seeing a new spec.signalState to the status write that reflects it.',
  labelNames: ['signal'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const reconciles = new Counter({
  name: 'chaosrun_reconcile_total',
  help: 'Reconciles of ChaosRuns, by outcome: ok, requeue_after (woken again at a time the run asked for), conflict (stale cache; retried with backoff or on the newer object), error (retried with backoff), terminal (the API server refuses what was sent; a refused step Job fails its step).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const reconcileDuration = new Histogram({
  name: 'chaosrun_reconcile_duration_seconds',
  help: 'Time one reconcile of a ChaosRun took, API calls included.',
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  registers: [registry],
});

export const stepsStarted = new Counter({
  name: 'chaosrun_steps_started_total',
  help: 'Step Jobs created by the controller.',
  registers: [registry],
});

export const stepResults = new Counter({
  name: 'chaosrun_step_results_total',
  help: 'Recorded step results, by result (Succeeded, Failed, Aborted).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const isLeader = new Gauge({
  name: 'chaosrun_leader',
  help: '1 while this replica holds the leader lease (or runs without leader election).',
  registers: [registry],
});

export const runsByPhase = new Gauge({
  name: 'chaosrun_runs',
  help: 'ChaosRuns in the controller cache, by phase.',
  labelNames: ['phase'] as const,
  registers: [registry],
});

export const gateEvaluations = new Counter({
  name: 'chaosrun_gate_evaluations_total',
  help: 'Gate evaluations, by kind (rollout, prometheus, alerts) and result (true, false, error; evaluated for rollout reads).',
  labelNames: ['kind', 'result'] as const,
  registers: [registry],
});

export const gateErrors = new Counter({
  name: 'chaosrun_gate_errors_total',
  help: 'Gate queries that failed (Prometheus unreachable, bad answer, missing token), by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const gatedSeconds = new Counter({
  name: 'chaosrun_gate_held_seconds_total',
  help: 'Time runs spent held by pauseWhen gates (counted when a gate releases a run).',
  registers: [registry],
});

export const runsGated = new Gauge({
  name: 'chaosrun_runs_gated',
  help: 'Runs currently held by a pauseWhen gate.',
  registers: [registry],
});

export const deadManRenewals = new Counter({
  name: 'chaosrun_deadman_renewals_total',
  help: 'Dead-man switch renewals: PATCHes of a running step Job\'s activeDeadlineSeconds (120 / deadManSeconds per minute per running step).',
  registers: [registry],
});
