// `charnn train --stats [every]` end to end: statistics as fields of the --json lines, and as log lines on stderr
// when there is no live line. Needs a build (npm test builds first).

import { runCharnn } from './helpers/cli.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TINY = ['--hidden', '8', '--layers', '2', '--batch-size', '2', '--seq-length', '8', '--max-iters', '4', '--seed', '1'];

async function charnn(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runCharnn(args, { cwd: dir });
  return { code: r.code, stdout: r.text, stderr: r.stderr };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charnn-stats-cli-'));
  writeFileSync(join(dir, 'cats.txt'), 'the cat sat on the mat. '.repeat(30));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('charnn train --stats', () => {
  it('--json: every n-th line carries grad_norm and per-layer statistics', async () => {
    const r = await charnn(['train', 'cats.txt', ...TINY, '--stats', '2', '--json', '--checkpoint-dir', 'a']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => 'stats' in l)).toEqual([false, true, false, true]);
    const { stats, grad_norm: gradNorm } = lines[1];
    expect(gradNorm).toBeGreaterThan(0);
    expect(stats.layers).toHaveLength(2);
    for (const layer of stats.layers) {
      expect(Object.keys(layer).sort()).toEqual(['gate_saturated', 'grad_norm', 'h_mean', 'h_saturated', 'h_var', 'layer']);
      expect(Object.keys(layer.gate_saturated).sort()).toEqual(['all', 'cell', 'forget', 'input', 'output']);
      expect(layer.h_var).toBeGreaterThan(0);
      expect(layer.h_saturated).toBeGreaterThanOrEqual(0);
    }
    // the layers' and the output layer's norms make up the global one
    const total = Math.hypot(...stats.layers.map((l: { grad_norm: number }) => l.grad_norm), stats.output_grad_norm);
    expect(total).toBeCloseTo(gradNorm, 5);
  });

  it('without a terminal: one log line per measurement on stderr; --stats alone means every 10', async () => {
    const r = await charnn(['train', 'cats.txt', ...TINY, '--stats', '2', '--checkpoint-dir', 'b']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('iter ') && l.includes(' L0 h '));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^iter 2 {2}L0 h [+-]\d\.\d{3} var \d\.\d{3} sat \d+(\.\d)?% gates \d+(\.\d)?% grad \S+ \| L1 h /);
    const defaults = await charnn(['train', 'cats.txt', ...TINY, '--max-iters', '10', '--stats', '--json', '--checkpoint-dir', 'c']);
    const parsed = defaults.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(parsed.filter((l) => 'stats' in l).map((l) => l.iter)).toEqual([10]);
    const bad = await charnn(['train', 'cats.txt', ...TINY, '--stats', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("charnn: --stats must be a whole number of at least 1, got '0'.\n");
  });
});
