// Runs the helm built with the local control plane against it, with helm's own config, cache and
// data directories in a temporary folder so the tests never read or change the user's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { ClusterState } from '../../src/local/controlplane.ts';
import { repoRoot } from '../helpers/env.ts';

export const chartDir = join(repoRoot, 'charts/chaosrun-operator');

export interface HelmResult { code: number; stdout: string; stderr: string }

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function helmRunner(state: Pick<ClusterState, 'binDir' | 'kubeconfig'>) {
  const home = mkdtempSync(join(tmpdir(), 'chaosrun-helm-'));
  const env = {
    ...process.env, KUBECONFIG: state.kubeconfig,
    HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data'),
  };
  /** Runs helm; never throws, so a test can assert on a failure's message. */
  const run = (args: string[]): HelmResult => {
    const r = spawnSync(join(state.binDir, 'helm'), args, { env, encoding: 'utf8', timeout: 300_000 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  /** Runs helm and throws with its output unless it succeeds. */
  const ok = (args: string[]): string => {
    const r = run(args);
    if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  /** Writes a values file and returns its path. */
  const valuesFile = (name: string, values: unknown): string => {
    const file = join(home, `${name}.json`);
    writeFileSync(file, JSON.stringify(values));
    return file;
  };
  return { run, ok, valuesFile };
}

/** The objects of a multi-document YAML stream, without the empty documents. */
export function parseObjects(yaml: string): K8sObject[] {
  return loadAll(yaml).filter((d): d is K8sObject => d !== null && typeof d === 'object');
}
