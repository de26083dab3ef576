// `chaosrun signal-server`: the signal server as its own process (the operator pod's sidecar), until
// SIGTERM or SIGINT, then a graceful close.
import { parseOptions } from '../commands.ts';
import { createLogger } from '../log.ts';
import { startSignalServer } from './server.ts';

export async function signalServerCommand(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    port: { type: 'string', default: '8081' },
    bind: { type: 'string', default: '0.0.0.0' },
    auth: { type: 'string', default: 'kubernetes' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    namespaces: { type: 'string' },
    'label-selector': { type: 'string' },
    kubeconfig: { type: 'string' },
    'log-level': { type: 'string' },
  });
  const auth = values.auth;
  if (auth !== 'kubernetes' && auth !== 'none') throw new Error(`--auth must be kubernetes or none, not ${JSON.stringify(auth)}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not ${JSON.stringify(values.port)}`);
  const namespaces = (values.namespaces ?? process.env.WATCH_NAMESPACES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const log = createLogger('signal-server', values['log-level']);
  const server = await startSignalServer({
    kubeconfig: values.kubeconfig, port, bind: values.bind, auth,
    tlsCert: values['tls-cert'], tlsKey: values['tls-key'],
    namespaces: namespaces.length ? namespaces : undefined, labelSelector: values['label-selector'], log,
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down');
  await server.stop();
  return 0;
}
