// Deterministic Job names: one name per (run instance, iteration, step), so a repeated create after a
// crash hits AlreadyExists instead of making a second Job.
import { createHash } from 'node:crypto';

const MAX = 63; // Job names become the pods' job-name label value, which is limited to 63 characters.

export function jobName(runName: string, runUid: string, iteration: number, stepIndex: number): string {
  // A short slice of the run's uid keeps a re-created run of the same name from adopting old Jobs.
  const suffix = `-${runUid.replace(/-/g, '').slice(0, 5)}-${iteration}-${stepIndex}`;
  if (runName.length + suffix.length <= MAX) return runName + suffix;
  const hash = createHash('sha256').update(runName).digest('hex').slice(0, 8);
  const room = MAX - suffix.length - hash.length - 1;
  return `${runName.slice(0, room).replace(/-+$/, '')}-${hash}${suffix}`;
}
