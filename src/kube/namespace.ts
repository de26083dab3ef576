// The operator's own namespace, where its kill-switch record lives, when this process runs in a pod:
// POD_NAMESPACE (the downward API), else the namespace of the pod's ServiceAccount (the file client-go's
// in-cluster config reads; every pod of the chart has one). Outside a pod (`npm run local`, the tests)
// there is none: a process there is told one, or does without what lives there.
import { readFileSync } from 'node:fs';

export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function podNamespace(env: NodeJS.ProcessEnv = process.env, file = SERVICE_ACCOUNT_NAMESPACE_FILE): string | undefined {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    const ns = readFileSync(file, 'utf8').trim();
    if (ns) return ns;
  } catch { /* not in a pod */ }
  return undefined;
}
