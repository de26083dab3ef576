#!/usr/bin/env node
// The kubectl plugin's entry point: kubectl runs `kubectl-chaosrun` (bin/kubectl-chaosrun.js, which
// checks the Node version first) for `kubectl chaosrun …`. The verbs are in src/plugin/.
import { runMain } from './options.ts';
import { pluginMain } from './plugin/main.ts';

runMain('kubectl chaosrun', () => pluginMain(process.argv.slice(2)));
