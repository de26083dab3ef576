// Translates a krkn config.yaml (and the scenario files it names) into a ChaosRun manifest. Pure: the
// caller passes the text and a file reader. What maps goes into the manifest; what cannot becomes a
// warning ("file:line: key: why"); what makes the input unusable throws "file:line: reason".
import { basename, extname, isAbsolute, resolve } from 'node:path';
import yaml from 'js-yaml';
import { API_VERSION, KIND } from '../api/constants.ts';
import { SIGNALS, type ChaosRunSpec, type KrknHubBody, type PodKillBody, type Signal } from '../api/types.ts';

export type ImportedScenario = { name: string; podKill?: PodKillBody; krknHub?: Pick<KrknHubBody, 'scenario' | 'env'> };

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
}

/** The manifest may hold no scenario (every one was unmappable); the caller decides what that means. */
export interface ImportResult { manifest: ImportedRun; warnings: string[] }

/** Reads a scenario file; throws (with code ENOENT when it does not exist). */
export type ReadFile = (path: string) => string;

/** krkn scenario types and the krkn-hub image (tag) that runs the same scenario. */
const KRKN_HUB_TAGS: Record<string, string> = {
  pod_disruption_scenarios: 'pod-scenarios',
  container_scenarios: 'container-scenarios',
  node_scenarios: 'node-scenarios',
  time_scenarios: 'time-scenarios',
  network_chaos: 'network-chaos',
  network_chaos_scenarios: 'network-chaos',
  pod_network_scenarios: 'pod-network-chaos',
  application_outages: 'application-outages',
  application_outages_scenarios: 'application-outages',
  cluster_shut_down_scenarios: 'power-outages',
  service_disruption_scenarios: 'service-disruption-scenarios',
  service_hijacking_scenarios: 'service-hijacking',
  zone_outages: 'zone-outages',
  zone_outages_scenarios: 'zone-outages',
  pvc_scenarios: 'pvc-scenario',
  syn_flood_scenarios: 'syn-flood',
  kubevirt_vm_outage: 'kubevirt-outage',
  http_load_scenarios: 'http-load',
};
/** hog_scenarios files say which resource they hog. */
const HOG_TAGS: Record<string, string> = { cpu: 'node-cpu-hog', memory: 'node-memory-hog', io: 'node-io-hog' };
/** network_chaos_ng_scenarios files name their module in `id`. */
const NETWORK_NG_TAGS: Record<string, string> = {
  node_network_filter: 'node-network-filter', pod_network_filter: 'pod-network-filter',
  pod_network_chaos: 'pod-network-chaos', node_network_chaos: 'network-chaos', vmi_network_filter: 'vmi-network-filter',
};

/** The pod_disruption keys podKill expresses, and the other keys that change nothing at their krkn default. */
const POD_KILL_KEYS = new Set(['namespace_pattern', 'label_selector', 'name_pattern', 'kill', 'krkn_pod_recovery_time']);
const POD_DEFAULTS: Record<string, unknown> = { timeout: 120, duration: 10, execution: 'serial', force: false, exclude_label: '', node_label_selector: '', node_names: [] };
/** pod_disruption keys and the pod-scenarios variables that carry them when podKill cannot. */
const POD_SCENARIOS_ENV: Record<string, string> = {
  namespace_pattern: 'NAMESPACE', label_selector: 'POD_LABEL', name_pattern: 'NAME_PATTERN', kill: 'DISRUPTION_COUNT',
  timeout: 'KILL_TIMEOUT', krkn_pod_recovery_time: 'EXPECTED_RECOVERY_TIME', node_label_selector: 'NODE_LABEL_SELECTOR',
};
/** kraken keys with no meaning for a ChaosRun and nothing lost by dropping them. */
const KRAKEN_SILENT = new Set(['distribution']);

type Yaml = Record<string, unknown>;
const isMap = (v: unknown): v is Yaml => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`);

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

/** `^name$` with a plain namespace name in it is a namespace, not a pattern: no namespace list needed. */
function literalNamespace(pattern: string): string | undefined {
  return /^\^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\$$/.exec(pattern)?.[1];
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

  addStep(base: string, body: Omit<ImportedScenario, 'name'>): string {
    let name = base;
    for (let n = 2; this.steps.some((s) => s.name === name); n++) name = `${base}-${n}`;
    this.steps.push({ name, ...body });
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

  scenario(type: string, path: string, line: number, key: string): void {
    const { src, data } = this.scenarioFile(path, line);
    const base = dnsLabel(basename(path, extname(path)), 'step');
    if (type === 'pod_disruption_scenarios' || type === 'plugin_scenarios') {
      if (this.podDisruption(src, data, base, type)) return;
    }
    let tag = KRKN_HUB_TAGS[type];
    if (type === 'hog_scenarios' && isMap(data)) tag = HOG_TAGS[String(data['hog-type'])];
    if (type === 'network_chaos_ng_scenarios') {
      const first: unknown = Array.isArray(data) ? data[0] : data;
      if (isMap(first)) tag = NETWORK_NG_TAGS[String(first.id)];
    }
    if (!tag) {
      this.warn(this.config, line, key, `no krkn-hub image runs ${type} scenarios (${path}); not imported`);
      return;
    }
    const name = this.addStep(base, { krknHub: { scenario: tag } });
    this.warn(this.config, line, key, `became krknHub step ${name} (krkn-hub:${tag}); set its env from ${path} as the krkn-hub ${tag} documentation says, and kubeconfigSecret`);
  }

  /** pod_disruption files: a list of { id, config }. Returns false when the file is not in that shape. */
  podDisruption(src: Source, data: unknown, base: string, type: string): boolean {
    if (!Array.isArray(data) || !data.every((d) => isMap(d) && isMap(d.config))) {
      if (type === 'pod_disruption_scenarios') throw src.error(1, 'a pod_disruption scenario file must be a list of { id, config } entries');
      return false;
    }
    for (const [i, item] of (data as Array<{ id?: unknown; config: Yaml }>).entries()) {
      const idLine = src.lineWith(`id: ${String(item.id)}`);
      if (item.id === 'wait-for-pods') {
        this.warn(src, idLine, `[${i}].id`, 'wait-for-pods not imported: a podKill step waits for recovery itself');
        continue;
      }
      if (item.id !== undefined && item.id !== 'kill-pods') {
        this.warn(src, idLine, `[${i}].id`, `plugin ${String(item.id)} not imported`);
        continue;
      }
      this.killPods(src, item.config, i, idLine, base);
    }
    return true;
  }

  killPods(src: Source, config: Yaml, i: number, itemLine: number, base: string): void {
    const at = (key: string) => src.lineWith(`${key}:`, itemLine);
    const str = (key: string): string | undefined => {
      const v = config[key];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw src.error(at(key), `[${i}].config.${key} must be a string, not ${typeName(v)}`);
      return v;
    };
    const int = (key: string, min: number): number | undefined => {
      const v = config[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw src.error(at(key), `[${i}].config.${key} must be a whole number of at least ${min}, not ${typeName(v)}`);
      return v;
    };
    const namespacePattern = str('namespace_pattern');
    const labelSelector = str('label_selector');
    const namePattern = str('name_pattern');
    const kill = int('kill', 0) ?? 1;
    const recovery = int('krkn_pod_recovery_time', 0);
    // Checked for their type even though podKill has no use for them at their defaults.
    int('timeout', 0);
    int('duration', 0);

    const extra = Object.keys(config).filter((k) => !POD_KILL_KEYS.has(k) && JSON.stringify(config[k]) !== JSON.stringify(POD_DEFAULTS[k]));
    const missing = [
      ...(namespacePattern ? [] : ['namespace_pattern']),
      ...(labelSelector || namePattern ? [] : ['label_selector or name_pattern']),
      ...(kill >= 1 ? [] : ['kill of at least 1']),
    ];
    if (extra.length === 0 && missing.length === 0) {
      const ns = literalNamespace(namespacePattern!);
      this.addStep(base, {
        podKill: {
          ...(ns ? { namespace: ns } : { namespacePattern }),
          ...(labelSelector ? { labelSelector } : {}),
          ...(namePattern ? { namePattern } : {}),
          count: kill,
          recovery: { timeout: `${recovery ?? 120}s` },
        },
      });
      return;
    }
    // Not expressible as podKill: the pod-scenarios image takes the same fields as variables.
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
      const name = POD_SCENARIOS_ENV[key];
      if (name && value !== null && value !== '') env[name] = String(value);
      else if (key === 'node_names' && Array.isArray(value) && value.length === 1) env.NODE_NAMES = String(value[0]);
      else if (JSON.stringify(value) !== JSON.stringify(POD_DEFAULTS[key])) this.warn(src, at(key), `[${i}].config.${key}`, 'not mapped (neither podKill nor the pod-scenarios image takes it); dropped');
    }
    const why = [...extra.map((k) => `${k} is set`), ...missing.map((m) => `no ${m}`)].join(', ');
    const name = this.addStep(base, { krknHub: { scenario: 'pod-scenarios', env } });
    this.warn(src, itemLine, `[${i}]`, `became krknHub step ${name} (krkn-hub:pod-scenarios), not podKill, because ${why}; set its kubeconfigSecret`);
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

function kraken(src: Source, k: Yaml, spec: Omit<ImportedRun['spec'], 'scenarios'>, warn: (line: number, key: string, why: string) => void): void {
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
      case 'kubeconfig_path':
        warn(line, 'kraken.kubeconfig_path', 'not needed: podKill steps use their ServiceAccount; krknHub steps read a kubeconfig from the Secret named in kubeconfigSecret');
        break;
      default:
        if (!KRAKEN_SILENT.has(key)) warn(line, `kraken.${key}`, 'not mapped; ignored');
    }
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
  kraken(src, doc.kraken, settings, warn);
  tunings(src, doc.tunings, settings, warn);
  for (const section of Object.keys(doc)) {
    if (section !== 'kraken' && section !== 'tunings') warn(src.lineOf(section), section, 'not mapped; the operator runs the scenarios only');
  }
  importer.chaosScenarios(doc.kraken.chaos_scenarios);

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
