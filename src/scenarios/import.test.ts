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
    krknHub: { scenario: 'pod-scenarios', env: { NAMESPACE: '^shop$', POD_LABEL: 'app=web', NODE_LABEL_SELECTOR: 'node-role.kubernetes.io/worker=', DISRUPTION_COUNT: '1' } },
  }]);
  assert.deepEqual(warnings, [
    'pods.yaml:6: [0].config.exclude_label: not mapped (neither podKill nor the pod-scenarios image takes it); dropped',
    'pods.yaml:1: [0]: became krknHub step pods (krkn-hub:pod-scenarios), not podKill, because node_label_selector is set, exclude_label is set; set its kubeconfigSecret',
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
    { name: 'container-etcd', krknHub: { scenario: 'container-scenarios' } },
    { name: 'cpu-hog', krknHub: { scenario: 'node-cpu-hog' } },
    { name: 'node', krknHub: { scenario: 'node-scenarios' } },
    { name: 'node-2', krknHub: { scenario: 'node-scenarios' } },
  ]);
  assert.equal(warnings.length, 10, warnings.join('\n'));
  assert.match(warnings[0], /^config\/config\.yaml:2: kraken\.kubeconfig_path: not needed/);
  assert.match(warnings[1], /^config\/config\.yaml:3: kraken\.port: not needed: the operator's Service serves the krkn signal API/);
  assert.match(warnings[2], /^config\/config\.yaml:4: kraken\.signal_address: not needed/);
  assert.match(warnings[3], /^config\/config\.yaml:17: cerberus: not mapped/);
  assert.match(warnings[4], /^config\/config\.yaml:7: kraken\.chaos_scenarios\[0\]\.container_scenarios\[0\]: post action scenarios\/post_action_etcd\.py not imported/);
  assert.match(warnings[5], /^config\/config\.yaml:7: .*became krknHub step container-etcd \(krkn-hub:container-scenarios\); set its env from scenarios\/container_etcd\.yml/);
  assert.match(warnings[6], /:10: kraken\.chaos_scenarios\[1\]\.hog_scenarios\[0\]: became krknHub step cpu-hog \(krkn-hub:node-cpu-hog\)/);
  assert.match(warnings[9], /:16: kraken\.chaos_scenarios\[4\]\.arcaflow_scenarios\[0\]: no krkn-hub image runs arcaflow_scenarios scenarios/);
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
