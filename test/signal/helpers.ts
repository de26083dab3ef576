// A signal server per test file (ephemeral port, scoped to the file's namespace) and a small HTTP client.
import type { ChaosRun, ChaosRunSpec } from '../../src/api/types.ts';
import { MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import { paths } from '../../src/kube/paths.ts';
import { startSignalServer, type SignalServerOptions } from '../../src/signal/server.ts';
import type { TestEnv } from '../helpers/env.ts';
import { kwokStep, quietLog } from '../helpers/operator.ts';

export function testSignalServer(env: TestEnv, extra: Partial<SignalServerOptions> = {}) {
  return startSignalServer({ kubeconfig: env.kc, port: 0, bind: '127.0.0.1', auth: 'none', namespaces: [env.namespace], log: quietLog(), ...extra });
}

export interface Answer { status: number; headers: Headers; text: string; json<T = Record<string, unknown>>(): T }

export async function call(baseUrl: string, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const res = await fetch(baseUrl + path, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** A run that stays where it is (no controller acts in these tests unless one is started). */
export const idleRun = (client: KubeClient, namespace: string, name: string, spec: Partial<ChaosRunSpec> = {}, labels: Record<string, string> = {}) =>
  client.request<ChaosRun>('POST', paths.chaosRuns(namespace), {
    body: { apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name, labels }, spec: { scenarios: [kwokStep('a', 1)], ...spec } },
  });

/** Plays the controller: writes a status (for a finished run). */
export const setPhase = (client: KubeClient, namespace: string, name: string, phase: string) =>
  client.request<ChaosRun>('PATCH', paths.chaosRunStatus(namespace, name), { body: { status: { phase } }, contentType: MERGE_PATCH });
