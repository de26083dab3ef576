// `chaosrun controller`: the controller process, with its metrics and probe endpoint.
import { parseDuration } from '../api/duration.ts';
import { createLogger } from '../log.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { parseEndpoints } from './agent-reports.ts';
import { defineCommand, wholeNumber, type OptionSpecs, type OptionValues } from '../options.ts';
import { startController } from './manager.ts';
import { parseStepPlacement } from './step-placement.ts';
import { parseBindingRef } from '../scenarios/account.ts';

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

const options = {
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
  namespaces: { type: 'string', value: 'a,b', env: 'WATCH_NAMESPACES', help: 'namespaces to watch (default: all)' },
  concurrency: { type: 'string', value: 'N', default: '16', help: 'runs reconciled in parallel' },
  'leader-elect': { type: 'boolean', help: 'elect a leader on a Lease so only one replica acts' },
  'lease-name': { type: 'string', value: 'NAME', default: 'chaosrun-operator', help: 'the Lease' },
  'lease-namespace': { type: 'string', value: 'NS', env: 'POD_NAMESPACE', default: 'default', help: 'the Lease\'s namespace' },
  'lease-duration': { type: 'string', value: 'D', default: '15s', help: 'how long a Lease holds without renewal' },
  'renew-deadline': { type: 'string', value: 'D', default: '10s', help: 'how long a leader tries to renew before it lets go' },
  'retry-period': { type: 'string', value: 'D', default: '2s', help: 'between tries to acquire or renew' },
  'metrics-port': { type: 'string', value: 'N', default: '8080', help: '/metrics, /healthz, /readyz (0 = off)' },
  'metrics-bind': { type: 'string', value: 'ADDR', default: '0.0.0.0', help: 'the metrics server\'s address' },
  'watch-timeout': { type: 'string', value: 'D', default: '75s', help: 'watchdog: restart a watch silent this long' },
  'keep-jobs': { type: 'string', value: 'N', default: '5', help: 'finished Jobs kept per run' },
  'operator-image': { type: 'string', value: 'IMAGE', env: 'OPERATOR_IMAGE', default: 'ghcr.io/chaosrun/chaosrun-operator:0.1.0', help: 'image that runs built-in scenarios' },
  'scenario-service-account': { type: 'string', value: 'NAME', env: 'SCENARIO_SERVICE_ACCOUNT', default: 'chaosrun-scenario', help: 'ServiceAccount of built-in scenarios' },
  'scenario-bindings': { type: 'string', value: 'B,...', help: 'ClusterRoleBinding/NAME or RoleBinding/NS/NAME the scenario ServiceAccount is added to in each namespace a built-in step runs in (the account is created there)' },
  'step-node-selector': { type: 'string', value: 'k=v,...', help: 'node selector of every step pod' },
  'step-tolerations': { type: 'string', value: 'k=v:Effect,...', help: 'tolerations of every step pod (kubectl\'s taint spelling)' },
  'agent-selector': { type: 'string', value: 'k=v,...', env: 'AGENT_SELECTOR', help: 'labels of the node agent pods (in --lease-namespace, the operator\'s): the operator reads their fault reports, so a node that cannot inject a fault fails its step at once' },
  'agent-endpoints': { type: 'string', value: 'NODE=URL,...', env: 'AGENT_ENDPOINTS', help: 'node agents that do not run as pods, by node (* for any): e.g. *=http://127.0.0.1:8082' },
  'node-name': { type: 'string', value: 'NAME', env: 'NODE_NAME', help: 'the node this controller runs on (the downward API\'s spec.nodeName): nodeCordon and nodeDrain never pick it unless a run allows it' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn or error' },
} as const satisfies OptionSpecs;

export const command = defineCommand({
  name: 'chaosrun controller',
  usage: '[options]',
  description: 'Runs the ChaosRun controller (watches ChaosRuns, drives one Job per step) until SIGTERM or SIGINT.',
  options,
  run: (values) => controllerCommand(values),
});

async function controllerCommand(v: OptionValues<typeof options>): Promise<number> {
  const log = createLogger('controller', v['log-level']);
  const concurrency = wholeNumber('concurrency', v.concurrency, 1);
  const leaseDurationMs = parseDuration(v['lease-duration']);
  const renewDeadlineMs = parseDuration(v['renew-deadline']);
  const retryPeriodMs = parseDuration(v['retry-period']);
  if (v['leader-elect'] && !(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new Error('leader election needs --retry-period < --renew-deadline < --lease-duration');
  }
  let exiting = false;
  // The probes answer from the start: /readyz says 503 until the caches have synced.
  let controller: Awaited<ReturnType<typeof startController>> | undefined;
  const port = wholeNumber('metrics-port', v['metrics-port']);
  const server = port > 0
    ? await startMetricsServer(port, v['metrics-bind'], () => controller?.ready() ?? false, () => controller?.refreshGauges())
    : undefined;
  controller = await startController({
    kubeconfig: v.kubeconfig,
    namespaces: list(v.namespaces),
    concurrency,
    watchdogMs: parseDuration(v['watch-timeout']),
    keepFinishedJobs: wholeNumber('keep-jobs', v['keep-jobs']),
    render: {
      operatorImage: v['operator-image'], scenarioServiceAccount: v['scenario-service-account'],
      stepPlacement: parseStepPlacement(v['step-node-selector'] ?? '', v['step-tolerations'] ?? ''),
      ...(v['node-name'] ? { operatorNode: v['node-name'] } : {}),
    },
    ...(v['node-name'] ? { operatorNode: v['node-name'] } : {}),
    scenarioBindings: (list(v['scenario-bindings']) ?? []).map(parseBindingRef),
    agents: { namespace: v['lease-namespace'], labelSelector: v['agent-selector'], endpoints: parseEndpoints(v['agent-endpoints']) },
    leaderElection: v['leader-elect'] ? {
      leaseName: v['lease-name'], leaseNamespace: v['lease-namespace'], leaseDurationMs, renewDeadlineMs, retryPeriodMs,
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
