// Runs the real command line (bin/charnn.js, from dist/: npm test builds first) as a child process, for the
// end-to-end tests. Colour variables are removed unless a test sets them, so results do not depend on the caller's shell.

import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'charnn.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  text: string;   // stdout as UTF-8
  stderr: string;
}

export function runCharnn(
  args: string[], options: { cwd: string; input?: string | Buffer; env?: Record<string, string> },
): Promise<CliResult> {
  return new Promise((done, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    for (const key of ['FORCE_COLOR', 'NO_COLOR', 'CHARNN_DEBUG']) if (!options.env || !(key in options.env)) delete env[key];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out);
      done({ code, signal, stdout, text: stdout.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // a child that exits before reading its input is the test's business
    child.stdin.end(options.input ?? '');
  });
}
