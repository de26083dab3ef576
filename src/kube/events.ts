// Kubernetes Events on a ChaosRun (core/v1), so `kubectl describe crun` tells the run's story.
import { randomBytes } from 'node:crypto';
import { API_VERSION, KIND } from '../api/constants.ts';
import type { ApiClient } from './client.ts';
import { paths } from './paths.ts';

export interface EventTarget { metadata: { name: string; namespace: string; uid: string } }

export async function recordEvent(
  client: ApiClient, run: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, component: string,
): Promise<void> {
  const { name, namespace, uid } = run.metadata;
  const now = new Date().toISOString();
  await client.request('POST', paths.events(namespace), {
    body: {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid },
      type, reason,
      // The API server refuses messages over 1 KiB.
      message: message.length > 1000 ? `${message.slice(0, 997)}...` : message,
      source: { component }, reportingComponent: component,
      firstTimestamp: now, lastTimestamp: now, count: 1,
    },
  });
}
