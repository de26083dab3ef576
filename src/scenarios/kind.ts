// The contract of a scenario kind: everything the operator does differently for `job`, `podKill`,
// `krknHub` (and the kinds to come) sits behind this one interface, in one module per kind under
// kinds/, listed once in registry.ts. The Job renderer, the dry run, the admission policy's test and
// `chaosrun import` ask the registry for a scenario's kind instead of testing body keys themselves,
// so a new kind is a new file plus one line in the registry (and its body in the API types and CRD).
//
// A leaf module: it imports nothing of ours but the API types, so the controller, the safety rules
// and the kinds can all depend on it without an import circle.
import type { V1Container, V1Job, V1Toleration, V1Volume } from '@kubernetes/client-node';
import type { PodMetadata, ScenarioBodies } from '../api/types.ts';

/** The keys of a scenario that hold its body: one per kind. */
export type BodyField = keyof ScenarioBodies;
/** The body a kind's key holds. */
export type BodyOf<F extends BodyField> = NonNullable<ScenarioBodies[F]>;

export interface ScenarioKind<F extends BodyField = BodyField> {
  /** The body's key in a scenario (spec.scenarios[].<field>); also the kind's name in messages. */
  readonly field: F;
  /** What the step's pod runs: its containers, volumes, ServiceAccount and pod metadata. */
  renderStep(body: BodyOf<F>, ctx: RenderContext, step: StepInfo): StepPod;
  /** What a dry run records for the step instead of running it. Only reads; never creates or deletes. */
  dryRunPlan(body: BodyOf<F>, ctx: PlanContext, step: StepInfo): Promise<StepPlan>;
  /**
   * The rights the run's author must hold for the operator to run this body on their behalf: the
   * admission policy (charts/chaosrun-operator/templates/admission-policy.yaml) checks exactly these,
   * and test/packaging/admission-policy.test.ts holds it to them.
   */
  authorRights(body: BodyOf<F>, runNamespace: string): AuthorRight[];
  /**
   * Imports one scenario file that a krkn config lists onto this kind; false: not this kind's file, and
   * the next kind in the registry tries. Kinds without a krkn counterpart leave it out.
   */
  krknImport?(file: KrknScenarioFile, to: KrknImportSink): boolean;
  /**
   * Its step's pod says what it did when it succeeds too (a lasting fault's holder names the pods it
   * hit, on which nodes, with what): the controller reads that termination message into the step's
   * history entry, as it does for every failed step.
   */
  readonly reportsOnSuccess?: boolean;
  /**
   * Its step's pod is a fault holder (src/api/fault-holder.ts) whose targets the node agents act on:
   * the controller reads the targets into status.faults and the agents' reports while it runs.
   */
  readonly holdsFault?: boolean;
}

/**
 * The scenario's own fields beside its body, which some kinds need (a lasting fault's duration), and the
 * step's krkn helper namespace when it has one (src/scenarios/krkn-helpers.ts).
 */
export interface StepInfo { name: string; duration?: string; helperNamespace?: string }

/** What a scenario body contributes to the step's pod (the Job renderer adds the rest). */
export interface StepPod {
  containers: V1Container[];
  /** Init containers; one with restartPolicy Always is a native sidecar (it runs beside the containers). */
  initContainers?: V1Container[];
  serviceAccountName?: string;
  volumes?: V1Volume[];
  podMetadata?: PodMetadata;
  /** How long the pod's process has between SIGTERM and SIGKILL when the step ends early (absent: Kubernetes' 30 s). */
  terminationGracePeriodSeconds?: number;
}

/** Operator-wide settings that built-in scenarios need. */
export interface RenderContext {
  /** The operator's own image, which runs the built-in scenarios (`chaosrun scenario …`). */
  operatorImage: string;
  /** The ServiceAccount built-in scenarios run as by default. */
  scenarioServiceAccount: string;
  /** Where every step pod runs (e.g. a node set aside for chaos tooling); empty: wherever the scheduler likes. */
  stepPlacement?: StepPlacement;
  /** The node the operator's controller runs on (the downward API): a node fault never picks it unless its run allows it. */
  operatorNode?: string;
}

export interface StepPlacement {
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
}

/** What a dry run reads with: GETs only (src/kube/client.ts's ApiClient is one). */
export interface ApiReader {
  request<T>(method: 'GET', path: string, options?: { query?: Record<string, string | number | boolean | undefined> }): Promise<T>;
}

export interface PlanContext {
  /** The operator's own access: what it may read, a plan may read. */
  client: ApiReader;
  /** The Job the step would create, rendered when asked (a plan never creates it). */
  job(): V1Job;
}

/** What a step would do; `ok: false` means it would fail. */
export interface StepPlan { ok: boolean; plan: string }

/** One RBAC right, as a SubjectAccessReview (and CEL's authorizer) asks about it. */
export interface AuthorRight {
  verb: string;
  /** The API group; '' is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** The namespace it is needed in; absent: at the cluster scope. */
  namespace?: string;
}

/** One file listed under kraken.chaos_scenarios, read and parsed. */
export interface KrknScenarioFile {
  /** The scenario type it is listed under, e.g. pod_disruption_scenarios. */
  type: string;
  /** Its path as the config names it (messages name it so). */
  path: string;
  /** Its YAML, parsed. */
  data: unknown;
  /** A step name made of its file name (the sink makes it unique). */
  stepName: string;
  /** The 1-based line of this file where `text` first appears at or after line `from`. */
  lineWith(text: string, from?: number): number;
  /** An error that makes the input unusable: `path:line: reason`. */
  error(line: number, reason: string): Error;
}

/** A body as `chaosrun import` writes it: the CRD's defaults fill in what it leaves out. */
export type ImportedBody = { [F in BodyField]?: Partial<BodyOf<F>> };

/** Where a kind's krkn import puts what it made of a file. */
export interface KrknImportSink {
  /** Adds a step named `name` (or `name-2`, … when taken); returns the name it got. */
  addStep(name: string, body: ImportedBody): string;
  /** Something not imported as it was, at a line of the scenario file: `path:line: key: why`. */
  warn(line: number, key: string, why: string): void;
  /** The same at the config's line that lists the file, under its key there (kraken.chaos_scenarios[i].type[j]). */
  warnListing(why: string): void;
  /** The Secret every krknHub step added gets as its kubeconfigSecret (`--kubeconfig-secret`); absent: the user sets it. */
  readonly kubeconfigSecret?: string;
}
