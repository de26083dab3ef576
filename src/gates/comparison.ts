// Prometheus gate comparisons: "> 0.8", ">= 1", "== 0", ... (true when any returned sample matches),
// "any" (the query returns any series) and "none" (it returns none). Pure, so the CRD pattern and
// this parser can be checked against each other.
export type Comparison =
  | { kind: 'threshold'; op: '>' | '>=' | '<' | '<=' | '==' | '!='; value: number }
  | { kind: 'any' }
  | { kind: 'none' };

const THRESHOLD = /^(>=|<=|==|!=|>|<) *(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)$/;

export function parseComparison(text: string): Comparison {
  const t = text.trim();
  if (t === 'any' || t === 'none') return { kind: t };
  const m = THRESHOLD.exec(t);
  if (!m) throw new Error(`invalid comparison ${JSON.stringify(text)}: use "> 0.8", "== 0", "any" or "none"`);
  return { kind: 'threshold', op: m[1] as '>', value: Number(m[2]) };
}

const OPS = {
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
  '==': (a: number, b: number) => a === b,
  '!=': (a: number, b: number) => a !== b,
};

/** Whether the gate is true for these sample values, and the value that decided it. */
export function compare(c: Comparison, samples: number[]): { true: boolean; seen: string } {
  if (c.kind === 'any') return { true: samples.length > 0, seen: `${samples.length} series` };
  if (c.kind === 'none') return { true: samples.length === 0, seen: `${samples.length} series` };
  const hit = samples.find((v) => OPS[c.op](v, c.value));
  if (hit !== undefined) return { true: true, seen: `${hit} ${c.op} ${c.value}` };
  return { true: false, seen: samples.length ? `values ${samples.slice(0, 3).join(', ')}${samples.length > 3 ? ', ...' : ''} not ${c.op} ${c.value}` : 'no series' };
}
