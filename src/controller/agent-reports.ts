// The operator's side of the node agents' reports (AgentReport, src/api/fault-holder.ts): while a
// lasting step runs, the reconciler asks the agent on each target's node what became of the step's
// fault, so a node that cannot inject it fails the step at once with the agent's one line, and
// status.faults can say whether every target's fault is in force.
//
// The agent writes nothing to the API server, so its report is read from the agent itself: GET
// /faults on its metrics port. Which agent serves a node is found through the API server (the agent
// DaemonSet's pods, by label selector and spec.nodeName, in the operator's namespace), or given as
// fixed endpoints for agents that do not run as pods (`npm run local -- --real-node` runs one on the
// host). A report is kept for a short while, so a burst of passes costs one request per node; an
// agent that does not answer gives no report (the step is neither failed nor confirmed for it).
import { request } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { AGENT_REPORT_PATH, AGENT_REPORT_PORT, parseAgentReport, type AgentReport } from '../api/fault-holder.ts';
import type { ApiClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';
import type { Logger } from '../log.ts';

export interface AgentReportSource { forNode(node: string): Promise<AgentReport | undefined> }

export interface AgentReportsOptions {
  client: ApiClient;
  log: Logger;
  /** Where the agent pods run (the operator's namespace) and their labels. */
  namespace?: string;
  labelSelector?: string;
  /** node name (or '*' for any node) -> the agent's base URL, e.g. http://127.0.0.1:8082. */
  endpoints?: Record<string, string>;
  ttlMs?: number;
  timeoutMs?: number;
}

/** Parses `node=url,...` (the --agent-endpoints flag); one line naming the bad entry otherwise. */
export function parseEndpoints(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  const out: Record<string, string> = {};
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const at = entry.indexOf('=');
    const node = entry.slice(0, at).trim();
    const url = entry.slice(at + 1).trim();
    if (at <= 0 || !/^https?:\/\/[^\s/]+/.test(url)) throw new Error(`--agent-endpoints: "${entry}" is not NODE=http://HOST:PORT (NODE may be *)`);
    out[node] = url.replace(/\/+$/, '');
  }
  return out;
}

function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`${url}: HTTP ${res.statusCode}`)); return; }
        try { resolve(JSON.parse(body)); } catch { reject(new Error(`${url}: not JSON`)); }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class AgentReports implements AgentReportSource {
  private readonly cache = new Map<string, { at: number; report: Promise<AgentReport | undefined> }>();
  private readonly o: AgentReportsOptions;
  constructor(options: AgentReportsOptions) { this.o = options; }

  forNode(node: string): Promise<AgentReport | undefined> {
    const ttl = this.o.ttlMs ?? 500;
    const hit = this.cache.get(node);
    if (hit && Date.now() - hit.at < ttl) return hit.report;
    const report = this.fetch(node);
    this.cache.set(node, { at: Date.now(), report });
    return report;
  }

  private async fetch(node: string): Promise<AgentReport | undefined> {
    try {
      const base = await this.baseUrl(node);
      if (!base) return undefined;
      const report = parseAgentReport(await getJson(`${base}${AGENT_REPORT_PATH}`, this.o.timeoutMs ?? 1000));
      return report?.node === node ? report : undefined;
    } catch (err) {
      this.o.log.debug({ node, err }, 'no report from the node agent');
      return undefined;
    }
  }

  private async baseUrl(node: string): Promise<string | undefined> {
    const fixed = this.o.endpoints?.[node] ?? this.o.endpoints?.['*'];
    if (fixed) return fixed;
    const { namespace, labelSelector } = this.o;
    if (!namespace || !labelSelector) return undefined;
    const pods = await this.o.client.request<{ items: V1Pod[] }>('GET', paths.pods(namespace), {
      query: { labelSelector, fieldSelector: `spec.nodeName=${node},status.phase=Running` },
    });
    const pod = pods.items.find((p) => p.status?.podIP && !p.metadata?.deletionTimestamp);
    if (!pod) return undefined;
    const port = pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === 'metrics')?.containerPort ?? AGENT_REPORT_PORT;
    const ip = pod.status!.podIP!;
    return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
  }
}
