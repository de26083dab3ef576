// The ChaosRun resource as TypeScript types. crds/chaosrun.yaml is the schema users see;
// test/api/crd-sync.test.ts keeps the two in step.

export const SIGNALS = ['RUN', 'PAUSE', 'STOP'] as const;
export type Signal = (typeof SIGNALS)[number];

export const PHASES = ['Pending', 'Running', 'Paused', 'Completed', 'Stopped', 'Failed'] as const;
export type Phase = (typeof PHASES)[number];
export const FINAL_PHASES: readonly Phase[] = ['Completed', 'Stopped', 'Failed'];
export const isFinal = (phase: Phase | undefined): boolean => phase !== undefined && FINAL_PHASES.includes(phase);

export type FailurePolicy = 'Continue' | 'Stop';

export interface EnvVar { name: string; value?: string; valueFrom?: Record<string, unknown> }

export interface ResourceRequirements {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
}

export interface PodMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A container to run as the step (krkn-hub images and anything else). */
export interface JobBody {
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  serviceAccountName?: string;
  resources?: ResourceRequirements;
  /** Labels and annotations for the step's pod (e.g. to opt out of sidecar injection). */
  podMetadata?: PodMetadata;
}

/** Built-in scenario: delete `count` matching pods and wait until as many match and are Ready again. */
export interface PodKillBody {
  namespace?: string;
  namespacePattern?: string;
  labelSelector?: string;
  namePattern?: string;
  count: number;
  gracePeriodSeconds?: number;
  recovery?: { timeout: string };
  serviceAccountName?: string;
  image?: string;
}

/** A krkn-hub image: <registry>/<repository>:<tag or scenario>, parameters as environment variables. */
export interface KrknHubBody {
  scenario: string;
  registry: string;
  repository: string;
  tag?: string;
  env?: Record<string, string>;
  kubeconfigSecret?: string;
  serviceAccountName?: string;
  resources?: ResourceRequirements;
  podMetadata?: PodMetadata;
}

/**
 * A scenario's possible bodies, one key per scenario kind (the CRD allows exactly one). Each key has
 * one module in src/scenarios/kinds/, listed in src/scenarios/registry.ts.
 */
/**
 * A lasting network fault on the target pods (the same selection as podKill, count or percent), held
 * by the node agents for the step's duration: exactly one of partition, loss, bandwidth or delay.
 */
export interface NetworkBody extends PodTargets {
  /** The target's side: ingress (to the pod), egress (from it) or both. */
  direction: 'ingress' | 'egress' | 'both';
  /** Only traffic with these peers (IPv4 CIDRs, optionally their ports); absent: all but loopback. */
  to?: Array<{ cidr: string; ports?: number[] }>;
  partition?: Record<string, never>;
  loss?: { percent: number };
  bandwidth?: { rate: string };
  /** Hold what arrives at the target this long (± a uniform jitter): direction ingress only. */
  delay?: { latency: string; jitter?: string };
  /** How long the fault outlives the last renewal by its node's agent (seconds, default 4). */
  leaseSeconds: number;
}

/**
 * Nodes taken out of service for the step's duration (src/api/node-fault.ts): the nodes a label selector
 * and/or names pick (count or percent of the schedulable ones), cordoned by the controller while the
 * step's holder runs and its run says RUN. Never the operator's own node unless allowOperatorNode.
 */
export interface NodeCordonBody {
  labelSelector?: string;
  names?: string[];
  count?: number;
  percent?: number;
  /** May pick the node the operator's controller runs on (a cordon there is undone only by a live controller). */
  allowOperatorNode?: boolean;
}

/** A cordon, and the node's evictable pods evicted through the Eviction API (PodDisruptionBudgets respected). */
export interface NodeDrainBody extends NodeCordonBody {
  /** How long evictions a PodDisruptionBudget refuses are retried before the step fails (default 60s). */
  evictionTimeout: string;
  /** The evictions' grace period in seconds (absent: each pod's own). */
  gracePeriodSeconds?: number;
}

export interface ScenarioBodies {
  job?: JobBody;
  podKill?: PodKillBody;
  krknHub?: KrknHubBody;
  network?: NetworkBody;
  nodeCordon?: NodeCordonBody;
  nodeDrain?: NodeDrainBody;
  freeze?: FreezeBody;
  stress?: StressBody;
  containerKill?: ContainerKillBody;
}

/** The target selection of the pod-targeted bodies (network, freeze, stress, containerKill): podKill's, with count or percent. */
export interface PodTargets {
  namespace?: string;
  namespacePattern?: string;
  labelSelector?: string;
  namePattern?: string;
  count?: number;
  percent?: number;
  serviceAccountName?: string;
  image?: string;
}

/** Every process of the target pods' containers (or the named ones) frozen by the cgroup freezer for the step's duration. */
export interface FreezeBody extends PodTargets {
  containers?: string[];
}

/** stress-ng charged to the target container's own cgroups (its limits apply) for the step's duration. */
export interface StressBody extends PodTargets {
  /** The containers whose cgroups bear the load (default: the pod's first). */
  containers?: string[];
  cpu?: { workers: number; load: number };
  memory?: { size: string };
  /** Load each target pod's node instead of its container (krkn's node hogs): no container limit holds it. */
  node?: boolean;
}

/** One signal to a target container's main process; the kubelet restarts it (the pod stays). */
export interface ContainerKillBody extends PodTargets {
  /** The container (default: the pod's first). */
  container?: string;
  signal: string;
  /** How long the containers may take to be restarted before the step fails (default 60s). */
  restartTimeout?: string;
}

export interface Scenario extends ScenarioBodies {
  name: string;
  /** A step still running after this long is failed and its Job deleted. */
  timeout?: string;
  /** How long a lasting fault (network) is held; the step succeeds when it has run out. */
  duration?: string;
}

/** A Deployment, StatefulSet or DaemonSet is rolling out (by name or label selector). */
export interface RolloutGate {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  namespace?: string;
  name?: string;
  labelSelector?: string;
}

export interface SecretKeyRef { name: string; key: string }

/** A PromQL query compared with a threshold ("> 0.8", "== 0", "any", "none"), every `interval`. */
export interface PrometheusGate {
  url: string;
  query: string;
  comparison: string;
  interval: string;
  bearerTokenSecret?: SecretKeyRef;
  /** What an unreachable Prometheus means: Hold (safe, the default) or Clear. */
  onError: 'Hold' | 'Clear';
}

/** krkn's critical-alerts check: ALERTS{alertstate="firing", severity=~"critical"} plus a matcher. */
export interface AlertsGate {
  url: string;
  severity: string;
  matchers?: string;
  interval: string;
  bearerTokenSecret?: SecretKeyRef;
  onError: 'Hold' | 'Clear';
}

export type Weekday = 'Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri' | 'Sat' | 'Sun';

/** A time of day range on some weekdays (default every day) or on one date; end <= start crosses midnight. */
export interface TimeWindow {
  days?: Weekday[];
  /** YYYY-MM-DD, in the schedule's time zone. */
  date?: string;
  /** HH:MM or HH:MM:SS. */
  start: string;
  /** HH:MM or HH:MM:SS; 24:00 is the end of the day. */
  end: string;
}

/** Chaos windows: true outside every `allowed` window (when any) or inside any `blackout` window. */
export interface ScheduleGate {
  /** An IANA time zone (default UTC); daylight saving follows it. */
  timeZone: string;
  allowed?: TimeWindow[];
  blackout?: TimeWindow[];
}

export interface Gate {
  name: string;
  rollout?: RolloutGate;
  prometheus?: PrometheusGate;
  alerts?: AlertsGate;
  schedule?: ScheduleGate;
}

export interface Gates {
  /** While any is true no new step starts (as PAUSE); the run resumes by itself when all are false. */
  pauseWhen?: Gate[];
  /** When one becomes true the run ends as Stopped. */
  stopWhen?: Gate[];
}

export interface ChaosRunSpec {
  signalState: Signal;
  pauseUntil?: string;
  iterations: number;
  daemonMode: boolean;
  waitDuration: string;
  publishStatus: boolean;
  failurePolicy: FailurePolicy;
  historyLimit: number;
  scenarios: Scenario[];
  gates?: Gates;
  /**
   * The dead-man switch: a running step's Job ends by itself (Kubernetes enforces its
   * activeDeadlineSeconds) when no live, leading operator has renewed it for this long. 0 turns it off.
   * The CRD defaults it (120); absent only in objects built by hand, where the same default applies.
   */
  deadManSeconds?: number;
  /** Run every rule, but record what each step would do instead of doing it (no Job, no deletion). */
  dryRun?: boolean;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type StepResult = 'Running' | 'Succeeded' | 'Failed' | 'Aborted';
/** Why a step ended, when its result alone does not say it. */
export const STEP_REASONS = ['DeadManSwitch', 'DryRun', 'Refused'] as const;
export type StepReason = (typeof STEP_REASONS)[number];

export interface StepRecord {
  iteration: number;
  stepIndex: number;
  step: string;
  job: string;
  result: StepResult;
  /**
   * DeadManSwitch: Kubernetes ended the step because no live operator renewed its deadline.
   * DryRun: nothing ran; the message says what the step would have done.
   * Refused: the API server refused the step's Job (or it could not be rendered): it never ran.
   */
  reason?: StepReason;
  startTime: string;
  endTime?: string;
  message?: string;
  /**
   * The step's lasting faults that were in force and are no more, oldest first, the newest
   * FAULT_RECORDS_LIMIT kept (one per PAUSE and RUN, say); the one in force now is status.faults.
   */
  faults?: FaultRecord[];
}

/**
 * Why a lasting fault stopped being in force, as the controller saw it:
 * Paused: PAUSE (or a timed pause); RUN applies it again, as a new record.
 * Stopped: STOP, or a stopWhen gate.
 * StepEnded: its step ended (its duration ran out, its timeout, the dead-man switch, its Job deleted).
 * Retargeted: its holder named other targets (a new record follows for them).
 * HolderGone: its holder stopped naming targets while its step still ran (its pod gone or deleted).
 */
export const FAULT_END_REASONS = ['Paused', 'Stopped', 'StepEnded', 'Retargeted', 'HolderGone'] as const;
export type FaultEndReason = (typeof FAULT_END_REASONS)[number];

/** A lasting fault that was in force (status.faults) and was reverted: the console's timeline marks both ends. */
export interface FaultRecord {
  /** partition, loss, bandwidth, delay (as status.faults.kind). */
  kind: string;
  /** How many target pods it held. */
  pods: number;
  /** When it was first seen in force (status.faults.since). */
  since: string;
  /** When it was seen reverted: the pass that took it out of status.faults (the step's endTime when the step ended). */
  until: string;
  reason: FaultEndReason;
}

/** A step's history entry keeps this many fault records, the newest. */
export const FAULT_RECORDS_LIMIT = 20;

export interface StepCounts {
  succeeded: number;
  failed: number;
  aborted: number;
  /** Failed steps that the dead-man switch ended (also counted in failed). */
  deadManSwitch?: number;
}

export interface Report {
  reason: 'Completed' | 'Stopped' | 'Failed';
  message: string;
  iterationsCompleted: number;
  stepsSucceeded: number;
  stepsFailed: number;
  stepsAborted: number;
  /** Failed steps that the dead-man switch ended (also counted in stepsFailed). */
  stepsEndedByDeadManSwitch?: number;
  startTime?: string;
  endTime: string;
  durationSeconds: number;
  /** Time the run spent held by a pauseWhen gate. */
  gatedSeconds: number;
  /** The run was a dry run: no step ran. */
  dryRun?: boolean;
}

/**
 * A change of what holds or drives the run, kept so its timeline can be drawn from the ChaosRun alone:
 * a signal the operator acted on (with who sent it, and the end of a timed pause), a pauseWhen gate
 * starting or ending its hold, a stopWhen gate ending the run.
 */
export interface Transition {
  time: string;
  kind: 'Signal' | 'GateHeld' | 'GateReleased' | 'GateStopped';
  signal?: Signal;
  /** The end of a timed PAUSE. */
  pauseUntil?: string;
  /** Who or what changed the signal: "alice via HTTP", "timed pause ended", "spec edit (kubectl or another client)". */
  source?: string;
  gate?: string;
  message?: string;
}

/** status.transitions keeps this many, the newest. */
export const TRANSITIONS_LIMIT = 50;

export interface FaultsInForce {
  step: string;
  /** partition, loss, bandwidth (the network body's effect). */
  kind: string;
  targets: Array<{ namespace: string; pod: string; node: string }>;
  /** When they were first seen in force, for this step and these targets. */
  since: string;
  /** How long a fault outlives its agent (the kernel ends it then). */
  leaseSeconds: number;
  /** How many targets the node agents report it in force on (absent: their reports are not read). */
  inForce?: number;
}

export interface ChaosRunStatus {
  phase?: Phase;
  observedSignal?: Signal;
  observedGeneration?: number;
  /** 1-based iteration of the current (or next) step. */
  iteration?: number;
  /** 0-based index and name of the current (or next) step. */
  step?: { index: number; name: string };
  /** ITERATION printer column: "2/3", or "7/∞" in daemon mode. */
  progress?: string;
  activeJob?: string;
  startTime?: string;
  completionTime?: string;
  nextStepTime?: string;
  counts?: StepCounts;
  iterationsCompleted?: number;
  conditions?: Condition[];
  history?: StepRecord[];
  /** Signal changes and gate holds, oldest first, at most TRANSITIONS_LIMIT. */
  transitions?: Transition[];
  report?: Report;
  /**
   * The lasting faults of the running step that are in force right now (its holder has picked its
   * targets and the run says RUN; the node agents hold them). Absent otherwise: PAUSE, STOP and the
   * step's end revert them at once.
   */
  faults?: FaultsInForce;
  /** FAULTS printer column: "partition on 1 pod", while faults are in force. */
  faultSummary?: string;
  /** Since when a pauseWhen gate holds the run (absent when none does). */
  gatedSince?: string;
  /** Time spent gated before gatedSince. */
  gatedSeconds?: number;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ChaosRun {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ChaosRunSpec;
  status?: ChaosRunStatus;
}
