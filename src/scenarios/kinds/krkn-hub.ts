// The `krknHub` kind: a krkn-hub image, <registry>/<repository>:<tag or scenario>, with the scenario's
// parameters as environment variables and the kubeconfig from a Secret where krkn-hub images read it
// (they run as the krkn user). The image acts with whatever that kubeconfig or ServiceAccount allows,
// so, as for a job step, its author must be allowed to create Jobs in the run's namespace.
//
// Off OpenShift, some krkn-hub defaults aim at nothing (pod-scenarios' NAMESPACE `openshift-.*`,
// container-scenarios' `openshift-etcd`, network-chaos's LABEL_SELECTOR `node-role.kubernetes.io/master`):
// the CRD refuses such a step in one line naming the variable to set. The hog scenarios' NAMESPACE is
// where krkn makes its hog pod: the operator sets it to the step's own helper namespace and removes
// what is there when the step ends (src/scenarios/krkn-helpers.ts); their IMAGE gets a tag, so the
// kubelet does not pull it on every step. krkn gets a grace period long enough for its own rollback.
//
// On `chaosrun import` it is the last resort among the kinds: every krkn scenario type that a krkn-hub
// image runs becomes a krknHub step, and of a type that no image runs the import says so. A hog file's
// values become the image's variables whole (src/scenarios/krkn-hog-import.ts); of other files the
// variables the CRD requires are filled in and the user sets the rest from the file.
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { KrknHubBody } from '../../api/types.ts';
import type { RenderContext, ScenarioKind, StepInfo, StepPod } from '../kind.ts';
import { KRKN_HOG_IMAGE } from '../krkn-image-names.ts';
import { KRKN_DEFAULT_NAMESPACE, NAMESPACE_SCENARIOS, PROXIED_SCENARIOS } from '../krkn-helpers.ts';
import { isMap } from '../krkn-yaml.ts';
import { hogEnv } from '../krkn-hog-import.ts';
import { createJobsIn, describeJob } from './job.ts';

export const KRKN_KUBECONFIG_PATH = '/home/krkn/.kube/config';
/** The key of the kubeconfig in the Secret named by kubeconfigSecret. */
export const KUBECONFIG_SECRET_KEY = 'config';

/** krkn scenario types and the krkn-hub image (tag) that runs the same scenario. */
const KRKN_HUB_TAGS: Record<string, string> = {
  pod_disruption_scenarios: 'pod-scenarios',
  container_scenarios: 'container-scenarios',
  node_scenarios: 'node-scenarios',
  time_scenarios: 'time-scenarios',
  network_chaos: 'network-chaos',
  network_chaos_scenarios: 'network-chaos',
  pod_network_scenarios: 'pod-network-chaos',
  application_outages: 'application-outages',
  application_outages_scenarios: 'application-outages',
  cluster_shut_down_scenarios: 'power-outages',
  service_disruption_scenarios: 'service-disruption-scenarios',
  service_hijacking_scenarios: 'service-hijacking',
  zone_outages: 'zone-outages',
  zone_outages_scenarios: 'zone-outages',
  pvc_scenarios: 'pvc-scenario',
  syn_flood_scenarios: 'syn-flood',
  kubevirt_vm_outage: 'kubevirt-outage',
  http_load_scenarios: 'http-load',
};
/** hog_scenarios files say which resource they hog. */
const HOG_TAGS: Record<string, string> = { cpu: 'node-cpu-hog', memory: 'node-memory-hog', io: 'node-io-hog' };
/** network_chaos_ng_scenarios files name their module in `id`. */
const NETWORK_NG_TAGS: Record<string, string> = {
  node_network_filter: 'node-network-filter', pod_network_filter: 'pod-network-filter',
  pod_network_chaos: 'pod-network-chaos', node_network_chaos: 'network-chaos', vmi_network_filter: 'vmi-network-filter',
};

/**
 * The hog scenarios' IMAGE unless the step names one: krkn-hog's tagged name (krkn-hub's default has no
 * tag, `:latest`, which the kubelet pulls for every hog pod), the one the real node's image is built as.
 */
export { KRKN_HOG_IMAGE };

/**
 * The krkn step's grace period: krkn's SIGTERM handler runs its rollback (the hog pod's deletion) and
 * its scenario's own clean-up; its hog workers wait up to 30 s for the hog pod. The step's end does not
 * wait for it (the operator removes what krkn left at once), so this only bounds krkn's own last words.
 */
export const KRKN_GRACE_SECONDS = 60;

export function krknHubImage(body: KrknHubBody): string {
  return `${body.registry}/${body.repository}:${body.tag ?? body.scenario}`;
}

/** The step's environment: the body's, with what the operator sets for the hog scenarios. */
function krknEnv(body: KrknHubBody, step: StepInfo): Record<string, string> {
  const env: Record<string, string> = { ...body.env };
  if (NAMESPACE_SCENARIOS.includes(body.scenario)) {
    env.IMAGE ??= KRKN_HOG_IMAGE;
    // The CRD refuses a NAMESPACE on these; the helper namespace is always the step's own.
    if (step.helperNamespace) env.NAMESPACE = step.helperNamespace;
  }
  return env;
}

/** Where the krkn API proxy listens, in the step pod's own network namespace (loopback only). */
export const KRKN_PROXY_PORT = 8001;
/** The proxy's kubeconfig for krkn, in a volume both containers mount. */
const PROXY_KUBECONFIG_DIR = '/chaosrun-krkn-api';
const PROXY_KUBECONFIG = `${PROXY_KUBECONFIG_DIR}/config`;
/** Where the proxy reads the step's kubeconfigSecret (krkn's own mount is not the proxy's). */
const PROXY_SECRET_DIR = '/chaosrun-krkn-credentials';

/**
 * The krkn API proxy (src/krkn-proxy/) as a native sidecar: an init container that keeps running, whose
 * startup probe holds krkn's container back until the proxy listens and has written krkn's kubeconfig
 * (so krkn never reaches the API server any other way), and which the kubelet stops once krkn has ended.
 */
function proxySidecar(body: KrknHubBody, ctx: RenderContext, helperNamespace: string): V1Container {
  return {
    name: 'krkn-api-proxy',
    image: ctx.operatorImage,
    restartPolicy: 'Always',
    args: [
      'krkn-proxy', '--to', helperNamespace, '--from', KRKN_DEFAULT_NAMESPACE, '--port', String(KRKN_PROXY_PORT),
      '--write-kubeconfig', PROXY_KUBECONFIG,
      ...(body.kubeconfigSecret ? ['--kubeconfig', `${PROXY_SECRET_DIR}/${KUBECONFIG_SECRET_KEY}`] : []),
    ],
    volumeMounts: [
      { name: 'krkn-api', mountPath: PROXY_KUBECONFIG_DIR },
      ...(body.kubeconfigSecret ? [{ name: 'kubeconfig', mountPath: PROXY_SECRET_DIR, readOnly: true }] : []),
    ],
    // The operator's image is distroless: its node is the one program a probe can run.
    startupProbe: { exec: { command: ['/nodejs/bin/node', '-e', `fs.accessSync(${JSON.stringify(PROXY_KUBECONFIG)})`] }, periodSeconds: 1, failureThreshold: 60 },
    resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '128Mi' } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  };
}

function krknHubPod(body: KrknHubBody, ctx: RenderContext, step: StepInfo): StepPod {
  const proxied = PROXIED_SCENARIOS.includes(body.scenario) && step.helperNamespace !== undefined;
  const env = Object.entries(krknEnv(body, step));
  // krkn-hub's env.sh reads its kubeconfig from KRKN_KUBE_CONFIG: the proxy's, for a proxied scenario.
  if (proxied) env.push(['KRKN_KUBE_CONFIG', PROXY_KUBECONFIG]);
  const container: V1Container = {
    name: 'scenario',
    image: krknHubImage(body),
    ...(env.length ? { env: env.map(([name, value]) => ({ name, value })) } : {}),
    ...(body.resources ? { resources: body.resources } : {}),
    // krkn logs why a scenario failed; its last lines are the best reason the history can show.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const volumes: V1Volume[] = [];
  const mounts: NonNullable<V1Container['volumeMounts']> = [];
  if (body.kubeconfigSecret) {
    volumes.push({ name: 'kubeconfig', secret: { secretName: body.kubeconfigSecret } });
    // subPath: mounting the Secret on the directory would hide everything else under ~/.kube. A
    // proxied krkn does not get it: it reaches the API server through the proxy only.
    if (!proxied) mounts.push({ name: 'kubeconfig', mountPath: KRKN_KUBECONFIG_PATH, subPath: KUBECONFIG_SECRET_KEY, readOnly: true });
  }
  if (proxied) {
    volumes.push({ name: 'krkn-api', emptyDir: { sizeLimit: '1Mi' } });
    mounts.push({ name: 'krkn-api', mountPath: PROXY_KUBECONFIG_DIR, readOnly: true });
  }
  if (mounts.length) container.volumeMounts = mounts;
  return {
    containers: [container],
    ...(proxied ? { initContainers: [proxySidecar(body, ctx, step.helperNamespace!)] } : {}),
    serviceAccountName: body.serviceAccountName,
    ...(volumes.length ? { volumes } : {}),
    podMetadata: body.podMetadata,
    terminationGracePeriodSeconds: KRKN_GRACE_SECONDS,
  };
}

/** The krkn-hub image tag that runs the file's scenario, if any does. */
function tagOf(type: string, data: unknown): string | undefined {
  if (type === 'hog_scenarios' && isMap(data)) return HOG_TAGS[String(data['hog-type'])];
  if (type === 'network_chaos_ng_scenarios') {
    const first: unknown = Array.isArray(data) ? data[0] : data;
    if (isMap(first)) return NETWORK_NG_TAGS[String(first.id)];
  }
  return KRKN_HUB_TAGS[type];
}

/** krkn scenario-file keys and the krkn-hub variables that take them, where the image needs some set (the CRD refuses it without). */
const FILE_TO_ENV: Record<string, Record<string, string>> = {
  container_scenarios: {
    namespace: 'NAMESPACE', label_selector: 'LABEL_SELECTOR', container_name: 'CONTAINER_NAME', action: 'ACTION',
    count: 'DISRUPTION_COUNT', expected_recovery_time: 'EXPECTED_RECOVERY_TIME', exclude_label: 'EXCLUDE_LABEL',
  },
  network_chaos: {
    node_name: 'NODE_NAME', label_selector: 'LABEL_SELECTOR', instance_count: 'INSTANCE_COUNT', execution: 'EXECUTION', duration: 'DURATION',
  },
};

/** The variables a file's own values give (its first entry: krkn-hub images take one), as strings. */
function importedEnv(type: string, data: unknown): Record<string, string> | undefined {
  const keys = FILE_TO_ENV[type];
  if (!keys || !isMap(data)) return undefined;
  const entry: unknown = type === 'container_scenarios' ? (Array.isArray(data.scenarios) ? data.scenarios[0] : undefined) : data.network_chaos;
  if (!isMap(entry)) return undefined;
  const env: Record<string, string> = {};
  for (const [key, variable] of Object.entries(keys)) {
    const v = entry[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') env[variable] = String(v);
  }
  return Object.keys(env).length ? env : undefined;
}

export const krknHubKind: ScenarioKind<'krknHub'> = {
  field: 'krknHub',
  renderStep: (body, ctx, step) => krknHubPod(body, ctx, step),
  dryRunPlan: async (_body, ctx) => ({ ok: true, plan: describeJob(ctx.job()) }),
  authorRights: (_body, runNamespace) => [createJobsIn(runNamespace)],
  krknImport(file, to) {
    const tag = tagOf(file.type, file.data);
    if (!tag) {
      to.warnListing(`no krkn-hub image runs ${file.type} scenarios (${file.path}); not imported`);
      return true;
    }
    // A hog file maps whole (what does not is warned about, key by key); other files only in part.
    const hog = file.type === 'hog_scenarios';
    const env = hog ? hogEnv(file, to) : importedEnv(file.type, file.data);
    const name = to.addStep(file.stepName, { krknHub: { scenario: tag, ...(env && Object.keys(env).length ? { env } : {}) } });
    const secret = to.kubeconfigSecret ? '' : 'kubeconfigSecret (or import with --kubeconfig-secret NAME)';
    if (!hog) to.warnListing(`became krknHub step ${name} (krkn-hub:${tag}); set its env from ${file.path} as the krkn-hub ${tag} documentation says${secret ? `, and ${secret}` : ''}`);
    else if (secret) to.warnListing(`became krknHub step ${name} (krkn-hub:${tag}); set its ${secret}`);
    return true;
  },
};
