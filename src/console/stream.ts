// GET /runs/stream and GET /runs/{namespace}/{name}/stream: server-sent events of run changes, for the
// console and for scripts (curl -N, any SSE client). Read from the informer through the hub: a viewer
// costs the API server nothing but the access reviews of its user (made once per namespace per stream,
// and none with --auth=none).
//
// Events: `snapshot` {runs, access} first (per-run stream: `run` with the run), then `run` (a run's new
// view), `delete` {namespace, name}, `access` {namespace, patch} for a namespace first seen; a comment
// line every HEARTBEAT_MS keeps proxies (kubectl port-forward) from closing an idle stream.
import type { Request, Response } from 'express';
import type { Logger } from '../log.ts';
import { streamViewers } from '../metrics/signal.ts';
import type { Change, RunHub } from './hub.ts';

export interface StreamAccess {
  /** May the user list runs in this namespace (and so see them)? */
  canList(namespace: string): Promise<boolean>;
  /** May the user patch runs in this namespace (so the console enables its controls)? */
  canPatch(namespace: string): Promise<boolean>;
}

export interface StreamOptions {
  hub: RunHub;
  log: Logger;
  access: StreamAccess;
  /** Only this run (the per-run stream). */
  only?: { namespace: string; name: string };
  /** End the stream after this long; the client reconnects (and its access is reviewed again). */
  streamMaxMs: number;
}

const HEARTBEAT_MS = 20_000;
/** A viewer this far behind is cut off; its client reconnects and gets a fresh snapshot. */
const MAX_BUFFERED = 4 << 20;
/** How long a browser waits before reconnecting after the stream ends. */
const RETRY_MS = 2000;

export function openStream(req: Request, res: Response, options: StreamOptions): void {
  const { hub, log, access, only, streamMaxMs } = options;
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
  });
  if (req.method === 'HEAD') { res.end(); return; }
  res.flushHeaders();
  res.write(`retry: ${RETRY_MS}\n\n`);

  // Writes go through one chain so events keep their order while an access review is pending.
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const namespaces = new Map<string, Promise<boolean>>();
  const send = (event: string, json: string) => {
    if (closed) return;
    res.write(`event: ${event}\ndata: ${json}\n\n`);
    if (res.writableLength > MAX_BUFFERED) {
      log.warn({ buffered: res.writableLength }, 'event stream viewer too slow; closing its stream');
      res.destroy();
    }
  };
  /** Whether the user sees this namespace; the first time, also tells them whether they may patch there. */
  const visible = (namespace: string, announce = true): Promise<boolean> => {
    let seen = namespaces.get(namespace);
    if (!seen) {
      seen = access.canList(namespace);
      namespaces.set(namespace, seen);
      if (announce && !only) {
        chain = chain.then(async () => {
          if (!(await seen!)) return;
          send('access', JSON.stringify({ namespace, patch: await access.canPatch(namespace) }));
        });
      }
    }
    return seen;
  };
  const enqueue = (work: () => Promise<void>) => {
    chain = chain.then(work).catch((err: unknown) => {
      log.warn({ err }, 'event stream failed; closing it');
      res.destroy();
    });
  };

  const onChange = (change: Change) => {
    if (only && (change.namespace !== only.namespace || change.name !== only.name)) return;
    const ok = visible(change.namespace);
    enqueue(async () => { if (await ok) send(change.type, change.json); });
  };
  const unsubscribe = hub.subscribe(onChange);
  streamViewers.inc();
  const heartbeat = setInterval(() => { if (!closed) res.write(': ping\n\n'); }, HEARTBEAT_MS);
  heartbeat.unref();
  const end = setTimeout(() => chain.then(() => res.end()), streamMaxMs);
  end.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    clearTimeout(end);
    unsubscribe();
    streamViewers.dec();
  };
  req.on('close', close);
  res.on('close', close);

  enqueue(async () => {
    const runs = hub.snapshot().filter((r) => !only || (r.namespace === only.namespace && r.name === only.name));
    if (only) {
      const run = runs[0];
      send(run ? 'run' : 'delete', JSON.stringify(run ?? only));
      return;
    }
    const names = [...new Set(runs.map((r) => r.namespace))];
    const seen = await Promise.all(names.map((ns) => visible(ns, false)));
    const shown = new Set(names.filter((_, i) => seen[i]));
    const patch = await Promise.all([...shown].map((ns) => access.canPatch(ns)));
    send('snapshot', JSON.stringify({
      runs: runs.filter((r) => shown.has(r.namespace)),
      access: Object.fromEntries([...shown].map((ns, i) => [ns, { patch: patch[i] }])),
    }));
  });
}
