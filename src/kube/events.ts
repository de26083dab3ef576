// Kubernetes Events on a ChaosRun (core/v1), so `kubectl describe crun` tells the run's story.
//
// Events are the story, not the state, so they wait their turn: every Event of the process goes
// through one queue with a few writes in flight. In a burst (a broadcast STOP over a thousand runs)
// the writes that end chaos and record it in status get the connections and the API server first,
// and the Events follow, each stamped with the time it happened, not the time it was written.
// client-go's event broadcaster is asynchronous for the same reason.
import { randomBytes } from 'node:crypto';
import { API_VERSION, KIND } from '../api/constants.ts';
import type { ApiClient } from './client.ts';
import { paths } from './paths.ts';

export interface EventTarget { metadata: { name: string; namespace: string; uid: string } }

export type EventType = 'Normal' | 'Warning';

/** Writes one Event now. `at` is when it happened (default: now). */
export async function writeEvent(
  client: ApiClient, run: EventTarget, type: EventType, reason: string, message: string, component: string, at = new Date(),
): Promise<void> {
  const { name, namespace, uid } = run.metadata;
  const when = at.toISOString();
  await client.request('POST', paths.events(namespace), {
    body: {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid },
      type, reason,
      // The API server refuses messages over 1 KiB.
      message: message.length > 1000 ? `${message.slice(0, 997)}...` : message,
      source: { component }, reportingComponent: component,
      firstTimestamp: when, lastTimestamp: when, count: 1,
    },
  });
}

interface Pending { write: () => Promise<void>; resolve: () => void; reject: (err: unknown) => void }

/** A FIFO of Event writes, `inFlight` at a time, holding at most `capacity` waiting ones. */
export class EventQueue {
  private readonly waiting: Pending[] = [];
  private running = 0;
  private readonly inFlight: number;
  private readonly capacity: number;

  constructor(inFlight = 4, capacity = 20_000) {
    this.inFlight = inFlight;
    this.capacity = capacity;
  }

  /** Queues the Event; the promise settles when it is written (or refused, or the queue is full). */
  record(client: ApiClient, run: EventTarget, type: EventType, reason: string, message: string, component: string): Promise<void> {
    const at = new Date();
    if (this.waiting.length >= this.capacity) {
      return Promise.reject(new Error(`${this.capacity} Events already wait to be written; this one (${reason}) is dropped`));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ write: () => writeEvent(client, run, type, reason, message, component, at), resolve, reject });
      this.next();
    });
  }

  /** Events queued and not yet written. */
  get pending(): number { return this.waiting.length + this.running; }

  private next(): void {
    while (this.running < this.inFlight && this.waiting.length) {
      const item = this.waiting.shift()!;
      this.running++;
      item.write().then(item.resolve, item.reject).finally(() => { this.running--; this.next(); });
    }
  }
}

/** The process's Event queue: the controller's and the signal server's Events share it. */
const queue = new EventQueue();

/** Records an Event on a ChaosRun through the process's queue (see the top of this file). */
export function recordEvent(client: ApiClient, run: EventTarget, type: EventType, reason: string, message: string, component: string): Promise<void> {
  return queue.record(client, run, type, reason, message, component);
}
