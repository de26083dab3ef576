// What a krkn hog_scenarios file becomes on `chaosrun import`: the variables of the krkn-hub image of its
// hog-type (node-cpu-hog, node-memory-hog, node-io-hog), so that the imported krknHub step hogs what krkn
// hogs with the same file. krkn reads the file with krkn-lib's HogConfig.from_yaml_dict (and its hogs
// plugin reads node-name); a krkn-hub image writes a file of its own from its variables (its env.sh's
// defaults, its *.yml.template) and runs krkn on that. Three things set them apart, and the import bridges
// each one:
//   - Defaults. Where the file leaves a key out (or empty: krkn-lib takes a falsy value for none), krkn
//     uses HogConfig's default and the image its env.sh's: duration 30 against 60, cpu-load-percentage 80
//     against 50, memory-vm-bytes 10% against 90%. The import writes krkn's.
//   - What an image cannot say. node-cpu-hog's template fixes cpu-method (all); node-memory-hog's turns an
//     empty NUMBER_OF_WORKERS into 1 where krkn starts one worker per CPU; node-io-hog's writes io-workers,
//     target-pod-folder and target-pod-volume, keys krkn-lib does not read (it reads workers and
//     io-target-pod-*). Such values are reported, not imported.
//   - What the operator owns: the hog pod's namespace (the step's own, removed when the step ends), and an
//     image with a tag (the CRD refuses an untagged one: the kubelet would pull it for every hog pod).
// node-name (krkn: that node, whatever node-selector says) becomes NODE_SELECTOR
// kubernetes.io/hostname=NAME, which selects the same node. A value krkn would fail on at run time
// (a duration in words, a taint without an effect) is an error at its line.
import type { KrknImportSink, KrknScenarioFile } from './kind.ts';
import { KRKN_HOG_IMAGE } from './krkn-image-names.ts';
import { isMap, typeName } from './krkn-yaml.ts';

/** A file key and the image variable that takes it; `krkn`: krkn's default, written when the file has none and the image's differs. */
interface HogKey { variable: string; krkn?: string; whole?: true }

const COMMON: Record<string, HogKey> = {
  duration: { variable: 'TOTAL_CHAOS_DURATION', krkn: '30', whole: true },
  'number-of-nodes': { variable: 'NUMBER_OF_NODES', whole: true },
};
const BY_TYPE: Record<string, Record<string, HogKey>> = {
  cpu: { workers: { variable: 'NODE_CPU_CORE', whole: true }, 'cpu-load-percentage': { variable: 'NODE_CPU_PERCENTAGE', krkn: '80', whole: true } },
  memory: { workers: { variable: 'NUMBER_OF_WORKERS', whole: true }, 'memory-vm-bytes': { variable: 'MEMORY_CONSUMPTION_PERCENTAGE', krkn: '10%' } },
  io: { 'io-block-size': { variable: 'IO_BLOCK_SIZE' }, 'io-write-bytes': { variable: 'IO_WRITE_BYTES' } },
};
/** Keys handled one by one below, for every hog-type. */
const SPECIAL = new Set(['hog-type', 'namespace', 'node-name', 'node-selector', 'taints', 'image']);
/** Keys krkn-lib reads that no image variable reaches, with krkn's default (a file that repeats it loses nothing). */
const UNREACHABLE: Record<string, Record<string, { default: unknown; why: string }>> = {
  cpu: { 'cpu-method': { default: 'all', why: 'krkn-hub\'s node-cpu-hog image always runs cpu-method all' } },
  memory: {},
  io: {
    workers: { default: undefined, why: 'krkn-hub\'s node-io-hog image cannot set it (its IO_WORKERS becomes io-workers, which krkn does not read): krkn starts one worker per CPU' },
    'io-target-pod-folder': { default: '/hog-data', why: 'krkn-hub\'s node-io-hog image cannot set it (it writes target-pod-folder, which krkn does not read): the hog writes to /hog-data' },
    'io-target-pod-volume': { default: { hostPath: { path: '/tmp' }, name: 'node-volume' }, why: 'krkn-hub\'s node-io-hog image cannot set it (it writes target-pod-volume, which krkn does not read): the hog writes to the node\'s /tmp' },
  },
};

/** An image reference with a tag or a digest, as the CRD's rule on IMAGE wants it. */
const TAGGED = /(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64})$/;

/** krkn-lib takes a falsy value for none. */
const unset = (v: unknown) => v === undefined || v === null || v === '' || v === 0 || v === false;

/**
 * The krkn-hub variables for a hog_scenarios file whose hog-type has an image (cpu, memory, io: so the
 * file is a mapping; krknHub's tagOf found its image by its hog-type), with a
 * warning for each value the image cannot take. Throws `path:line: reason` for a value krkn would fail on.
 */
export function hogEnv(file: KrknScenarioFile, to: Pick<KrknImportSink, 'warn'>): Record<string, string> {
  const data = isMap(file.data) ? file.data : {};
  const type = String(data['hog-type']);
  const at = (key: string) => file.lineWith(`${key}:`);
  const env: Record<string, string> = {};
  const keys = { ...COMMON, ...BY_TYPE[type] };
  for (const [key, k] of Object.entries(keys)) {
    const v = data[key];
    if (unset(v)) {
      if (k.krkn !== undefined) env[k.variable] = k.krkn;
      continue;
    }
    if (k.whole ? typeof v !== 'number' || !Number.isInteger(v) || v < 1 : typeof v !== 'string' && typeof v !== 'number') {
      throw file.error(at(key), `${key} must be ${k.whole ? 'a whole number of at least 1' : 'a size such as 512m or 20%'}, not ${typeName(v)}`);
    }
    env[k.variable] = String(v);
  }
  if (type === 'memory' && unset(data.workers)) {
    to.warn(at('hog-type'), 'workers', 'not set: krkn starts one worker per CPU of the node, krkn-hub\'s node-memory-hog image 1 (it has no way to say "per CPU"); set workers to the number you want');
  }

  const selector = data['node-selector'];
  if (!unset(selector)) {
    if (typeof selector !== 'string' || !/^[^=]+=.*$/.test(selector)) {
      throw file.error(at('node-selector'), `node-selector must be key=value, not ${typeName(selector)}: krkn ignores any other selector and hogs every node`);
    }
    env.NODE_SELECTOR = selector;
  }
  const node = data['node-name'];
  if (!unset(node)) {
    if (typeof node !== 'string') throw file.error(at('node-name'), `node-name must be a node's name, not ${typeName(node)}`);
    // krkn hogs that node alone, whatever node-selector says; the image has no NODE_NAME.
    env.NODE_SELECTOR = `kubernetes.io/hostname=${node}`;
  }
  const taints = data.taints;
  if (!unset(taints) && !(Array.isArray(taints) && taints.length === 0)) {
    if (!Array.isArray(taints) || !taints.every((t) => typeof t === 'string' && /^[^:]+:.+$/.test(t))) {
      throw file.error(at('taints'), `taints must be a list of key=value:Effect (or key:Effect) strings, not ${typeName(taints)}`);
    }
    env.TAINTS = JSON.stringify(taints);
  }
  const image = data.image;
  if (!unset(image)) {
    if (typeof image !== 'string') throw file.error(at('image'), `image must be an image reference, not ${typeName(image)}`);
    if (TAGGED.test(image)) env.IMAGE = image;
    else to.warn(at('image'), 'image', `${image} has no tag (the CRD refuses it: the kubelet would pull it for every hog pod); not imported: the step uses ${KRKN_HOG_IMAGE}`);
  }
  if (!unset(data.namespace)) {
    to.warn(at('namespace'), 'namespace', 'not imported: the operator starts krkn\'s hog pod in the step\'s own namespace and removes it when the step ends');
  }
  const unreachable = UNREACHABLE[type] ?? {};
  for (const [key, v] of Object.entries(data)) {
    if (key in keys || SPECIAL.has(key)) continue;
    const u = unreachable[key];
    if (u) {
      if (!unset(v) && JSON.stringify(v) !== JSON.stringify(u.default)) to.warn(at(key), key, `not imported: ${u.why}`);
    } else {
      to.warn(at(key), key, `krkn's ${type} hog does not read it; ignored`);
    }
  }
  return env;
}
