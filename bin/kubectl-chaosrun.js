#!/usr/bin/env node
// `kubectl chaosrun`: kubectl runs any `kubectl-NAME` on the PATH as `kubectl NAME`. See launch.js.
import { launch } from './launch.js';

launch('kubectl-chaosrun', 'kubectl-chaosrun');
