// Names shared by the CRD, the controller, the signal server and the packaging.
export const GROUP = 'chaosrun.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ChaosRun';
export const PLURAL = 'chaosruns';

export const LABEL_RUN = `${GROUP}/run`;
export const LABEL_ITERATION = `${GROUP}/iteration`;
export const LABEL_STEP = `${GROUP}/step`;
export const LABEL_STEP_INDEX = `${GROUP}/step-index`;
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'chaosrun-operator';
export const FINALIZER = `${GROUP}/cleanup`;
/** On a ChaosRun: who sent its current signal, as JSON { signal, by, via, generation } (see src/controller/transitions.ts). */
export const ANNOTATION_SIGNAL_SOURCE = `${GROUP}/signal-source`;
