// What krkn's YAML files are made of, for `chaosrun import` (import.ts) and the kinds' krkn imports
// (kinds/*.ts): a mapping test and the words a message uses for a value of the wrong type.

export type Yaml = Record<string, unknown>;

export const isMap = (v: unknown): v is Yaml => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value as a message names it: `null`, `a list`, `a mapping`, `string "abc"`. */
export const typeName = (v: unknown): string =>
  (v === null ? 'null' : Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`);
