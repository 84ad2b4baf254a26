// Builds the native kernel addon (binding.gyp in this folder) with node-gyp, as part of npm install. It never fails
// the install: without a compiler, headers or node-gyp, it prints one line to stderr and charnn trains on the
// WebAssembly kernels. The full build log goes to build/native-build.log. CHARNN_NATIVE=off skips the build.
//
// node-gyp: npm puts its own on PATH inside scripts and names it in npm_config_node_gyp. Node's headers: the ones
// installed beside this node (Node's own tarballs and installers ship them, distributions in a package such as
// Debian's nodejs-dev), so the build never downloads anything; without them it gives up like any other failure.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const logPath = join(here, 'build', 'native-build.log');

function giveUp(reason) {
  process.stderr.write(`charnn: native kernels not built (${reason}); training will use the WebAssembly kernels.\n`);
  process.exit(0);
}

if (process.env.CHARNN_NATIVE === 'off') giveUp('CHARNN_NATIVE=off');

const prefix = resolve(dirname(process.execPath), '..');
const localHeaders = existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'));
if (!localHeaders) giveUp(`Node's headers are not installed under ${join(prefix, 'include', 'node')}`);
const args = ['rebuild', '--directory', here, `--nodedir=${prefix}`];

// npm_config_node_gyp is the path of node-gyp's JavaScript entry point (set inside npm scripts); run directly, the
// node-gyp bundled with this node's npm; else whatever `node-gyp` is on PATH
const bundled = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gypScript = [process.env.npm_config_node_gyp, bundled].find((path) => path && existsSync(path));
const result = gypScript
  ? spawnSync(process.execPath, [gypScript, ...args], { encoding: 'utf8', cwd: here })
  : spawnSync('node-gyp', args, { encoding: 'utf8', cwd: here, shell: process.platform === 'win32' });

try {
  mkdirSync(join(here, 'build'), { recursive: true });
  writeFileSync(logPath, `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
} catch {
  // the log is a convenience; the outcome below does not depend on it
}

if (result.error) giveUp(`node-gyp could not be run: ${result.error.message}`);
if (result.status !== 0) giveUp(`node-gyp failed, see ${logPath}`);
if (!existsSync(join(here, 'build', 'Release', 'charnn_native.node'))) giveUp(`node-gyp produced no addon, see ${logPath}`);
