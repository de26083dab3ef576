// The node agent's delayer binary (agent/delayer/, Go), built on this machine into the project's cache
// by agent/delayer/build.sh (a no-op when the cache is warm; a cached binary is used only if its
// `--version` runs). The agent's image carries it at /usr/local/bin/chaosrun-delayer, where the agent
// finds it on PATH; tests point the agent at the cached one (its --delayer option or CHAOSRUN_DELAYER).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBuildScript } from '../local/setup-step.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The delayer's build script: what an image build or a test runs first. */
export const DELAYER_BUILD_SCRIPT = join(repoRoot, 'agent/delayer/build.sh');
/** Where the agent's image puts the binary (on PATH: the agent's default --delayer is its bare name). */
export const DELAYER_IMAGE_PATH = '/usr/local/bin/chaosrun-delayer';

/** Builds chaosrun-delayer if the cache has no usable one, and returns the binary's path (a static executable). */
export function buildDelayer(): string {
  return join(runBuildScript(DELAYER_BUILD_SCRIPT, 'building chaosrun-delayer (the node agent\'s packet delayer)', 'delayer-build'), 'chaosrun-delayer');
}

/** The binary images.ts copies into the agent's image: the same as buildDelayer(). */
export const delayerBinary = buildDelayer;
