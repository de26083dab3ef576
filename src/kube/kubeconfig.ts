// Where the API server is and how to authenticate to it, read without @kubernetes/client-node.
// Loading client-node at run time costs a process about 80 MiB of memory (its generated API is
// thousands of modules), more than a thousand runs' caches. The operator needs little of it: this
// module reads what kubectl reads (KUBECONFIG, ~/.kube/config, the in-cluster ServiceAccount) for the
// common cases, client certificates and bearer tokens (a token file is re-read, as rotated
// ServiceAccount tokens need). A kubeconfig that needs more (exec plugins, auth providers, proxies)
// is handed to client-node's KubeConfig, loaded only then.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isIPv6 } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import yaml from 'js-yaml';

/** TLS and auth for one request, as node:https takes them. */
export interface TlsAuth {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  rejectUnauthorized?: boolean;
  servername?: string;
  headers?: Record<string, string>;
}

/** What the REST client needs: the server and, per request, the TLS options and headers. */
export interface ClusterAccess {
  server: string;
  userName: string;
  applyToHTTPSOptions(options: TlsAuth): Promise<void>;
}

const SA_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';

interface RawConfig {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user?: Record<string, unknown> }>;
}

const bytes = (data: unknown, file: unknown): Buffer | undefined =>
  typeof data === 'string' ? Buffer.from(data, 'base64') : typeof file === 'string' ? readFileSync(file) : undefined;

class Access implements ClusterAccess {
  readonly server: string;
  readonly userName: string;
  private readonly tls: TlsAuth;
  private readonly token?: string;
  private readonly tokenFile?: string;

  constructor(server: string, userName: string, tls: TlsAuth, token?: string, tokenFile?: string) {
    this.server = server;
    this.userName = userName;
    this.tls = tls;
    this.token = token;
    this.tokenFile = tokenFile;
  }

  async applyToHTTPSOptions(options: TlsAuth): Promise<void> {
    Object.assign(options, this.tls);
    const token = this.tokenFile ? readFileSync(this.tokenFile, 'utf8').trim() : this.token;
    if (token) options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
  }
}

/** client-node's KubeConfig, for what this module does not read itself. */
export function fromKubeConfig(kc: KubeConfig): ClusterAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no Kubernetes cluster configured: set KUBECONFIG or run in a pod');
  return {
    server: cluster.server,
    userName: kc.getCurrentUser()?.name ?? 'unknown',
    applyToHTTPSOptions: (o) => kc.applyToHTTPSOptions(o as never),
  };
}

function viaClientNode(load: (kc: KubeConfig) => void): ClusterAccess {
  // Loaded only here, synchronously (Node 24 requires ES modules), so most processes never load it.
  const { KubeConfig: KC } = createRequire(import.meta.url)('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  const kc = new KC();
  load(kc);
  return fromKubeConfig(kc);
}

/** The kubeconfig file kubectl would read: the first of KUBECONFIG's paths, else ~/.kube/config. */
function defaultPath(): string | undefined {
  const files = (process.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  for (const file of files) if (!existsSync(file)) throw new Error(`KUBECONFIG ${file}: no such file`);
  if (files.length) return files[0];
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

function inCluster(): ClusterAccess | undefined {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(`${SA_ROOT}/token`)) return undefined;
  return new Access(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`, 'inClusterUser',
    { ca: readFileSync(`${SA_ROOT}/ca.crt`) }, undefined, `${SA_ROOT}/token`);
}

export const isKubeConfig = (x: KubeConfig | ClusterAccess): x is KubeConfig => typeof (x as KubeConfig).getCurrentCluster === 'function';

/** Reads a kubeconfig file itself when it only needs certificates or tokens; otherwise undefined. */
function fromFile(path: string, where: string): ClusterAccess | undefined {
  let raw: RawConfig;
  try {
    raw = (yaml.load(readFileSync(path, 'utf8')) ?? {}) as RawConfig;
    if (typeof raw !== 'object') throw new Error('not a YAML mapping');
  } catch (err) {
    throw new Error(`${where}: not a usable kubeconfig: ${(err as Error).message.split('\n')[0]}`);
  }
  const context = raw.contexts?.find((c) => c.name === raw['current-context'])?.context;
  const cluster = raw.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const userEntry = raw.users?.find((u) => u.name === context?.user);
  const user = userEntry?.user ?? {};
  if (!context || !cluster || typeof cluster.server !== 'string') throw new Error(`${where}: no cluster for its current context`);
  const known = new Set(['client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'token', 'tokenFile']);
  if (Object.keys(user).some((k) => !known.has(k)) || cluster['proxy-url']) return undefined;
  const tls: TlsAuth = {
    ca: bytes(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: bytes(user['client-certificate-data'], user['client-certificate']),
    key: bytes(user['client-key-data'], user['client-key']),
    ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
    ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
  };
  return new Access(cluster.server, userEntry?.name ?? 'unknown', tls,
    typeof user.token === 'string' ? user.token : undefined, typeof user.tokenFile === 'string' ? user.tokenFile : undefined);
}

/**
 * Loads the given kubeconfig file, or KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount as
 * kubectl does; a client-node KubeConfig passes through.
 */
export function loadClusterAccess(source?: string | KubeConfig | ClusterAccess): ClusterAccess {
  if (source && typeof source !== 'string') return isKubeConfig(source) ? fromKubeConfig(source) : source;
  const path = source ?? defaultPath();
  if (!path) {
    const pod = inCluster();
    if (pod) return pod;
    throw new Error('no Kubernetes cluster configured: set KUBECONFIG or run in a pod');
  }
  // The same one-line errors as loadKubeConfig (src/kube/client.ts), for every command that starts with one.
  const where = `${source === undefined || source === process.env.KUBECONFIG ? 'KUBECONFIG' : '--kubeconfig'} ${path}`;
  if (!existsSync(path)) throw new Error(`${where}: no such file`);
  return fromFile(path, where) ?? viaClientNode((kc) => kc.loadFromFile(path));
}
