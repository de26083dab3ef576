// A wanted fault for the agent's tests, with whatever the test changes.
import type { WantedFault } from '../../src/agent/fault.ts';

export const mkFault = (over: Partial<WantedFault> = {}): WantedFault => ({
  id: 'f1',
  run: { namespace: 'chaos', name: 'run-a' },
  step: 'cut-db',
  target: { namespace: 'shop', pod: 'api-0', podUid: 'u-1', netns: '/run/netns/pod-a' },
  direction: 'both',
  action: { partition: {} },
  leaseSeconds: 30,
  ...over,
});
