// The contract of the node faults (nodeCordon, nodeDrain) between their step's holder pod, the
// controller's cordoner (src/cordon/) and the nodes it marks. A leaf: it imports nothing of ours.
//
// A node step runs one holder pod (as a network step does, src/api/fault-holder.ts): its pod template
// carries LABEL_FAULT (nodeCordon or nodeDrain) and ANNOTATION_FAULT (a NodeFaultSpec, written by the
// Job renderer); once running, the holder picks its nodes and writes them on its own pod as
// ANNOTATION_NODE_TARGETS, with the step's deadline. The controller cordons (and for a drain, evicts
// from) those nodes while, and only while, the holder is Running and its run says RUN.
//
// A cordon is pure API state: no kernel expires it. So every node the cordoner cordons carries
// LABEL_CORDON (the holder's uid: found by a label selector) and ANNOTATION_CORDON (the run, the holder
// and the deadline): whatever process of the controller is alive next (a new leader, a restarted pod)
// finds it by the label and uncordons it at once when its holder no longer runs or its deadline has
// passed. Only a node carrying ANNOTATION_CORDON is ever uncordoned; a node that was unschedulable
// before the step is never marked, so it is left as it was.

export const NODE_FAULT_KINDS = ['nodeCordon', 'nodeDrain'] as const;
export type NodeFaultKind = (typeof NODE_FAULT_KINDS)[number];

/** On the holder: which nodes it picked, and when the step ends at the latest. */
export const ANNOTATION_NODE_TARGETS = 'chaosrun.dev/node-targets';
/** On a cordoned node: the holder's uid (a label, so the cordoner watches exactly these nodes). */
export const LABEL_CORDON = 'chaosrun.dev/cordoned-by';
/** On a cordoned node: a CordonRecord. */
export const ANNOTATION_CORDON = 'chaosrun.dev/cordon';
/** On a drained node: a DrainRecord, what the evictions came to (the holder reads it). */
export const ANNOTATION_DRAIN = 'chaosrun.dev/drain';

/** ANNOTATION_FAULT of a node step's holder. */
export interface NodeFaultSpec {
  kind: NodeFaultKind;
  /** The run allows its nodes to include the one the operator's controller runs on. */
  allowOperatorNode?: boolean;
  /** nodeDrain: how long evictions that a PodDisruptionBudget refuses (429) are retried. */
  evictionTimeoutSeconds?: number;
  /** nodeDrain: the evictions' grace period (absent: each pod's own). */
  gracePeriodSeconds?: number;
}

/** ANNOTATION_NODE_TARGETS. */
export interface NodeTargets {
  nodes: string[];
  /** When the holder's duration runs out (RFC 3339): no cordon of this step outlives it. */
  deadline: string;
  /** Matching nodes left alone, and why (already unschedulable, the operator's node). */
  skipped?: Array<{ node: string; why: string }>;
}

/** ANNOTATION_CORDON. */
export interface CordonRecord {
  /** namespace/name of the run. */
  run: string;
  holder: { namespace: string; name: string; uid: string };
  step?: string;
  kind: NodeFaultKind;
  /** RFC 3339: uncordoned once this has passed, whatever else is seen. */
  deadline: string;
  /** RFC 3339: when this cordon was applied (a drain's eviction timeout counts from it). */
  since: string;
}

/** ANNOTATION_DRAIN: the evictions of one cordon (by its `since`). */
export interface DrainRecord {
  since: string;
  evicted: string[];
  /** Pods still refused (a PodDisruptionBudget's 429, with its message) when the timeout passed. */
  blocked?: Array<{ pod: string; reason: string }>;
  /** The eviction timeout passed with pods still refused. */
  timedOut?: boolean;
}

function parse<T>(text: string | undefined, ok: (v: T) => boolean): T | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as T;
    return v && typeof v === 'object' && ok(v) ? v : undefined;
  } catch { return undefined; }
}

const isTime = (s: unknown) => typeof s === 'string' && Number.isFinite(Date.parse(s));

export const parseNodeFaultSpec = (text: string | undefined) =>
  parse<NodeFaultSpec>(text, (v) => (NODE_FAULT_KINDS as readonly string[]).includes(v.kind));

export const parseNodeTargets = (text: string | undefined) =>
  parse<NodeTargets>(text, (v) => Array.isArray(v.nodes) && v.nodes.every((n) => typeof n === 'string') && isTime(v.deadline));

export const parseCordonRecord = (text: string | undefined) =>
  parse<CordonRecord>(text, (v) => typeof v.run === 'string' && typeof v.holder?.uid === 'string' && isTime(v.deadline) && isTime(v.since));

export const parseDrainRecord = (text: string | undefined) =>
  parse<DrainRecord>(text, (v) => isTime(v.since) && Array.isArray(v.evicted));
