// The node agent's metrics: what it holds now and how fast it lets go.
import { Gauge, Histogram } from 'prom-client';
import { registry } from './registry.ts';

export const faultsInForce = new Gauge({
  name: 'chaosrun_faults_in_force',
  help: 'Lasting faults this node agent holds right now, by kind (partition, loss, bandwidth, delay).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const faultRevertSeconds = new Histogram({
  name: 'chaosrun_fault_revert_seconds',
  help: 'From the watch event that made a fault unwanted (PAUSE, STOP, the holder ending) to its table being deleted.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  registers: [registry],
});

export const agentPasses = new Gauge({
  name: 'chaosrun_agent_last_pass_timestamp_seconds',
  help: 'When the agent last compared what is wanted with what is found on its node.',
  registers: [registry],
});
