// The holder of a node step (nodeCordon, nodeDrain): the command its pod runs (`chaosrun scenario node`).
// It picks the nodes (a label selector and/or names, count or percent of the schedulable ones, never
// one already unschedulable, never the operator's own unless its run allows it), writes them and its
// deadline on its own pod (ANNOTATION_NODE_TARGETS, src/api/node-fault.ts), and holds for the duration.
// It cordons nothing itself: the controller's cordoner (src/cordon/) cordons, evicts and uncordons while
// this pod runs and its run says RUN; so this process holds no fault and has nothing to undo, and
// however it ends, SIGKILL included, the controller uncordons.
//
// While it holds, it reads its nodes now and then: what the cordoner recorded on them (cordoned by this
// holder; for a drain, the pods evicted and those a PodDisruptionBudget kept refusing) goes into its
// summary, and a drain whose evictions were still refused at its evictionTimeout fails the step with
// that line, as `kubectl drain --timeout` fails.
//
// The shared half of the two kinds (kinds/node-cordon.ts, kinds/node-drain.ts) is here too: the
// rendered step, the author's rights and the dry run.
import { createServer } from 'node:http';
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { formatDuration, parseDuration } from '../api/duration.ts';
import { ANNOTATION_DURATION, ANNOTATION_FAULT, HOLDER_PROBE_PORT, LABEL_FAULT } from '../api/fault-holder.ts';
import { ANNOTATION_DRAIN, ANNOTATION_NODE_TARGETS, LABEL_CORDON, parseDrainRecord, type NodeFaultKind, type NodeFaultSpec, type NodeTargets } from '../api/node-fault.ts';
import type { NodeCordonBody, NodeDrainBody } from '../api/types.ts';
import { podViewOf, skipReason } from '../cordon/rules.ts';
import { KubeClient, KubeError, MERGE_PATCH, type ApiClient } from '../kube/client.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { paths } from '../kube/paths.ts';
import { createLogger, type Logger } from '../log.ts';
import { parseOptions, wholeNumber, type OptionSpecs } from '../options.ts';
import type { ApiReader, AuthorRight, RenderContext, StepInfo, StepPlan, StepPod } from './kind.ts';
import { pickRandom } from './pod-kill.ts';
import { targetCount } from './hold.ts';

type Body = NodeCordonBody & Partial<Pick<NodeDrainBody, 'evictionTimeout' | 'gracePeriodSeconds'>>;

export interface NodeSelection {
  labelSelector?: string;
  names?: string[];
  count?: number;
  percent?: number;
  /** Never picked (the operator's node); absent: the run allowed it, or it is not known. */
  operatorNode?: string;
}

/** API failures become one line that says which call failed. */
async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try { return await call(); } catch (err) {
    if (err instanceof KubeError) throw new Error(`API error while ${what}: ${err.message}`);
    throw err;
  }
}

const describe = (s: NodeSelection) => [
  s.labelSelector !== undefined ? `labels ${s.labelSelector}` : undefined,
  s.names?.length ? `names ${s.names.join(',')}` : undefined,
].filter(Boolean).join(', ');

/** Chooses nodes now: the matching schedulable ones, as many as count or percent says; the others matched are skipped with why. */
export async function chooseNodes(client: ApiReader, s: NodeSelection): Promise<{ chosen: string[]; matched: number; skipped: NonNullable<NodeTargets['skipped']> }> {
  const list = await api('listing nodes', () => client.request<{ items: V1Node[] }>('GET', paths.nodes(), { query: { labelSelector: s.labelSelector } }));
  const named = s.names?.length ? new Set(s.names) : undefined;
  const matched = list.items.filter((n) => !named || named.has(n.metadata!.name!));
  const skipped: NonNullable<NodeTargets['skipped']> = [];
  const candidates: string[] = [];
  for (const n of matched) {
    const name = n.metadata!.name!;
    if (name === s.operatorNode) skipped.push({ node: name, why: 'the operator\'s controller runs on it (allowOperatorNode is not set)' });
    else if (n.spec?.unschedulable) skipped.push({ node: name, why: 'already unschedulable: left as it was' });
    else if (n.metadata?.deletionTimestamp) skipped.push({ node: name, why: 'being deleted' });
    else candidates.push(name);
  }
  const left = skipped.length ? `; left alone: ${skipped.map((k) => `${k.node} (${k.why})`).join(', ')}` : '';
  if (candidates.length === 0) throw new Error(`no schedulable node matched (${describe(s)})${left}`);
  const n = targetCount(candidates.length, s.count, s.percent);
  if (candidates.length < n) throw new Error(`only ${candidates.length} schedulable node(s) matched (${describe(s)}), fewer than count ${n}${left}`);
  return { chosen: pickRandom(candidates, n).sort(), matched: candidates.length, skipped };
}

export function nodeSpecOf(kind: NodeFaultKind, body: Body): NodeFaultSpec {
  return {
    kind, ...(body.allowOperatorNode ? { allowOperatorNode: true } : {}),
    ...(kind === 'nodeDrain' ? { evictionTimeoutSeconds: Math.ceil(parseDuration(body.evictionTimeout ?? '60s') / 1000) } : {}),
    ...(kind === 'nodeDrain' && body.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: body.gracePeriodSeconds } : {}),
  };
}

export function nodeArgs(kind: NodeFaultKind, body: Body, ctx: Pick<RenderContext, 'operatorNode'>, step: StepInfo): string[] {
  const flags: Array<[string, string | number | undefined]> = [
    ['--kind', kind],
    ['--label-selector', body.labelSelector],
    ['--names', body.names?.join(',')],
    ['--count', body.count],
    ['--percent', body.percent],
    ['--operator-node', body.allowOperatorNode ? undefined : ctx.operatorNode],
    ['--duration', step.duration],
  ];
  return ['scenario', 'node', ...flags.filter(([, v]) => v !== undefined && v !== '').map(([f, v]) => `${f}=${v}`)];
}

export function nodePod(kind: NodeFaultKind, body: Body, ctx: RenderContext, step: StepInfo): StepPod {
  return {
    containers: [{
      name: 'scenario',
      image: ctx.operatorImage,
      args: nodeArgs(kind, body, ctx, step),
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      ],
      terminationMessagePolicy: 'FallbackToLogsOnError',
      ports: [{ name: 'probe', containerPort: HOLDER_PROBE_PORT }],
      readinessProbe: { httpGet: { path: '/ready', port: HOLDER_PROBE_PORT }, periodSeconds: 1, failureThreshold: 1 },
    }],
    serviceAccountName: ctx.scenarioServiceAccount,
    podMetadata: {
      labels: { [LABEL_FAULT]: kind },
      annotations: { [ANNOTATION_FAULT]: JSON.stringify(nodeSpecOf(kind, body)), ...(step.duration ? { [ANNOTATION_DURATION]: step.duration } : {}) },
    },
  };
}

/** Cordoning is `patch nodes`; draining also evicts pods anywhere on them: `create pods/eviction`, both cluster-wide. */
export function nodeRights(kind: NodeFaultKind): AuthorRight[] {
  const patch: AuthorRight = { verb: 'patch', group: '', resource: 'nodes' };
  return kind === 'nodeDrain' ? [patch, { verb: 'create', group: '', resource: 'pods', subresource: 'eviction' }] : [patch];
}

/** The node a rendered step's holder is told never to pick (its --operator-node), for the dry run. */
export function operatorNodeOf(job: V1Job): string | undefined {
  const args = job.spec?.template.spec?.containers[0]?.args ?? [];
  return args.find((a) => a.startsWith('--operator-node='))?.slice('--operator-node='.length);
}

/** The dry run: which nodes would be picked now, which left alone, and for a drain which pods each would lose. */
export async function nodePlan(kind: NodeFaultKind, body: Body, ctx: { client: ApiReader; operatorNode?: string }, step: StepInfo): Promise<StepPlan> {
  try {
    const sel = { ...body, ...(body.allowOperatorNode ? {} : { operatorNode: ctx.operatorNode }) };
    const { chosen, matched, skipped } = await chooseNodes(ctx.client, sel);
    const left = skipped.length ? `; left alone: ${skipped.map((k) => `${k.node} (${k.why})`).join(', ')}` : '';
    let plan = `${kind} would cordon ${chosen.length} of the ${matched} schedulable node(s) that match now for ${step.duration}, e.g. ${chosen.join(', ')}${left}`;
    if (kind === 'nodeDrain') {
      const per: string[] = [];
      for (const node of chosen) {
        const pods = await api(`listing the pods on node ${node}`, () => ctx.client.request<{ items: V1Pod[] }>('GET', paths.pods(), { query: { fieldSelector: `spec.nodeName=${node}` } }));
        const views = pods.items.map(podViewOf);
        const evict = views.filter((p) => !p.deleting && skipReason(p) === undefined).map((p) => `${p.namespace}/${p.name}`);
        const kept = views.filter((p) => skipReason(p) !== undefined).map((p) => `${p.namespace}/${p.name} (${skipReason(p)})`);
        per.push(`from ${node} evict ${evict.length ? evict.join(', ') : 'nothing'}${kept.length ? `, keep ${kept.join(', ')}` : ''}`);
      }
      plan += `; ${per.join('; ')}`;
    }
    return { ok: true, plan };
  } catch (err) {
    return { ok: false, plan: `${kind} would fail: ${(err as Error).message}` };
  }
}

// --- the holder's command ---

export interface NodeHoldOptions {
  kind: NodeFaultKind;
  selection: NodeSelection;
  durationMs: number;
  self: { namespace: string; name: string; uid?: string };
  /** How often the holder reads its nodes (default 2 s). */
  pollMs?: number;
}

const options = {
  kind: { type: 'string', value: 'KIND', help: 'nodeCordon or nodeDrain' },
  'label-selector': { type: 'string', value: 'SEL', help: 'the nodes, e.g. node-role.kubernetes.io/worker' },
  names: { type: 'string', value: 'a,b', help: 'node names (with or instead of --label-selector)' },
  count: { type: 'string', value: 'N', help: 'nodes (default 1; or --percent)' },
  percent: { type: 'string', value: 'P', help: 'this percentage of the matching schedulable nodes (rounded up)' },
  'operator-node': { type: 'string', value: 'NAME', help: 'never pick this node (the operator\'s)' },
  duration: { type: 'string', value: 'D', help: 'how long the nodes stay cordoned' },
  kubeconfig: { type: 'string', value: 'PATH', help: 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)' },
} as const satisfies OptionSpecs;
export const nodeOptions = options;

export function parseNodeArgs(args: string[], env: NodeJS.ProcessEnv = process.env): { opts: NodeHoldOptions; kubeconfig?: string } {
  const { values } = parseOptions(args, options);
  if (values.kind !== 'nodeCordon' && values.kind !== 'nodeDrain') throw new Error(`node needs --kind nodeCordon or nodeDrain, not ${JSON.stringify(values.kind ?? '')}`);
  if (!values.duration) throw new Error('node needs --duration');
  if (values['label-selector'] === undefined && values.names === undefined) throw new Error('node needs --label-selector, --names or both');
  if (values.count !== undefined && values.percent !== undefined) throw new Error('node takes --count or --percent, not both');
  const percent = values.percent === undefined ? undefined : Number(values.percent);
  if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new Error(`--percent must be more than 0 and at most 100, not ${JSON.stringify(values.percent)}`);
  const self = { namespace: env.POD_NAMESPACE ?? '', name: env.POD_NAME ?? '', ...(env.POD_UID ? { uid: env.POD_UID } : {}) };
  if (!self.namespace || !self.name) throw new Error('node runs in a step pod: POD_NAMESPACE and POD_NAME (the downward API) must be set');
  const names = values.names?.split(',').map((n) => n.trim()).filter(Boolean);
  return {
    opts: {
      kind: values.kind,
      selection: {
        ...(values['label-selector'] !== undefined ? { labelSelector: values['label-selector'] } : {}),
        ...(names?.length ? { names } : {}),
        ...(values.count !== undefined ? { count: wholeNumber('count', values.count, 1) } : {}),
        ...(percent !== undefined ? { percent } : {}),
        ...(values['operator-node'] ? { operatorNode: values['operator-node'] } : {}),
      },
      durationMs: parseDuration(values.duration),
      self,
    },
    kubeconfig: values.kubeconfig,
  };
}

/** What the holder saw of its nodes: cordoned by it at some point, and each drain's last record. */
interface Seen { cordoned: Set<string>; evicted: Map<string, Set<string>> }

async function look(client: ApiClient, opts: NodeHoldOptions, targets: string[], seen: Seen, uid: string | undefined): Promise<void> {
  for (const node of targets) {
    let n: V1Node;
    try { n = await client.request<V1Node>('GET', paths.nodes(node)); } catch { continue; } // a failed read is not a finding
    if (uid !== undefined && n.metadata?.labels?.[LABEL_CORDON] === uid) seen.cordoned.add(node);
    if (opts.kind !== 'nodeDrain') continue;
    const rec = parseDrainRecord(n.metadata?.annotations?.[ANNOTATION_DRAIN]);
    if (!rec) continue;
    const set = seen.evicted.get(node) ?? new Set<string>();
    for (const p of rec.evicted) set.add(p);
    seen.evicted.set(node, set);
    if (rec.timedOut && rec.blocked?.length && (uid === undefined || n.metadata?.labels?.[LABEL_CORDON] === uid)) {
      const first = rec.blocked[0];
      throw new Error(`nodeDrain: node ${node}: ${rec.blocked.length} pod(s) not evicted within the eviction timeout: ${rec.blocked.map((b) => b.pod).join(', ')} (${first.reason})`);
    }
  }
}

/** Picks the nodes, tells the controller (this pod's annotation), holds for the duration; returns the summary. */
export async function holdNodeFault(client: ApiClient, opts: NodeHoldOptions, log: Logger, stopped: Promise<void>, onRecorded: () => void = () => {}): Promise<string> {
  const { chosen, skipped } = await chooseNodes(client, opts.selection);
  const deadline = new Date(Date.now() + opts.durationMs).toISOString();
  const targets: NodeTargets = { nodes: chosen, deadline, ...(skipped.length ? { skipped } : {}) };
  await api(`recording the nodes on pod ${opts.self.namespace}/${opts.self.name}`, () => client.request('PATCH', paths.pods(opts.self.namespace, opts.self.name), {
    body: { metadata: { annotations: { [ANNOTATION_NODE_TARGETS]: JSON.stringify(targets) } } }, contentType: MERGE_PATCH,
  }));
  onRecorded();
  log.info({ nodes: chosen, skipped, deadline }, 'nodes recorded; holding');
  const seen: Seen = { cordoned: new Set(), evicted: new Map() };
  const end = Date.now() + opts.durationMs;
  let done = false;
  void stopped.then(() => { done = true; });
  while (!done && Date.now() < end) {
    await look(client, opts, chosen, seen, opts.self.uid);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => { timer = setTimeout(r, Math.max(0, Math.min(opts.pollMs ?? 2_000, end - Date.now()))); }), stopped]);
    clearTimeout(timer);
  }
  const evicted = [...seen.evicted.values()].flatMap((s) => [...s]);
  const cordoned = opts.self.uid === undefined ? chosen : [...seen.cordoned].sort();
  const left = skipped.length ? `; left alone: ${skipped.map((k) => `${k.node} (${k.why})`).join(', ')}` : '';
  return `${opts.kind}: cordoned ${cordoned.length ? cordoned.join(', ') : 'no node (the controller did not cordon any)'} for ${formatDuration(opts.durationMs)}` +
    (opts.kind === 'nodeDrain' ? `; evicted ${evicted.length} pod(s)${evicted.length ? `: ${evicted.sort().join(', ')}` : ''}` : '') + left;
}

/** `chaosrun scenario node`: ready once the nodes are recorded; SIGTERM ends the hold at once. */
export async function runNodeHolder(args: string[]): Promise<string> {
  const { opts, kubeconfig } = parseNodeArgs(args);
  const client = new KubeClient(loadClusterAccess(kubeconfig));
  const stopped = new Promise<void>((resolve) => { for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve()); });
  let recorded = false;
  const probe = createServer((_req, res) => { res.writeHead(recorded ? 200 : 503).end(recorded ? 'nodes recorded\n' : 'picking nodes\n'); });
  await new Promise<void>((resolve) => probe.listen(HOLDER_PROBE_PORT, resolve)).catch(() => {});
  try {
    return await holdNodeFault(client, opts, createLogger('scenario-node'), stopped, () => { recorded = true; });
  } finally {
    probe.close();
    client.close();
  }
}
