// `chaosrun controller`: the controller process, with its metrics and probe endpoint.
import { parseDuration } from '../api/duration.ts';
import { parseOptions } from '../commands.ts';
import { createLogger } from '../log.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { startController } from './manager.ts';
import { parseStepPlacement } from './step-placement.ts';
import { parseBindingRef } from '../scenarios/account.ts';

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number >= 0 (got ${JSON.stringify(text)})`);
  return n;
}

export async function controllerCommand(args: string[]): Promise<number> {
  const { values: v } = parseOptions(args, {
    kubeconfig: { type: 'string' },
    namespaces: { type: 'string', default: process.env.WATCH_NAMESPACES ?? '' },
    concurrency: { type: 'string', default: '16' },
    'leader-elect': { type: 'boolean', default: false },
    'lease-name': { type: 'string', default: 'chaosrun-operator' },
    'lease-namespace': { type: 'string', default: process.env.POD_NAMESPACE ?? 'default' },
    'lease-duration': { type: 'string', default: '15s' },
    'renew-deadline': { type: 'string', default: '10s' },
    'retry-period': { type: 'string', default: '2s' },
    'metrics-port': { type: 'string', default: '8080' },
    'metrics-bind': { type: 'string', default: '0.0.0.0' },
    'watch-timeout': { type: 'string', default: '75s' },
    'keep-jobs': { type: 'string', default: '5' },
    'operator-image': { type: 'string', default: process.env.OPERATOR_IMAGE ?? 'ghcr.io/chaosrun/chaosrun-operator:0.1.0' },
    'scenario-service-account': { type: 'string', default: process.env.SCENARIO_SERVICE_ACCOUNT ?? 'chaosrun-scenario' },
    'scenario-bindings': { type: 'string', default: '' },
    'step-node-selector': { type: 'string', default: '' },
    'step-tolerations': { type: 'string', default: '' },
    'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
  });
  const log = createLogger('controller', v['log-level']);
  const concurrency = positiveInt('concurrency', v.concurrency!);
  if (concurrency < 1) throw new Error('--concurrency must be at least 1');
  const leaseDurationMs = parseDuration(v['lease-duration']!);
  const renewDeadlineMs = parseDuration(v['renew-deadline']!);
  const retryPeriodMs = parseDuration(v['retry-period']!);
  if (v['leader-elect'] && !(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new Error('leader election needs --retry-period < --renew-deadline < --lease-duration');
  }
  let exiting = false;
  // The probes answer from the start: /readyz says 503 until the caches have synced.
  let controller: Awaited<ReturnType<typeof startController>> | undefined;
  const port = positiveInt('metrics-port', v['metrics-port']!);
  const server = port > 0
    ? await startMetricsServer(port, v['metrics-bind']!, () => controller?.ready() ?? false, () => controller?.refreshGauges())
    : undefined;
  controller = await startController({
    kubeconfig: v.kubeconfig,
    namespaces: list(v.namespaces),
    concurrency,
    watchdogMs: parseDuration(v['watch-timeout']!),
    keepFinishedJobs: positiveInt('keep-jobs', v['keep-jobs']!),
    render: {
      operatorImage: v['operator-image']!, scenarioServiceAccount: v['scenario-service-account']!,
      stepPlacement: parseStepPlacement(v['step-node-selector']!, v['step-tolerations']!),
    },
    scenarioBindings: (list(v['scenario-bindings']) ?? []).map(parseBindingRef),
    leaderElection: v['leader-elect'] ? {
      leaseName: v['lease-name']!, leaseNamespace: v['lease-namespace']!, leaseDurationMs, renewDeadlineMs, retryPeriodMs,
    } : false,
    log,
    onLostLeadership: () => {
      // A replica that lost the lease may hold stale intentions; exiting gives it a clean restart.
      if (exiting) return;
      log.error('lost leadership; exiting');
      process.exit(1);
    },
  });
  await new Promise<void>((resolve) => {
    // The controller runs until a signal. Its retry timers are unref'd (so stop() never waits on them),
    // so without the metrics server nothing else would hold the event loop while the API server is
    // down, and the process would end, with exit code 0, at the first outage.
    const alive = setInterval(() => {}, 1 << 30);
    const shutdown = (signal: string) => { clearInterval(alive); log.info({ signal }, 'shutting down'); resolve(); };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  exiting = true;
  server?.close();
  await controller.stop();
  return 0;
}
