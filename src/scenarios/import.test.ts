// The krkn config mapping on its own, with scenario files held in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importKrknConfig, type ImportOptions } from './import.ts';

const opts: ImportOptions = { file: 'config/config.yaml', baseDir: '/krkn' };

function reader(files: Record<string, string>) {
  return (path: string) => {
    if (!(path in files)) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return files[path];
  };
}

const podKill = `# yaml-language-server: $schema=../plugin.schema.json
- id: kill-pods
  config:
    namespace_pattern: ^kube-system$
    label_selector: k8s-app=kube-scheduler
    krkn_pod_recovery_time: 90
    kill: 2
`;

test('tunings and kraken settings map to the spec; a clean pod_disruption file becomes podKill', () => {
  const config = `kraken:
    distribution: kubernetes
    exit_on_failure: True
    publish_kraken_status: False
    signal_state: PAUSE
    chaos_scenarios:
        - pod_disruption_scenarios:
            - scenarios/kube/scheduler.yml
tunings:
    wait_duration: 45
    iterations: 3
    daemon_mode: no
`;
  const { manifest, warnings } = importKrknConfig(config, opts, reader({ '/krkn/scenarios/kube/scheduler.yml': podKill }));
  assert.deepEqual(warnings, []);
  assert.deepEqual(manifest, {
    apiVersion: 'chaosrun.dev/v1alpha1', kind: 'ChaosRun', metadata: { name: 'config' },
    spec: {
      failurePolicy: 'Stop', publishStatus: false, signalState: 'PAUSE', waitDuration: '45s', iterations: 3, daemonMode: false,
      scenarios: [{ name: 'scheduler', podKill: { namespace: 'kube-system', labelSelector: 'k8s-app=kube-scheduler', count: 2, recovery: { timeout: '90s' } } }],
    },
  });
});

test('a namespace regex stays a pattern, name_pattern maps, and krkn defaults fill the rest', () => {
  const file = `- id: kill-pods
  config:
    namespace_pattern: ^openshift-.*$
    name_pattern: ^etcd-.*$
    timeout: 120
    execution: serial
`;
  const { manifest, warnings } = importKrknConfig('kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - /abs/etcd.yml\n',
    { ...opts, name: 'etcd-run', namespace: 'chaos' }, reader({ '/abs/etcd.yml': file }));
  assert.deepEqual(warnings, []);
  assert.deepEqual(manifest.metadata, { name: 'etcd-run', namespace: 'chaos' });
  assert.deepEqual(manifest.spec.scenarios, [
    { name: 'etcd', podKill: { namespacePattern: '^openshift-.*$', namePattern: '^etcd-.*$', count: 1, recovery: { timeout: '120s' } } },
  ]);
});

test('pod_disruption fields podKill lacks make a krknHub pod-scenarios step, with a warning', () => {
  const file = `- id: kill-pods
  config:
    namespace_pattern: ^shop$
    label_selector: app=web
    node_label_selector: node-role.kubernetes.io/worker=
    exclude_label: critical=true
    kill: 1
`;
  const { manifest, warnings } = importKrknConfig('kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - pods.yaml\n', opts, reader({ '/krkn/pods.yaml': file }));
  assert.deepEqual(manifest.spec.scenarios, [{
    name: 'pods',
    krknHub: { scenario: 'pod-scenarios', env: { WAIT_DURATION: '0', NAMESPACE: '^shop$', POD_LABEL: 'app=web', NODE_LABEL_SELECTOR: 'node-role.kubernetes.io/worker=', DISRUPTION_COUNT: '1' } },
  }]);
  assert.deepEqual(warnings, [
    'pods.yaml:6: [0].config.exclude_label: not mapped (neither podKill nor the pod-scenarios image takes it); dropped',
    'pods.yaml:1: [0]: became krknHub step pods (krkn-hub:pod-scenarios), not podKill, because node_label_selector is set, exclude_label is set; set its kubeconfigSecret (or import with --kubeconfig-secret NAME)',
  ]);
});

test('other scenario types become krknHub steps with the matching image; unknown ones are reported', () => {
  const config = `kraken:
    kubeconfig_path: ~/.kube/config
    port: 8081
    signal_address: 0.0.0.0
    chaos_scenarios:
        - container_scenarios:
            - -    scenarios/container_etcd.yml
              -    scenarios/post_action_etcd.py
        - hog_scenarios:
            - scenarios/cpu-hog.yml
        - node_scenarios:
            - scenarios/node.yml
        - node_scenarios:
            - scenarios/node.yml
        - arcaflow_scenarios:
            - scenarios/input.yaml
cerberus:
    cerberus_enabled: False
`;
  const files = {
    '/krkn/scenarios/container_etcd.yml': 'scenarios:\n- name: kill etcd container\n  namespace: openshift-etcd\n',
    '/krkn/scenarios/cpu-hog.yml': 'duration: 60\nhog-type: cpu\nnamespace: default\n',
    '/krkn/scenarios/node.yml': 'node_scenarios:\n- actions: [node_reboot_scenario]\n',
    '/krkn/scenarios/input.yaml': 'input_list: []\n',
  };
  const { manifest, warnings } = importKrknConfig(config, opts, reader(files));
  assert.deepEqual(manifest.spec.scenarios, [
    { name: 'container-etcd', krknHub: { scenario: 'container-scenarios', env: { WAIT_DURATION: '0', NAMESPACE: 'openshift-etcd' } } },
    // krkn's defaults where the image's differ (cpu-load-percentage 80, not the image's 50).
    { name: 'cpu-hog', krknHub: { scenario: 'node-cpu-hog', env: { WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '60', NODE_CPU_PERCENTAGE: '80' } } },
    { name: 'node', krknHub: { scenario: 'node-scenarios', env: { WAIT_DURATION: '0' } } },
    { name: 'node-2', krknHub: { scenario: 'node-scenarios', env: { WAIT_DURATION: '0' } } },
  ]);
  assert.equal(warnings.length, 11, warnings.join('\n'));
  assert.match(warnings[0], /^config\/config\.yaml:2: kraken\.kubeconfig_path: not needed/);
  assert.match(warnings[1], /^config\/config\.yaml:3: kraken\.port: not needed: the operator's Service serves the krkn signal API/);
  assert.match(warnings[2], /^config\/config\.yaml:4: kraken\.signal_address: not needed/);
  assert.match(warnings[3], /^config\/config\.yaml:17: cerberus: not mapped/);
  assert.match(warnings[4], /^config\/config\.yaml:7: kraken\.chaos_scenarios\[0\]\.container_scenarios\[0\]: post action scenarios\/post_action_etcd\.py not imported/);
  assert.match(warnings[5], /^config\/config\.yaml:7: .*became krknHub step container-etcd \(krkn-hub:container-scenarios\); set its env from scenarios\/container_etcd\.yml/);
  assert.match(warnings[6], /^scenarios\/cpu-hog\.yml:3: namespace: not imported: the operator starts krkn's hog pod in the step's own namespace/);
  assert.match(warnings[7], /:10: kraken\.chaos_scenarios\[1\]\.hog_scenarios\[0\]: became krknHub step cpu-hog \(krkn-hub:node-cpu-hog\); set its kubeconfigSecret \(or import with --kubeconfig-secret NAME\)$/);
  assert.match(warnings[10], /:16: kraken\.chaos_scenarios\[4\]\.arcaflow_scenarios\[0\]: no krkn-hub image runs arcaflow_scenarios scenarios/);
});

test('errors name the file, the line and the reason', () => {
  const read = reader({ '/krkn/bad.yml': '- id: kill-pods\n  config:\n    namespace_pattern: ^a$\n    kill: two\n', '/krkn/broken.yml': '- id: [\n' });
  const cases: Array<[string, RegExp]> = [
    ['kraken:\n  chaos_scenarios: [\n', /^Error: config\/config\.yaml:3: invalid YAML: unexpected end of the stream within a flow collection/],
    ['kraken:\n  chaos_scenarios: []\ntunings:\n  iterations: "abc"\n', /^Error: config\/config\.yaml:4: tunings\.iterations must be a whole number of at least 1, not string "abc"$/],
    ['kraken:\n  chaos_scenarios: []\ntunings:\n  daemon_mode: maybe\n', /^Error: config\/config\.yaml:4: tunings\.daemon_mode must be true or false/],
    ['kraken:\n  chaos_scenarios: []\ntunings:\n  wait_duration: 1m\n', /^Error: config\/config\.yaml:4: tunings\.wait_duration must be a number of seconds/],
    ['kraken:\n  signal_state: GO\n  chaos_scenarios: []\n', /^Error: config\/config\.yaml:2: kraken\.signal_state must be one of RUN, PAUSE, STOP/],
    ['kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - missing.yml\n', /^Error: config\/config\.yaml:4: scenario file missing\.yml not found \(\/krkn\/missing\.yml\)$/],
    ['kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - bad.yml\n', /^Error: bad\.yml:4: \[0\]\.config\.kill must be a whole number of at least 0, not string "two"$/],
    ['kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - broken.yml\n', /^Error: broken\.yml:2: invalid YAML/],
    ['kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios: scenarios/x.yml\n', /^Error: config\/config\.yaml:3: kraken\.chaos_scenarios\[0\]\.pod_disruption_scenarios must be a list of scenario files/],
    ['kraken:\n  publish_kraken_status: True\n', /^Error: config\/config\.yaml:1: kraken\.chaos_scenarios is missing/],
    ['- kraken\n', /^Error: config\/config\.yaml:1: a krkn config must be a mapping/],
  ];
  for (const [config, error] of cases) assert.throws(() => importKrknConfig(config, opts, read), error, config);
});

/** A config listing one hog file, imported with `extra` options. */
function importHog(file: string, extra: Partial<ImportOptions> = {}) {
  return importKrknConfig('kraken:\n  chaos_scenarios:\n    - hog_scenarios:\n      - hog.yml\n', { ...opts, ...extra }, reader({ '/krkn/hog.yml': file }));
}

test('a cpu hog file becomes node-cpu-hog\'s variables whole: krkn\'s keys, its taints as JSON, and the kubeconfig Secret', () => {
  const { manifest, warnings } = importHog(`duration: 20
workers: 1
hog-type: cpu
image: quay.io/krkn-chaos/krkn-hog:v0.0.1
namespace: chaos
cpu-load-percentage: 90
cpu-method: all
node-selector: "chaosrun.dev/node=real"
number-of-nodes: 1
taints: ["chaosrun.dev/real-node=true:NoSchedule"]
`, { kubeconfigSecret: 'krkn-kubeconfig' });
  assert.deepEqual(manifest.spec.scenarios, [{
    name: 'hog',
    krknHub: {
      scenario: 'node-cpu-hog',
      env: {
        WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '20', NUMBER_OF_NODES: '1', NODE_CPU_CORE: '1', NODE_CPU_PERCENTAGE: '90', NODE_SELECTOR: 'chaosrun.dev/node=real',
        TAINTS: '["chaosrun.dev/real-node=true:NoSchedule"]', IMAGE: 'quay.io/krkn-chaos/krkn-hog:v0.0.1',
      },
      kubeconfigSecret: 'krkn-kubeconfig',
    },
  }]);
  // The namespace is the operator's; nothing else is lost, and the Secret is set, so no "set its" line.
  assert.deepEqual(warnings, ['hog.yml:5: namespace: not imported: the operator starts krkn\'s hog pod in the step\'s own namespace and removes it when the step ends']);
});

test('a hog file that leaves keys out gets krkn\'s defaults where the image\'s differ, and what the image cannot say is reported', () => {
  // krkn's own scenarios/kube/cpu-hog.yml: workers '' (one per CPU, as the image's empty NODE_CPU_CORE), an untagged image.
  const cpu = importHog(`duration: 10
workers: ''
hog-type: cpu
image: quay.io/krkn-chaos/krkn-hog
namespace: default
cpu-load-percentage: 90
cpu-method: matrixprod
node-name: worker-0
node-selector: "node-role.kubernetes.io/worker="
number-of-nodes: 2
taints: []
`);
  assert.deepEqual(cpu.manifest.spec.scenarios[0].krknHub, {
    scenario: 'node-cpu-hog',
    // node-name wins over node-selector, as in krkn's hogs plugin; no TAINTS for an empty list.
    env: { WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '10', NUMBER_OF_NODES: '2', NODE_CPU_PERCENTAGE: '90', NODE_SELECTOR: 'kubernetes.io/hostname=worker-0' },
  });
  assert.deepEqual(cpu.warnings, [
    'hog.yml:4: image: quay.io/krkn-chaos/krkn-hog has no tag (the CRD refuses it: the kubelet would pull it for every hog pod); not imported: the step uses quay.io/krkn-chaos/krkn-hog:v0.0.1',
    'hog.yml:5: namespace: not imported: the operator starts krkn\'s hog pod in the step\'s own namespace and removes it when the step ends',
    'hog.yml:7: cpu-method: not imported: krkn-hub\'s node-cpu-hog image always runs cpu-method all',
    'config/config.yaml:4: kraken.chaos_scenarios[0].hog_scenarios[0]: became krknHub step hog (krkn-hub:node-cpu-hog); set its kubeconfigSecret (or import with --kubeconfig-secret NAME)',
  ]);

  // Memory: krkn's duration 30 and memory-vm-bytes 10% (the image's 60 and 90%); its workers cannot be "one per CPU".
  const memory = importHog('hog-type: memory\nnode-selector: ""\nextra-key: 1\n', { kubeconfigSecret: 'k' });
  assert.deepEqual(memory.manifest.spec.scenarios[0].krknHub, {
    scenario: 'node-memory-hog', env: { WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '30', MEMORY_CONSUMPTION_PERCENTAGE: '10%' }, kubeconfigSecret: 'k',
  });
  assert.deepEqual(memory.warnings, [
    'hog.yml:1: workers: not set: krkn starts one worker per CPU of the node, krkn-hub\'s node-memory-hog image 1 (it has no way to say "per CPU"); set workers to the number you want',
    'hog.yml:3: extra-key: krkn\'s memory hog does not read it; ignored',
  ]);
  const memory2 = importHog('hog-type: memory\nworkers: 2\nmemory-vm-bytes: 256m\nduration: 45\nnode-selector: kubernetes.io/hostname=n1\n', { kubeconfigSecret: 'k' });
  assert.deepEqual(memory2.manifest.spec.scenarios[0].krknHub?.env, {
    WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '45', NUMBER_OF_WORKERS: '2', MEMORY_CONSUMPTION_PERCENTAGE: '256m', NODE_SELECTOR: 'kubernetes.io/hostname=n1',
  });
  assert.deepEqual(memory2.warnings, []);

  // io: the image writes keys krkn does not read for the folder, the volume and the workers.
  const io = importHog(`hog-type: io
duration: 30
io-block-size: 4m
io-write-bytes: 1g
workers: 4
io-target-pod-folder: /hog-data
io-target-pod-volume:
  hostPath:
    path: /var/data
  name: node-volume
node-selector: ""
`, { kubeconfigSecret: 'k' });
  assert.deepEqual(io.manifest.spec.scenarios[0].krknHub, { scenario: 'node-io-hog', env: { WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '30', IO_BLOCK_SIZE: '4m', IO_WRITE_BYTES: '1g' }, kubeconfigSecret: 'k' });
  assert.equal(io.warnings.length, 2, io.warnings.join('\n'));
  assert.match(io.warnings[0], /^hog\.yml:5: workers: not imported: krkn-hub's node-io-hog image cannot set it/);
  assert.match(io.warnings[1], /^hog\.yml:7: io-target-pod-volume: not imported: .*the hog writes to the node's \/tmp$/);
});

test('hog values krkn would fail on are errors at their line', () => {
  const cases: Array<[string, RegExp]> = [
    ['hog-type: cpu\nnode-selector: ""\nduration: 1m\n', /^Error: hog\.yml:3: duration must be a whole number of at least 1, not string "1m"$/],
    ['hog-type: cpu\nnode-selector: ""\nworkers: 1.5\n', /^Error: hog\.yml:3: workers must be a whole number of at least 1, not number 1\.5$/],
    ['hog-type: cpu\nnode-selector: worker\n', /^Error: hog\.yml:2: node-selector must be key=value, not string "worker": krkn ignores any other selector and hogs every node$/],
    ['hog-type: cpu\nnode-selector: ""\ntaints: "a=b:NoSchedule"\n', /^Error: hog\.yml:3: taints must be a list of key=value:Effect \(or key:Effect\) strings, not string/],
    ['hog-type: cpu\nnode-selector: ""\ntaints: ["a=b"]\n', /^Error: hog\.yml:3: taints must be a list/],
    ['hog-type: memory\nnode-selector: ""\nmemory-vm-bytes: [1]\n', /^Error: hog\.yml:3: memory-vm-bytes must be a size such as 512m or 20%, not a list$/],
  ];
  for (const [file, error] of cases) assert.throws(() => importHog(file), error, file);
});

test('--kubeconfig-secret goes on every krknHub step, podKill steps keep their ServiceAccount, and no "set its kubeconfigSecret" line is left', () => {
  const config = `kraken:
  kubeconfig_path: ~/.kube/config
  chaos_scenarios:
    - pod_disruption_scenarios:
      - pods.yml
      - node-pods.yml
    - container_scenarios:
      - cont.yml
`;
  const files = {
    '/krkn/pods.yml': podKill,
    '/krkn/node-pods.yml': '- id: kill-pods\n  config:\n    namespace_pattern: ^shop$\n    label_selector: app=web\n    node_label_selector: pool=a\n',
    '/krkn/cont.yml': 'scenarios:\n- namespace: shop\n  label_selector: app=web\n',
  };
  const { manifest, warnings } = importKrknConfig(config, { ...opts, kubeconfigSecret: 'krkn-kubeconfig' }, reader(files));
  assert.deepEqual(manifest.spec.scenarios.map((s) => [s.name, s.podKill ? 'podKill' : s.krknHub?.kubeconfigSecret]), [
    ['pods', 'podKill'], ['node-pods', 'krkn-kubeconfig'], ['cont', 'krkn-kubeconfig'],
  ]);
  assert.ok(!warnings.some((w) => /set its kubeconfigSecret|and kubeconfigSecret/.test(w)), warnings.join('\n'));
  assert.match(warnings[0], /kraken\.kubeconfig_path: not needed: .*kubeconfigSecret \(krkn-kubeconfig\)$/);
  assert.match(warnings.at(-1)!, /became krknHub step cont \(krkn-hub:container-scenarios\); set its env from cont\.yml as the krkn-hub container-scenarios documentation says$/);
});

test('what the config says for every scenario reaches every krknHub step\'s krkn: no second wait, the PDF report and the resiliency mode', () => {
  const config = `kraken:
  generate_pdf_report: False
  chaos_scenarios:
    - pod_disruption_scenarios:
      - pods.yml
    - hog_scenarios:
      - hog.yml
resiliency:
  resiliency_run_mode: disabled
  resiliency_file: config/alerts.yaml
tunings:
  wait_duration: 5
`;
  const files = { '/krkn/pods.yml': podKill, '/krkn/hog.yml': 'hog-type: cpu\nnode-selector: ""\nduration: 20\ncpu-load-percentage: 50\n' };
  const { manifest, warnings } = importKrknConfig(config, { ...opts, kubeconfigSecret: 'k' }, reader(files));
  assert.equal(manifest.spec.waitDuration, '5s', 'the operator waits after each step, as krkn after each scenario');
  assert.ok(manifest.spec.scenarios[0].podKill, 'a podKill step has no krkn to tell');
  assert.deepEqual(manifest.spec.scenarios[1].krknHub?.env, {
    WAIT_DURATION: '0', GENERATE_PDF_REPORT: 'False', DISABLE_RESILIENCY_SCORE: 'true', TOTAL_CHAOS_DURATION: '20', NODE_CPU_PERCENTAGE: '50',
  });
  assert.deepEqual(warnings, ['config/config.yaml:10: resiliency.resiliency_file: not mapped; ignored']);
  const detailed = importKrknConfig('kraken:\n  chaos_scenarios:\n    - hog_scenarios:\n      - hog.yml\nresiliency:\n  resiliency_run_mode: detailed\n', { ...opts, kubeconfigSecret: 'k' }, reader(files));
  assert.equal(detailed.manifest.spec.scenarios[0].krknHub?.env?.RESILIENCY_SCORE, 'true');
  assert.throws(() => importKrknConfig('kraken:\n  chaos_scenarios: []\nresiliency:\n  resiliency_run_mode: loud\n', opts, reader({})),
    /^Error: config\/config\.yaml:4: resiliency\.resiliency_run_mode must be one of disabled, detailed, standalone, not string "loud"$/);
  assert.throws(() => importKrknConfig('kraken:\n  generate_pdf_report: maybe\n  chaos_scenarios: []\n', opts, reader({})),
    /^Error: config\/config\.yaml:2: kraken\.generate_pdf_report must be true or false/);
});
