// Translates a krkn config.yaml (and the scenario files it names) into a ChaosRun manifest. Pure: the
// caller passes the text and a file reader. What maps goes into the manifest; what cannot becomes a
// warning ("file:line: key: why"); what makes the input unusable throws "file:line: reason".
// This module reads the config (kraken, tunings, the list of scenario files); what one scenario file
// becomes is its kind's business (the krknImport of src/scenarios/kinds/*.ts), offered each file in the
// registry's order.
import { basename, extname, isAbsolute, resolve } from 'node:path';
import yaml from 'js-yaml';
import { API_VERSION, KIND } from '../api/constants.ts';
import { SIGNALS, type ChaosRunSpec, type Signal } from '../api/types.ts';
import type { ImportedBody, KrknImportSink, KrknScenarioFile } from './kind.ts';
import { isMap, typeName, type Yaml } from './krkn-yaml.ts';
import { SCENARIO_KINDS } from './registry.ts';

export type ImportedScenario = { name: string } & ImportedBody;

export interface ImportedRun {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Partial<Omit<ChaosRunSpec, 'scenarios'>> & { scenarios: ImportedScenario[] };
}

export interface ImportOptions {
  /** The config file's path as the user gave it, for messages. */
  file: string;
  /** Where relative scenario paths are resolved (krkn resolves them from where it runs). */
  baseDir: string;
  name?: string;
  namespace?: string;
  /** The Secret (its key `config` a kubeconfig) every krknHub step reads krkn's kubeconfig from. */
  kubeconfigSecret?: string;
}

/** The manifest may hold no scenario (every one was unmappable); the caller decides what that means. */
export interface ImportResult { manifest: ImportedRun; warnings: string[] }

/** Reads a scenario file; throws (with code ENOENT when it does not exist). */
export type ReadFile = (path: string) => string;

/** kraken keys with no meaning for a ChaosRun and nothing lost by dropping them. */
const KRAKEN_SILENT = new Set(['distribution']);

/**
 * What every krknHub step's image gets from the config as a whole: a krkn-hub image runs krkn on a
 * config of its own, made from these variables, around its one scenario. WAIT_DURATION is always 0: the
 * run's waitDuration already waits after each step, and the image's own (60 s unless told) would wait
 * again inside the step, after its scenario.
 */
const HUB_RUN_ENV: Readonly<Record<string, string>> = { WAIT_DURATION: '0' };
/** krkn's resiliency_run_mode and the krkn-hub variable that gives it (env.sh derives RESILIENCY_RUN_MODE from these). */
const RESILIENCY_ENV: Record<string, Record<string, string>> = {
  disabled: { DISABLE_RESILIENCY_SCORE: 'true' }, detailed: { RESILIENCY_SCORE: 'true' }, standalone: {},
};

/** krkn reads YAML 1.1 (PyYAML), where yes/no/on/off are booleans; js-yaml reads them as strings. */
function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const word = typeof v === 'string' ? v.toLowerCase() : '';
  return ['yes', 'y', 'on'].includes(word) ? true : ['no', 'n', 'off'].includes(word) ? false : undefined;
}

/** A YAML text with a way to say where a key or value sits, for messages. */
class Source {
  readonly file: string;
  readonly lines: string[];
  constructor(file: string, text: string) {
    this.file = file;
    this.lines = text.split(/\r?\n/);
  }

  /** The 1-based line of `key:` (below the line of each parent in turn), or 1 when not found. */
  lineOf(...keys: string[]): number {
    let from = 0;
    for (const key of keys) {
      const re = new RegExp(`^\\s*(?:-\\s+)*["']?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*:`);
      const at = this.lines.findIndex((l, i) => i >= from && re.test(l));
      if (at < 0) return from + 1;
      from = at;
    }
    return from + 1;
  }

  /** The 1-based line where `text` first appears at or after line `from`. */
  lineWith(text: string, from = 1): number {
    const at = this.lines.findIndex((l, i) => i >= from - 1 && l.includes(text));
    return at < 0 ? from : at + 1;
  }

  error(line: number, reason: string): Error { return new Error(`${this.file}:${line}: ${reason}`); }
}

function parse(src: Source, text: string): unknown {
  try {
    return yaml.load(text, { filename: src.file });
  } catch (err) {
    if (err instanceof yaml.YAMLException) throw src.error(err.mark ? err.mark.line + 1 : 1, `invalid YAML: ${err.reason}`);
    throw err;
  }
}

/** A DNS label made of the file name, for step names. */
function dnsLabel(text: string, fallback: string): string {
  const label = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50).replace(/-+$/, '');
  return label || fallback;
}

class Importer {
  readonly warnings: string[] = [];
  readonly steps: ImportedScenario[] = [];
  private readonly config: Source;
  private readonly opts: ImportOptions;
  private readonly readFile: ReadFile;

  constructor(config: Source, opts: ImportOptions, readFile: ReadFile) {
    this.config = config;
    this.opts = opts;
    this.readFile = readFile;
  }

  warn(src: Source, line: number, key: string, why: string): void { this.warnings.push(`${src.file}:${line}: ${key}: ${why}`); }

  addStep(base: string, body: ImportedBody): string {
    let name = base;
    for (let n = 2; this.steps.some((s) => s.name === name); n++) name = `${base}-${n}`;
    const secret = this.opts.kubeconfigSecret;
    this.steps.push({ name, ...body, ...(body.krknHub && secret ? { krknHub: { ...body.krknHub, kubeconfigSecret: secret } } : {}) });
    return name;
  }

  /** Reads a scenario file named in the config; a missing or unreadable one is an error at its line. */
  scenarioFile(path: string, line: number): { src: Source; data: unknown } {
    const full = isAbsolute(path) ? path : resolve(this.opts.baseDir, path);
    let text: string;
    try {
      text = this.readFile(full);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw this.config.error(line, e.code === 'ENOENT' ? `scenario file ${path} not found (${full})` : `cannot read scenario file ${path}: ${e.message}`);
    }
    const src = new Source(path, text);
    return { src, data: parse(src, text) };
  }

  chaosScenarios(list: unknown): void {
    const line = this.config.lineOf('kraken', 'chaos_scenarios');
    if (!Array.isArray(list)) throw this.config.error(line, `kraken.chaos_scenarios must be a list, not ${typeName(list)}`);
    list.forEach((entry, i) => {
      const key = `kraken.chaos_scenarios[${i}]`;
      if (!isMap(entry) || Object.keys(entry).length !== 1) {
        throw this.config.error(line, `${key} must be a mapping of one scenario type to a list of files, not ${typeName(entry)}`);
      }
      const [type, files] = Object.entries(entry)[0];
      const typeLine = this.config.lineWith(`${type}:`, line);
      if (!Array.isArray(files)) throw this.config.error(typeLine, `${key}.${type} must be a list of scenario files, not ${typeName(files)}`);
      files.forEach((item, j) => {
        // Old configs list [scenario, post-action script]; the post action has no equivalent.
        const [path, ...postActions] = Array.isArray(item) ? item : [item];
        if (typeof path !== 'string') throw this.config.error(typeLine, `${key}.${type}[${j}] must be a file path, not ${typeName(path)}`);
        const at = this.config.lineWith(path, typeLine);
        for (const extra of postActions) this.warn(this.config, at, `${key}.${type}[${j}]`, `post action ${String(extra)} not imported (a ChaosRun step has no post actions)`);
        this.scenario(type, path, at, `${key}.${type}[${j}]`);
      });
    });
  }

  /** Offers the file to each kind in the registry's order until one takes it. */
  scenario(type: string, path: string, line: number, key: string): void {
    const { src, data } = this.scenarioFile(path, line);
    const file: KrknScenarioFile = {
      type, path, data,
      stepName: dnsLabel(basename(path, extname(path)), 'step'),
      lineWith: (text, from) => src.lineWith(text, from),
      error: (at, reason) => src.error(at, reason),
    };
    const sink: KrknImportSink = {
      addStep: (name, body) => this.addStep(name, body),
      warn: (at, itemKey, why) => this.warn(src, at, itemKey, why),
      warnListing: (why) => this.warn(this.config, line, key, why),
      kubeconfigSecret: this.opts.kubeconfigSecret,
    };
    if (SCENARIO_KINDS.some((kind) => kind.krknImport?.(file, sink))) return;
    this.warn(this.config, line, key, `no scenario kind imports ${type} scenarios (${path}); not imported`);
  }
}

function tunings(src: Source, t: unknown, spec: Omit<ImportedRun['spec'], 'scenarios'>, warn: (line: number, key: string, why: string) => void): void {
  if (t === undefined || t === null) return;
  if (!isMap(t)) throw src.error(src.lineOf('tunings'), `tunings must be a mapping, not ${typeName(t)}`);
  for (const [key, v] of Object.entries(t)) {
    const line = src.lineOf('tunings', key);
    if (key === 'iterations') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw src.error(line, `tunings.iterations must be a whole number of at least 1, not ${typeName(v)}`);
      spec.iterations = v;
    } else if (key === 'daemon_mode') {
      const on = bool(v);
      if (on === undefined) throw src.error(line, `tunings.daemon_mode must be true or false, not ${typeName(v)}`);
      spec.daemonMode = on;
    } else if (key === 'wait_duration') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw src.error(line, `tunings.wait_duration must be a number of seconds, not ${typeName(v)}`);
      spec.waitDuration = `${v}s`;
    } else {
      warn(line, `tunings.${key}`, 'not mapped; ignored');
    }
  }
}

function kraken(src: Source, k: Yaml, spec: Omit<ImportedRun['spec'], 'scenarios'>, hubEnv: Record<string, string>, opts: ImportOptions, warn: (line: number, key: string, why: string) => void): void {
  for (const [key, v] of Object.entries(k)) {
    const line = src.lineOf('kraken', key);
    switch (key) {
      case 'chaos_scenarios': break;
      case 'signal_state':
        if (typeof v !== 'string' || !SIGNALS.includes(v as Signal)) throw src.error(line, `kraken.signal_state must be one of ${SIGNALS.join(', ')}, not ${typeName(v)}`);
        spec.signalState = v as Signal;
        break;
      case 'publish_kraken_status':
      case 'exit_on_failure': {
        const on = bool(v);
        if (on === undefined) throw src.error(line, `kraken.${key} must be true or false, not ${typeName(v)}`);
        if (key === 'publish_kraken_status') spec.publishStatus = on;
        else spec.failurePolicy = on ? 'Stop' : 'Continue';
        break;
      }
      case 'port':
      case 'signal_address':
        warn(line, `kraken.${key}`, 'not needed: the operator\'s Service serves the krkn signal API (GET /, POST /RUN, /PAUSE, /STOP) for every ChaosRun, and kubectl patch sets spec.signalState');
        break;
      case 'generate_pdf_report': {
        const on = bool(v);
        if (on === undefined) throw src.error(line, `kraken.generate_pdf_report must be true or false, not ${typeName(v)}`);
        hubEnv.GENERATE_PDF_REPORT = on ? 'True' : 'False';
        break;
      }
      case 'kubeconfig_path':
        warn(line, 'kraken.kubeconfig_path', `not needed: podKill steps use their ServiceAccount; krknHub steps read a kubeconfig from the Secret named in kubeconfigSecret${opts.kubeconfigSecret ? ` (${opts.kubeconfigSecret})` : ' (--kubeconfig-secret NAME sets it)'}`);
        break;
      default:
        if (!KRAKEN_SILENT.has(key)) warn(line, `kraken.${key}`, 'not mapped; ignored');
    }
  }
}

/** resiliency.resiliency_run_mode reaches krknHub steps' krkn; the rest of the section does not. */
function resiliency(src: Source, r: Yaml, hubEnv: Record<string, string>, warn: (line: number, key: string, why: string) => void): void {
  for (const [key, v] of Object.entries(r)) {
    const line = src.lineOf('resiliency', key);
    if (key !== 'resiliency_run_mode') {
      warn(line, `resiliency.${key}`, 'not mapped; ignored');
      continue;
    }
    const env = typeof v === 'string' ? RESILIENCY_ENV[v] : undefined;
    if (!env) throw src.error(line, `resiliency.resiliency_run_mode must be one of ${Object.keys(RESILIENCY_ENV).join(', ')}, not ${typeName(v)}`);
    Object.assign(hubEnv, env);
  }
}

export function importKrknConfig(text: string, opts: ImportOptions, readFile: ReadFile): ImportResult {
  const src = new Source(opts.file, text);
  const doc = parse(src, text);
  if (!isMap(doc)) throw src.error(1, `a krkn config must be a mapping with kraken and tunings, not ${typeName(doc)}`);
  if (!isMap(doc.kraken)) throw src.error(src.lineOf('kraken'), `kraken must be a mapping, not ${typeName(doc.kraken)}`);
  if (doc.kraken.chaos_scenarios === undefined) throw src.error(src.lineOf('kraken'), 'kraken.chaos_scenarios is missing: there is nothing to run');

  const importer = new Importer(src, opts, readFile);
  const warn = (line: number, key: string, why: string) => importer.warn(src, line, key, why);
  const settings: Omit<ImportedRun['spec'], 'scenarios'> = {};
  const hubEnv: Record<string, string> = { ...HUB_RUN_ENV };
  kraken(src, doc.kraken, settings, hubEnv, opts, warn);
  tunings(src, doc.tunings, settings, warn);
  for (const section of Object.keys(doc)) {
    if (section === 'resiliency' && isMap(doc.resiliency)) resiliency(src, doc.resiliency, hubEnv, warn);
    else if (section !== 'kraken' && section !== 'tunings') warn(src.lineOf(section), section, 'not mapped; the operator runs the scenarios only');
  }
  importer.chaosScenarios(doc.kraken.chaos_scenarios);
  // The config's own settings first: a step's variables from its scenario file win.
  for (const step of importer.steps) if (step.krknHub) step.krknHub = { ...step.krknHub, env: { ...hubEnv, ...step.krknHub.env } };

  const name = opts.name ?? dnsLabel(basename(opts.file, extname(opts.file)), 'krkn');
  return {
    manifest: {
      apiVersion: API_VERSION, kind: KIND,
      metadata: { name, ...(opts.namespace ? { namespace: opts.namespace } : {}) },
      spec: { ...settings, scenarios: importer.steps },
    },
    warnings: importer.warnings,
  };
}
