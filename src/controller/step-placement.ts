// Where step pods run, from the controller's command line: a node selector (`key=value,...`) and
// tolerations in kubectl's taint spelling (`key=value:Effect`, `key:Effect`, `key` for any effect).
// The chart sets them so that chaos tooling lands on the nodes set aside for it (the local plane's
// real node is tainted, and its pods choose it this way).
import type { V1Toleration } from '@kubernetes/client-node';
import type { StepPlacement } from '../scenarios/kind.ts';

const EFFECTS = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

export function parseNodeSelector(text: string): Record<string, string> | undefined {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`--step-node-selector takes key=value pairs, not ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function parseTolerations(text: string): V1Toleration[] | undefined {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) return undefined;
  return items.map((item) => {
    const [kv, effect, extra] = item.split(':');
    if (extra !== undefined || (effect !== undefined && !EFFECTS.has(effect))) {
      throw new Error(`--step-tolerations takes key[=value][:NoSchedule|PreferNoSchedule|NoExecute], not ${JSON.stringify(item)}`);
    }
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!key) throw new Error(`--step-tolerations: a toleration needs a key (${JSON.stringify(item)})`);
    const tol: V1Toleration = eq < 0 ? { key, operator: 'Exists' } : { key, operator: 'Equal', value: kv.slice(eq + 1) };
    if (effect) tol.effect = effect;
    return tol;
  });
}

export function parseStepPlacement(nodeSelector: string, tolerations: string): StepPlacement | undefined {
  const placement: StepPlacement = { nodeSelector: parseNodeSelector(nodeSelector), tolerations: parseTolerations(tolerations) };
  return placement.nodeSelector || placement.tolerations ? placement : undefined;
}
