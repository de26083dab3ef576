// `chaosrun krkn-proxy`: the krkn API proxy as its own process, the sidecar of a krkn step whose krkn
// makes its helpers in namespace `default` (src/krkn-proxy/rewrite.ts), until SIGTERM or SIGINT (the
// kubelet sends it when krkn's container has ended).
import { createLogger } from '../log.ts';
import { defineCommand, wholeNumber, type OptionSpecs, type OptionValues } from '../options.ts';
import { startKrknProxy } from './server.ts';

const options = {
  to: { type: 'string', value: 'NS', help: 'the step\'s helper namespace, where requests about --from go instead (required)' },
  from: { type: 'string', value: 'NS', default: 'default', help: 'the namespace krkn hard-codes for its helpers' },
  port: { type: 'string', value: 'N', default: '8001', help: 'port to listen on, on --bind (0 = any free port)' },
  bind: { type: 'string', value: 'ADDR', default: '127.0.0.1', help: 'address to listen on: loopback, so only the step\'s own containers reach it' },
  kubeconfig: { type: 'string', value: 'PATH', help: 'the kubeconfig whose credentials requests are sent with (default: KUBECONFIG, ~/.kube/config, or the pod\'s ServiceAccount)' },
  'write-kubeconfig': { type: 'string', value: 'PATH', help: 'once listening, write there the kubeconfig krkn reads (the proxy, no credentials)' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn or error' },
} as const satisfies OptionSpecs;

export const command = defineCommand({
  name: 'chaosrun krkn-proxy',
  usage: '--to NAMESPACE [options]',
  description: `Forwards krkn's API requests to the API server, moving those about namespace --from (krkn's network-chaos
hard-codes 'default' for its helper pod and Jobs) into the step's helper namespace --to, which the
operator removes when the step ends. The sidecar of such krkn steps; not meant to be run by hand.`,
  options,
  run: (values) => krknProxyCommand(values),
});

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

async function krknProxyCommand(values: OptionValues<typeof options>): Promise<number> {
  const to = values.to;
  if (!to) throw new Error('--to NAMESPACE is required (the step\'s helper namespace)');
  for (const [flag, ns] of [['--to', to], ['--from', values.from]] as const) {
    if (!DNS_LABEL.test(ns)) throw new Error(`${flag} must be a namespace name, not ${JSON.stringify(ns)}`);
  }
  if (to === values.from) throw new Error(`--to and --from are both ${JSON.stringify(to)}: nothing would be moved`);
  const port = wholeNumber('port', values.port);
  if (port > 65535) throw new Error(`--port must be a port number, not ${JSON.stringify(values.port)}`);
  const log = createLogger('krkn-proxy', values['log-level']);
  const proxy = await startKrknProxy({
    kubeconfig: values.kubeconfig, from: values.from, to, host: values.bind, port,
    kubeconfigOut: values['write-kubeconfig'], log,
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down');
  await proxy.close();
  return 0;
}
