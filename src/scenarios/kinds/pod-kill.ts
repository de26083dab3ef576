// The `podKill` kind: a built-in scenario. Its step is the operator's own image running
// `chaosrun scenario pod-kill` (src/scenarios/pod-kill.ts) with flags that mirror the body, under the
// scenario ServiceAccount; its dry run lists the pods that match now, with the operator's own access.
//
// Its author must be allowed to delete the pods it aims at: in its namespace, or at the cluster scope
// for a namespacePattern (which may match any namespace). A podKill with its own image or
// ServiceAccount runs a pod of its author's choosing, so that also needs `create jobs`, as a job does.
//
// krkn's pod_disruption files (a list of { id, config }) import onto it, item by item; an item that
// podKill cannot express becomes a step of the pod-scenarios krkn-hub image, which takes the same fields.
import { parseDuration } from '../../api/duration.ts';
import type { PodKillBody } from '../../api/types.ts';
import type { AuthorRight, KrknImportSink, KrknScenarioFile, RenderContext, ScenarioKind, StepPod } from '../kind.ts';
import { isMap, typeName, type Yaml } from '../krkn-yaml.ts';
import { selectTargets } from '../pod-kill.ts';
import { createJobsIn } from './job.ts';

/** The CLI arguments of a podKill body (see parsePodKillArgs in ../main.ts, which reads them back). */
export function podKillArgs(body: PodKillBody): string[] {
  const flags: Array<[string, string | number | undefined]> = [
    ['--namespace', body.namespace],
    ['--namespace-pattern', body.namespacePattern],
    ['--label-selector', body.labelSelector],
    ['--name-pattern', body.namePattern],
    ['--count', body.count ?? 1],
    ['--grace-period-seconds', body.gracePeriodSeconds],
    ['--recovery-timeout', body.recovery?.timeout ?? '120s'],
  ];
  // `--flag=value`: a pattern that starts with "-" must not read as another flag.
  return ['scenario', 'pod-kill', ...flags.filter(([, v]) => v !== undefined).map(([f, v]) => `${f}=${v}`)];
}

export function podKillPod(body: PodKillBody, ctx: RenderContext): StepPod {
  return {
    containers: [{
      name: 'scenario',
      image: body.image ?? ctx.operatorImage,
      args: podKillArgs(body),
      terminationMessagePolicy: 'FallbackToLogsOnError',
    }],
    serviceAccountName: body.serviceAccountName ?? ctx.scenarioServiceAccount,
  };
}

function podKillRights(body: PodKillBody, runNamespace: string): AuthorRight[] {
  const deletePods: AuthorRight = { verb: 'delete', group: '', resource: 'pods', ...(body.namespace !== undefined ? { namespace: body.namespace } : {}) };
  return body.image !== undefined || body.serviceAccountName !== undefined ? [createJobsIn(runNamespace), deletePods] : [deletePods];
}

/** The pod_disruption keys podKill expresses, and the other keys that change nothing at their krkn default. */
const POD_KILL_KEYS = new Set(['namespace_pattern', 'label_selector', 'name_pattern', 'kill', 'krkn_pod_recovery_time']);
const POD_DEFAULTS: Record<string, unknown> = { timeout: 120, duration: 10, execution: 'serial', force: false, exclude_label: '', node_label_selector: '', node_names: [] };
/** pod_disruption keys and the pod-scenarios variables that carry them when podKill cannot. */
const POD_SCENARIOS_ENV: Record<string, string> = {
  namespace_pattern: 'NAMESPACE', label_selector: 'POD_LABEL', name_pattern: 'NAME_PATTERN', kill: 'DISRUPTION_COUNT',
  timeout: 'KILL_TIMEOUT', krkn_pod_recovery_time: 'EXPECTED_RECOVERY_TIME', node_label_selector: 'NODE_LABEL_SELECTOR',
};

/** `^name$` with a plain namespace name in it is a namespace, not a pattern: no namespace list needed. */
function literalNamespace(pattern: string): string | undefined {
  return /^\^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\$$/.exec(pattern)?.[1];
}

/** pod_disruption files: a list of { id, config }. Returns false when the file is not in that shape. */
function importPodDisruption(file: KrknScenarioFile, to: KrknImportSink): boolean {
  const { data, type } = file;
  if (type !== 'pod_disruption_scenarios' && type !== 'plugin_scenarios') return false;
  if (!Array.isArray(data) || !data.every((d) => isMap(d) && isMap(d.config))) {
    if (type === 'pod_disruption_scenarios') throw file.error(1, 'a pod_disruption scenario file must be a list of { id, config } entries');
    return false;
  }
  for (const [i, item] of (data as Array<{ id?: unknown; config: Yaml }>).entries()) {
    const idLine = file.lineWith(`id: ${String(item.id)}`);
    if (item.id === 'wait-for-pods') {
      to.warn(idLine, `[${i}].id`, 'wait-for-pods not imported: a podKill step waits for recovery itself');
      continue;
    }
    if (item.id !== undefined && item.id !== 'kill-pods') {
      to.warn(idLine, `[${i}].id`, `plugin ${String(item.id)} not imported`);
      continue;
    }
    importKillPods(file, to, item.config, i, idLine);
  }
  return true;
}

function importKillPods(file: KrknScenarioFile, to: KrknImportSink, config: Yaml, i: number, itemLine: number): void {
  const at = (key: string) => file.lineWith(`${key}:`, itemLine);
  const str = (key: string): string | undefined => {
    const v = config[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw file.error(at(key), `[${i}].config.${key} must be a string, not ${typeName(v)}`);
    return v;
  };
  const int = (key: string, min: number): number | undefined => {
    const v = config[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw file.error(at(key), `[${i}].config.${key} must be a whole number of at least ${min}, not ${typeName(v)}`);
    return v;
  };
  const namespacePattern = str('namespace_pattern');
  const labelSelector = str('label_selector');
  const namePattern = str('name_pattern');
  const kill = int('kill', 0) ?? 1;
  const recovery = int('krkn_pod_recovery_time', 0);
  // Checked for their type even though podKill has no use for them at their defaults.
  int('timeout', 0);
  int('duration', 0);

  const extra = Object.keys(config).filter((k) => !POD_KILL_KEYS.has(k) && JSON.stringify(config[k]) !== JSON.stringify(POD_DEFAULTS[k]));
  const missing = [
    ...(namespacePattern ? [] : ['namespace_pattern']),
    ...(labelSelector || namePattern ? [] : ['label_selector or name_pattern']),
    ...(kill >= 1 ? [] : ['kill of at least 1']),
  ];
  if (extra.length === 0 && missing.length === 0) {
    const ns = literalNamespace(namespacePattern!);
    to.addStep(file.stepName, {
      podKill: {
        ...(ns ? { namespace: ns } : { namespacePattern }),
        ...(labelSelector ? { labelSelector } : {}),
        ...(namePattern ? { namePattern } : {}),
        count: kill,
        recovery: { timeout: `${recovery ?? 120}s` },
      },
    });
    return;
  }
  // Not expressible as podKill: the pod-scenarios image takes the same fields as variables.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    const name = POD_SCENARIOS_ENV[key];
    if (name && value !== null && value !== '') env[name] = String(value);
    else if (key === 'node_names' && Array.isArray(value) && value.length === 1) env.NODE_NAMES = String(value[0]);
    else if (JSON.stringify(value) !== JSON.stringify(POD_DEFAULTS[key])) to.warn(at(key), `[${i}].config.${key}`, 'not mapped (neither podKill nor the pod-scenarios image takes it); dropped');
  }
  const why = [...extra.map((k) => `${k} is set`), ...missing.map((m) => `no ${m}`)].join(', ');
  const name = to.addStep(file.stepName, { krknHub: { scenario: 'pod-scenarios', env } });
  to.warn(itemLine, `[${i}]`, `became krknHub step ${name} (krkn-hub:pod-scenarios), not podKill, because ${why}${to.kubeconfigSecret ? '' : '; set its kubeconfigSecret (or import with --kubeconfig-secret NAME)'}`);
}

export const podKillKind: ScenarioKind<'podKill'> = {
  field: 'podKill',
  renderStep: podKillPod,
  async dryRunPlan(body, ctx) {
    try {
      const { pods, target } = await selectTargets(ctx.client, {
        ...body, count: body.count ?? 1, recoveryTimeoutMs: parseDuration(body.recovery?.timeout ?? '120s'),
      });
      const names = pods.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`).sort();
      return { ok: true, plan: `podKill would delete ${body.count ?? 1} of the ${names.length} pod(s) that match now (${target}): ${names.join(', ')}` };
    } catch (err) {
      return { ok: false, plan: `podKill would fail: ${(err as Error).message}` };
    }
  },
  authorRights: podKillRights,
  krknImport: importPodDisruption,
};
