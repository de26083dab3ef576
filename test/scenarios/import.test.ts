// `chaosrun import` as users run it: krkn-style configs in a temp dir, the CLI as a child process, and
// the printed manifest applied to the real API server (server-side dry run, CRD rules included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot, testEnv } from '../helpers/env.ts';
import type { ImportedRun } from '../../src/scenarios/import.ts';

const env = await testEnv('import');
const dir = mkdtempSync(join(tmpdir(), 'krkn-import-'));
mkdirSync(join(dir, 'config'));
mkdirSync(join(dir, 'scenarios', 'kube'), { recursive: true });

function write(path: string, text: string): string {
  writeFileSync(join(dir, path), text);
  return join(dir, path);
}

/** Runs the CLI from `cwd` (krkn resolves scenario paths from where it runs, and so does import). */
function cli(args: string[], cwd = dir) {
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/cli.ts'), 'import', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const applyDryRun = (manifest: string) => env.kubectl(['apply', '--dry-run=server', '-n', env.namespace, '-f', '-'], manifest);

// krkn's documented layout: config/config.yaml next to scenarios/, paths relative to the krkn checkout.
write('scenarios/kube/pod.yml', `# yaml-language-server: $schema=../plugin.schema.json
- id: kill-pods
  config:
    namespace_pattern: ^kube-system$
    label_selector: component=etcd
    krkn_pod_recovery_time: 120
`);
write('scenarios/kube/scheduler.yml', `- id: kill-pods
  config:
    namespace_pattern: ^openshift-.*$
    name_pattern: ^scheduler-.*$
    kill: 2
    krkn_pod_recovery_time: 60
`);
write('scenarios/kube/regex-node-pods.yml', `- id: kill-pods
  config:
    namespace_pattern: ^shop$
    label_selector: app=web
    node_names:
      - worker-1
`);
write('scenarios/kube/container_dns.yml', `scenarios:
- name: "kill dns container"
  namespace: "kube-system"
  label_selector: "k8s-app=kube-dns"
  container_name: ""
  action: 1
  count: 1
`);
write('scenarios/kube/memory-hog.yml', 'duration: 60\nworkers: 1\nhog-type: memory\nnamespace: default\n');
write('scenarios/kube/node_scenarios_example.yml', 'node_scenarios:\n  - actions:\n    - node_reboot_scenario\n    node_name:\n    label_selector: node-role.kubernetes.io/worker\n');
write('scenarios/kube/time_scenarios_example.yml', 'time_scenarios:\n  - action: skew_time\n    object_type: pod\n    namespace: default\n');

const fullConfig = write('config/config.yaml', `kraken:
    distribution: kubernetes                               # Distribution can be kubernetes or openshift
    kubeconfig_path: ~/.kube/config                        # Path to kubeconfig
    exit_on_failure: False                                 # Exit when a post action scenario fails
    publish_kraken_status: True                            # Can be accessed at http://0.0.0.0:8081
    signal_state: RUN                                      # Will wait for the RUN signal when set to PAUSE before running the scenarios
    signal_address: 0.0.0.0                                # Signal listening address
    port: 8081                                             # Signal port
    chaos_scenarios:
        - pod_disruption_scenarios:
            - scenarios/kube/pod.yml
            - scenarios/kube/scheduler.yml
            - scenarios/kube/regex-node-pods.yml
        - container_scenarios:
            - -    scenarios/kube/container_dns.yml
        - hog_scenarios:
            - scenarios/kube/memory-hog.yml
        - node_scenarios:
            - scenarios/kube/node_scenarios_example.yml
        - time_scenarios:
            - scenarios/kube/time_scenarios_example.yml

cerberus:
    cerberus_enabled: False                                # Enable it when cerberus is previously installed
    cerberus_url:                                          # When cerberus_enabled is set to True, provide the url

tunings:
    wait_duration: 60                                      # Duration to wait between each chaos scenario
    iterations: 2                                          # Number of times to execute the scenarios
    daemon_mode: False                                     # Iterations are set to infinity
`);

test('a krkn config becomes a ChaosRun the API server accepts; what does not map is on stderr', () => {
  const { code, stdout, stderr } = cli(['config/config.yaml', '--name', 'krkn-migrated']);
  assert.equal(code, 0, stderr);
  const run = yaml.load(stdout) as ImportedRun;
  assert.deepEqual(run.metadata, { name: 'krkn-migrated' });
  assert.equal(run.spec.iterations, 2);
  assert.equal(run.spec.daemonMode, false);
  assert.equal(run.spec.waitDuration, '60s');
  assert.equal(run.spec.signalState, 'RUN');
  assert.equal(run.spec.publishStatus, true);
  assert.equal(run.spec.failurePolicy, 'Continue');
  assert.deepEqual(run.spec.scenarios, [
    { name: 'pod', podKill: { namespace: 'kube-system', labelSelector: 'component=etcd', count: 1, recovery: { timeout: '120s' } } },
    { name: 'scheduler', podKill: { namespacePattern: '^openshift-.*$', namePattern: '^scheduler-.*$', count: 2, recovery: { timeout: '60s' } } },
    { name: 'regex-node-pods', krknHub: { scenario: 'pod-scenarios', env: { WAIT_DURATION: '0', NAMESPACE: '^shop$', POD_LABEL: 'app=web', NODE_NAMES: 'worker-1' } } },
    { name: 'container-dns', krknHub: { scenario: 'container-scenarios', env: { WAIT_DURATION: '0', NAMESPACE: 'kube-system', LABEL_SELECTOR: 'k8s-app=kube-dns', CONTAINER_NAME: '', ACTION: '1', DISRUPTION_COUNT: '1' } } },
    // krkn's memory-vm-bytes default (10%), not the image's 90%; the namespace is the operator's.
    { name: 'memory-hog', krknHub: { scenario: 'node-memory-hog', env: { WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '60', NUMBER_OF_WORKERS: '1', MEMORY_CONSUMPTION_PERCENTAGE: '10%' } } },
    { name: 'node-scenarios-example', krknHub: { scenario: 'node-scenarios', env: { WAIT_DURATION: '0' } } },
    { name: 'time-scenarios-example', krknHub: { scenario: 'time-scenarios', env: { WAIT_DURATION: '0' } } },
  ]);
  const lines = stderr.trim().split('\n');
  assert.ok(lines.every((l) => /^warning: [^:]+:\d+: \S+: /.test(l)), stderr);
  assert.match(stderr, /warning: config\/config\.yaml:3: kraken\.kubeconfig_path: not needed/);
  assert.match(stderr, /warning: config\/config\.yaml:7: kraken\.signal_address: not needed: the operator's Service serves the krkn signal API/);
  assert.match(stderr, /warning: config\/config\.yaml:8: kraken\.port: not needed/);
  assert.match(stderr, /warning: config\/config\.yaml:23: cerberus: not mapped/);
  assert.match(stderr, /warning: scenarios\/kube\/regex-node-pods\.yml:1: \[0\]: became krknHub step regex-node-pods \(krkn-hub:pod-scenarios\), not podKill, because node_names is set/);
  assert.match(stderr, /warning: config\/config\.yaml:15: kraken\.chaos_scenarios\[1\]\.container_scenarios\[0\]: became krknHub step container-dns/);
  assert.match(stderr, /warning: scenarios\/kube\/memory-hog\.yml:4: namespace: not imported: the operator starts krkn's hog pod in the step's own namespace/);
  assert.equal(lines.length, 10, stderr);

  const out = applyDryRun(stdout);
  assert.match(out, /chaosrun\.chaosrun\.dev\/krkn-migrated created \(server dry run\)/);
});

test('--namespace, --base-dir and daemon mode; the name defaults to the config file name', () => {
  const config = write('daemon.yaml', `kraken:
  signal_state: PAUSE
  publish_kraken_status: False
  chaos_scenarios:
    - pod_disruption_scenarios:
      - kube/pod.yml
tunings:
  wait_duration: 2.5
  daemon_mode: True
`);
  const { code, stdout, stderr } = cli([config, '--namespace', env.namespace, '--base-dir', join(dir, 'scenarios')], repoRoot);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
  const run = yaml.load(stdout) as ImportedRun;
  assert.deepEqual(run.metadata, { name: 'daemon', namespace: env.namespace });
  assert.equal(run.spec.daemonMode, true);
  assert.equal(run.spec.signalState, 'PAUSE');
  assert.equal(run.spec.publishStatus, false);
  assert.equal(run.spec.waitDuration, '2.5s');
  assert.match(applyDryRun(stdout), /chaosrun\.chaosrun\.dev\/daemon created \(server dry run\)/);
});

test('a hog file and --kubeconfig-secret: the krknHub step the API server accepts needs nothing more', () => {
  write('scenarios/kube/cpu-hog.yml', `duration: 20
workers: 1
hog-type: cpu
image: quay.io/krkn-chaos/krkn-hog:v0.0.1
namespace: default
cpu-load-percentage: 90
cpu-method: all
node-selector: "chaosrun.dev/node=real"
number-of-nodes: 1
taints: ["chaosrun.dev/real-node=true:NoSchedule"]
`);
  write('hog.yaml', 'kraken:\n  chaos_scenarios:\n    - hog_scenarios:\n      - scenarios/kube/cpu-hog.yml\ntunings:\n  iterations: 1\n');
  const { code, stdout, stderr } = cli(['hog.yaml', '--kubeconfig-secret', 'krkn-kubeconfig']);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, 'warning: scenarios/kube/cpu-hog.yml:5: namespace: not imported: the operator starts krkn\'s hog pod in the step\'s own namespace and removes it when the step ends\n');
  const run = yaml.load(stdout) as ImportedRun;
  assert.deepEqual(run.spec.scenarios, [{
    name: 'cpu-hog',
    krknHub: {
      scenario: 'node-cpu-hog',
      env: {
        WAIT_DURATION: '0', TOTAL_CHAOS_DURATION: '20', NUMBER_OF_NODES: '1', NODE_CPU_CORE: '1', NODE_CPU_PERCENTAGE: '90', NODE_SELECTOR: 'chaosrun.dev/node=real',
        TAINTS: '["chaosrun.dev/real-node=true:NoSchedule"]', IMAGE: 'quay.io/krkn-chaos/krkn-hog:v0.0.1',
      },
      kubeconfigSecret: 'krkn-kubeconfig',
    },
  }]);
  // The CRD's rules on hog steps (no NAMESPACE, NODE_SELECTOR key=value, IMAGE tagged) all hold.
  assert.match(applyDryRun(stdout), /chaosrun\.chaosrun\.dev\/hog created \(server dry run\)/);
  const bad = cli(['hog.yaml', '--kubeconfig-secret', 'Not_A_Name']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr, 'chaosrun import: --kubeconfig-secret must be a Secret\'s name (lower-case letters, digits, - and .), not "Not_A_Name"\n');
});

test('errors exit 1 with one line: file, line and reason', () => {
  const badYaml = write('bad-yaml.yaml', 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n    - [unclosed\n');
  const missing = write('missing.yaml', 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - scenarios/kube/pod.yml\n      - scenarios/kube/nope.yml\n');
  const wrongType = write('wrong-type.yaml', 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - scenarios/kube/pod.yml\ntunings:\n  wait_duration: 10\n  iterations: "abc"\n');
  write('scenarios/kube/bad-kill.yml', '- id: kill-pods\n  config:\n    namespace_pattern: ^a$\n    name_pattern: x\n    kill: many\n');
  const usesBad = write('uses-bad.yaml', 'kraken:\n  chaos_scenarios:\n    - pod_disruption_scenarios:\n      - scenarios/kube/bad-kill.yml\n');
  const nothing = write('nothing.yaml', 'kraken:\n  chaos_scenarios:\n    - arcaflow_scenarios:\n      - scenarios/kube/pod.yml\n');
  const cases: Array<[string[], RegExp]> = [
    [[badYaml], /^chaosrun import: .*bad-yaml\.yaml:5: invalid YAML: unexpected end of the stream within a flow collection\n$/],
    [[missing], /^chaosrun import: .*missing\.yaml:5: scenario file scenarios\/kube\/nope\.yml not found \(.*\/scenarios\/kube\/nope\.yml\)\n$/],
    [[wrongType], /^chaosrun import: .*wrong-type\.yaml:7: tunings\.iterations must be a whole number of at least 1, not string "abc"\n$/],
    [[usesBad], /^chaosrun import: scenarios\/kube\/bad-kill\.yml:5: \[0\]\.config\.kill must be a whole number of at least 0, not string "many"\n$/],
    [[nothing], /^warning: .*nothing\.yaml:4: .*no krkn-hub image runs arcaflow_scenarios.*\nchaosrun import: .*nothing\.yaml: no scenario could be imported \(see the warnings above\)\n$/],
    [[join(dir, 'no-such.yaml')], /^chaosrun import: .*no-such\.yaml: no such file\n$/],
    [[], /^chaosrun import: expected one krkn config file; see chaosrun import --help\n$/],
    [[fullConfig, '--bogus'], /^chaosrun import: Unknown option '--bogus'/],
  ];
  for (const [args, stderr] of cases) {
    const r = cli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, stderr);
  }
});
