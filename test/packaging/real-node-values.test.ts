// charts/real-node-values.yaml is what the docs tell a user to install the chart with on the local
// plane's real node, and what test/e2e installs it with: it must name the node's own label and taint
// (src/realnode/host.ts), for the operator, the step pods and the node agent alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { NODE_LABEL, NODE_TAINT } from '../../src/realnode/host.ts';
import { repoRoot } from '../helpers/env.ts';

test('charts/real-node-values.yaml places the operator, the step pods and the agent on the real node, with images never pulled', () => {
  const values = yaml.load(readFileSync(join(repoRoot, 'charts/real-node-values.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const nodeSelector = { [NODE_LABEL.key]: NODE_LABEL.value };
  const tolerations = [{ key: NODE_TAINT.key, operator: 'Equal', value: NODE_TAINT.value, effect: NODE_TAINT.effect }];
  assert.deepEqual(values.image, { pullPolicy: 'Never' });
  for (const [where, v] of [['operator', values], ['stepPods', values.stepPods], ['agent', values.agent]] as const) {
    assert.deepEqual((v as Record<string, unknown>).nodeSelector, nodeSelector, `${where}: nodeSelector`);
    assert.deepEqual((v as Record<string, unknown>).tolerations, tolerations, `${where}: tolerations`);
  }
  assert.deepEqual(values.agent.image, { pullPolicy: 'Never' });
});
