// The operator's own namespace, where its Lease and its kill-switch record live: POD_NAMESPACE (the
// downward API), else the namespace of the pod's ServiceAccount (the file client-go's in-cluster
// config reads; every pod of the chart has one), else "default" (a process outside a pod: `npm run
// local`, the tests), which is also the controller's default for its Lease.
import { readFileSync } from 'node:fs';

export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function ownNamespace(env: NodeJS.ProcessEnv = process.env, file = SERVICE_ACCOUNT_NAMESPACE_FILE): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    const ns = readFileSync(file, 'utf8').trim();
    if (ns) return ns;
  } catch { /* not in a pod */ }
  return 'default';
}
