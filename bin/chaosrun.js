#!/usr/bin/env node
// `chaosrun`, as npm installs it (npx, npm exec, npm install -g, a packed tarball): see launch.js.
import { launch } from './launch.js';

launch('chaosrun', 'cli');
