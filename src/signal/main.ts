// `chaosrun signal-server`: the signal server as its own process (the operator pod's sidecar), until
// SIGTERM or SIGINT, then a graceful close.
import { createLogger } from '../log.ts';
import { defineCommand, wholeNumber, type OptionSpecs, type OptionValues } from '../options.ts';
import { startSignalServer } from './server.ts';

const options = {
  port: { type: 'string', value: 'N', default: '8081', help: 'port to listen on (0 = any free port)' },
  bind: { type: 'string', value: 'ADDR', default: '0.0.0.0', help: 'address to listen on' },
  auth: { type: 'string', value: 'kubernetes|none', default: 'kubernetes', help: 'bearer tokens checked by TokenReview + SubjectAccessReview, or none' },
  'tls-cert': { type: 'string', value: 'FILE', help: 'serve HTTPS with this certificate (with --tls-key)' },
  'tls-key': { type: 'string', value: 'FILE', help: 'the certificate\'s private key' },
  namespaces: { type: 'string', value: 'a,b', env: 'WATCH_NAMESPACES', help: 'namespaces whose runs are in scope (default: all)' },
  'label-selector': { type: 'string', value: 'SEL', help: 'narrow the runs in scope' },
  'operator-namespace': { type: 'string', value: 'NS', env: 'POD_NAMESPACE', help: 'where POST /STOP writes the kill-switch record (ConfigMap chaosrun-kill-switch) before it patches the runs (default: the pod\'s own namespace; outside a pod, none: no record)' },
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn or error' },
} as const satisfies OptionSpecs;

export const command = defineCommand({
  name: 'chaosrun signal-server',
  usage: '[options]',
  description: 'Serves the krkn-compatible HTTP signal API (POST /RUN, /PAUSE, /STOP; GET /) over the ChaosRuns until SIGTERM or SIGINT.',
  options,
  run: (values) => signalServerCommand(values),
});

async function signalServerCommand(values: OptionValues<typeof options>): Promise<number> {
  const auth = values.auth;
  if (auth !== 'kubernetes' && auth !== 'none') throw new Error(`--auth must be kubernetes or none, not ${JSON.stringify(auth)}`);
  const port = wholeNumber('port', values.port);
  if (port > 65535) throw new Error(`--port must be a port number, not ${JSON.stringify(values.port)}`);
  const namespaces = (values.namespaces ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const log = createLogger('signal-server', values['log-level']);
  const server = await startSignalServer({
    kubeconfig: values.kubeconfig, port, bind: values.bind, auth,
    tlsCert: values['tls-cert'], tlsKey: values['tls-key'],
    namespaces: namespaces.length ? namespaces : undefined, labelSelector: values['label-selector'], log,
    killSwitchNamespace: values['operator-namespace'],
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down');
  await server.stop();
  return 0;
}
