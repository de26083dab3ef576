// The contract between a lasting fault's step and the node agents that hold it. A leaf: it imports
// nothing of ours.
//
// A step of a lasting kind (network, freeze, stress) runs one pod, the *holder*, for the step's duration. Its pod
// template carries LABEL_FAULT (the kind) and ANNOTATION_FAULT (what to inject, written by the Job
// renderer); once running, the holder picks its target pods and writes them to its own pod as
// ANNOTATION_FAULT_TARGETS. A node agent holds the fault on the targets on its node while, and only
// while, the holder pod is Running (not deleted, not finished) and its run's signal is RUN. So every
// way a step can end (its duration, STOP, PAUSE, its timeout, the dead-man switch, the Job or pod
// deleted, the run deleted, the operator uninstalled) ends the holder or the signal, and with it the
// fault; and an agent that is gone stops renewing, so the kernel ends the fault within its lease.
export const LABEL_FAULT = 'chaosrun.dev/fault';
export const ANNOTATION_FAULT = 'chaosrun.dev/fault';
export const ANNOTATION_FAULT_TARGETS = 'chaosrun.dev/fault-targets';
/** The step's duration on its holder pod, for people (kubectl describe) and simulators (kwok's stages). */
export const ANNOTATION_DURATION = 'chaosrun.dev/duration';

/** The holder answers its readiness probe here: 200 once its targets are on its pod. */
export const HOLDER_PROBE_PORT = 8086;

/** The default lease: a dead agent's fault ends within this many seconds (see docs/faults.md). */
export const DEFAULT_LEASE_SECONDS = 4;

export type FaultDirection = 'ingress' | 'egress' | 'both';
/**
 * A peer of the target: an IPv4 address or CIDR, and optionally the peer's ports (TCP, UDP and SCTP).
 * The ports are the remote side's: egress matches packets *to* cidr:port, ingress packets *from* cidr:port,
 * so `both` cuts one conversation in both directions. Without ports every protocol matches (ICMP too).
 */
export interface FaultPeer { cidr: string; ports?: number[] }
export type NetworkEffect =
  | { partition: Record<string, never> }
  /** Each matching packet is dropped with this probability, per direction (0 < percent <= 100, two decimals at most). */
  | { loss: { percent: number } }
  /** A policer per direction: packets over the rate are dropped (tc units: 1mbit, 500kbit; mbps is megabytes/s). */
  | { bandwidth: { rate: string } }
  /**
   * Matching packets are held `latency` ± uniform `jitter` (100ms, 1.5s, 500us) where they arrive: on the
   * target's ingress only (see src/agent/fault.ts validateFault). Per-flow order is kept.
   */
  | { delay: { latency: string; jitter?: string } };

/** ANNOTATION_FAULT: what the agents inject on each target. */
export interface NetworkFaultSpec {
  kind: 'network';
  direction: FaultDirection;
  to?: FaultPeer[];
  effect: NetworkEffect;
  leaseSeconds: number;
}

/**
 * ANNOTATION_FAULT of a freeze: every process of the target pods' containers (or only the named ones)
 * frozen through the cgroup freezer while the fault is wanted. A freeze has no kernel lease; what
 * bounds it when the agent dies is the agent's guard (src/agent/freezer.ts) and, past that, the agent's
 * restart (docs/faults.md).
 */
export interface FreezeFaultSpec { kind: 'freeze'; containers?: string[] }

/**
 * ANNOTATION_FAULT of a stress: stress-ng charged to each target container's own cgroups (its CPU
 * quota and memory limit apply to it), with `cpu` workers at a load and/or `memory` bytes kept resident.
 * Each stressor carries a parent-death signal and a timeout (the step's end), so it dies with the agent.
 */
export interface StressFaultSpec {
  kind: 'stress';
  containers?: string[];
  /** Load the target pods' nodes instead of their containers: a node-level cgroup of the agent's own, as krkn's hogs load a node. */
  node?: boolean;
  cpu?: { workers: number; load: number };
  /** Bytes as Kubernetes quantities say them: 64Mi, 1Gi, 500M. */
  memory?: { size: string };
}

/**
 * ANNOTATION_FAULT of a container kill: one signal to each target's container's main process (the
 * named container, or the pod's first). Instantaneous: the holder records the container ids it aims at
 * and waits until the kubelet has restarted them; an agent signals a container only while it is the
 * one recorded, so a restarted container is never hit twice.
 */
export interface ContainerKillFaultSpec { kind: 'containerKill'; container?: string; signal: string }

/** What a step of a process kind does in the target's containers (the node agent's second half). */
export type ProcessFaultSpec = FreezeFaultSpec | StressFaultSpec | ContainerKillFaultSpec;
export type FaultSpec = NetworkFaultSpec | ProcessFaultSpec;
export type FaultKind = FaultSpec['kind'];

/** The signals a containerKill may send (what a container's runtime delivers to its main process). */
export const CONTAINER_KILL_SIGNALS = ['KILL', 'TERM', 'INT', 'QUIT', 'HUP', 'USR1', 'USR2', 'ABRT'] as const;

/** One container of a target as the holder saw it: its name and its runtime id (no `containerd://`). */
export interface TargetContainer { name: string; id: string }

/** One entry of ANNOTATION_FAULT_TARGETS (containers: a containerKill's aim, as the holder recorded it). */
export interface FaultTargetRef { namespace: string; name: string; uid: string; node: string; containers?: TargetContainer[] }

const isNames = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every((n) => typeof n === 'string'));

/** Parses an annotation's JSON, or undefined when it is missing or not what it should be. */
export function parseFaultSpec(text: string | undefined): FaultSpec | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as FaultSpec;
    switch (v?.kind) {
      case 'network':
        return ['ingress', 'egress', 'both'].includes(v.direction) && typeof v.leaseSeconds === 'number' && v.effect ? v : undefined;
      case 'freeze':
        return isNames(v.containers) ? v : undefined;
      case 'stress':
        return isNames(v.containers) && (v.cpu !== undefined || v.memory !== undefined) ? v : undefined;
      case 'containerKill':
        return typeof v.signal === 'string' && (v.container === undefined || typeof v.container === 'string') ? v : undefined;
      default:
        return undefined;
    }
  } catch { return undefined; }
}

/**
 * How long a fault outlives the agent that held it, in seconds: a network fault's lease; a freeze's
 * guard and a stressor's parent-death signal act when the agent dies, so within about a second.
 */
export const faultBoundSeconds = (spec: FaultSpec): number => (spec.kind === 'network' ? spec.leaseSeconds : 1);

/** The fault in one word for metrics and status: the network effect (partition, loss, ...) or the kind. */
export const faultWord = (spec: FaultSpec): string => (spec.kind === 'network' ? Object.keys(spec.effect)[0] ?? 'network' : spec.kind);

export function parseFaultTargets(text: string | undefined): FaultTargetRef[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as FaultTargetRef[];
    return Array.isArray(v) ? v.filter((t) => t && typeof t.uid === 'string' && typeof t.node === 'string' && typeof t.name === 'string'
      && (t.containers === undefined || (Array.isArray(t.containers) && t.containers.every((c) => typeof c?.name === 'string' && typeof c?.id === 'string')))) : [];
  } catch { return []; }
}

/**
 * What a node agent says of the faults it was asked to hold on its node: `GET /faults` on its metrics
 * port (AGENT_REPORT_PORT), read by the operator while a lasting step runs. The agent writes nothing
 * to the API server (its rights are read-only), so this is how a step learns that a node cannot
 * inject its fault: the operator fails the step with the agent's one line.
 * - in-force: the fault's table is in force in the target's sandbox (applied, renewed or found whole);
 * - refused: it cannot be held here, and trying again will not change that (a kernel feature the rule
 *   needs is missing, nft or the delayer is not installed, the agent may not enter the namespace, or
 *   the fault is invalid or clashes with another); the reason says which;
 * - failing: the last attempt failed for a reason that may pass (a timeout); the agent tries again.
 */
export interface AgentReport { node: string; faults: AgentFaultReport[] }
export interface AgentFaultReport {
  /** The holder pod's uid (lower case): which step's fault this is. */
  holder: string;
  /** The target pod. */
  namespace: string;
  pod: string;
  state: 'in-force' | 'refused' | 'failing';
  reason?: string;
  /** The fault's kind (network, freeze, stress, containerKill); absent from older agents. */
  kind?: string;
}
export const AGENT_REPORT_PATH = '/faults';
export const AGENT_REPORT_PORT = 8082;

export function parseAgentReport(value: unknown): AgentReport | undefined {
  const v = value as AgentReport | undefined;
  if (!v || typeof v.node !== 'string' || !Array.isArray(v.faults)) return undefined;
  const states = new Set(['in-force', 'refused', 'failing']);
  return { node: v.node, faults: v.faults.filter((f) => f && typeof f.holder === 'string' && typeof f.pod === 'string' && states.has(f.state)) };
}
