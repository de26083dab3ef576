// A ChaosRun as plain data for the unit tests of the pure core and the reconcile shell: two job
// steps, one iteration, RUN, with the finalizer; each test overrides what it is about.
import { FINALIZER } from '../../src/api/constants.ts';
import type { ChaosRun, ChaosRunSpec, ChaosRunStatus } from '../../src/api/types.ts';

export const RUN_UID = 'abcdef12-3456';

export function mkRun(spec: Partial<ChaosRunSpec> = {}, status?: ChaosRunStatus, meta: Partial<ChaosRun['metadata']> = {}): ChaosRun {
  return {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun',
    metadata: { name: 'r', namespace: 'ns', uid: RUN_UID, generation: 1, finalizers: [FINALIZER], resourceVersion: '1', ...meta },
    spec: {
      signalState: 'RUN', iterations: 1, daemonMode: false, waitDuration: '0s', publishStatus: true,
      failurePolicy: 'Continue', historyLimit: 50,
      scenarios: [{ name: 'a', job: { image: 'x' } }, { name: 'b', job: { image: 'x' } }],
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}
