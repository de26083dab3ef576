// Whether a Deployment, StatefulSet or DaemonSet is rolling out, from its spec and status (pure).
export interface Workload {
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
  };
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** Why the workload is rolling out, or undefined when it is settled. */
export function rollingOut(kind: WorkloadKind, w: Workload): string | undefined {
  const gen = w.metadata?.generation ?? 0;
  const s = w.status ?? {};
  if ((s.observedGeneration ?? 0) < gen) return `generation ${gen} not yet observed`;
  if (kind === 'DaemonSet') {
    const desired = s.desiredNumberScheduled ?? 0;
    if ((s.updatedNumberScheduled ?? 0) < desired) return `${s.updatedNumberScheduled ?? 0}/${desired} pods updated`;
    if ((s.numberAvailable ?? 0) < desired) return `${s.numberAvailable ?? 0}/${desired} pods available`;
    return undefined;
  }
  const replicas = w.spec?.replicas ?? 1;
  if ((s.updatedReplicas ?? 0) < replicas) return `${s.updatedReplicas ?? 0}/${replicas} replicas updated`;
  if (kind === 'Deployment' && (s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return `${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas still running`;
  if (kind === 'StatefulSet' && s.updateRevision && s.currentRevision !== s.updateRevision) return `revision ${s.updateRevision} not yet current`;
  const available = kind === 'StatefulSet' ? (s.availableReplicas ?? s.readyReplicas ?? 0) : (s.availableReplicas ?? 0);
  if (available < replicas) return `${available}/${replicas} replicas available`;
  return undefined;
}
