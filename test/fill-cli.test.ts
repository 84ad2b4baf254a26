// End-to-end tests of `charnn fill` and the bidirectional options of train, eval and sample: the real
// bin/charnn.js as a child process, on tiny models. Needs a build (npm test builds first).

import { runCharnn } from './helpers/cli.js';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';

const TINY = ['--model', 'gru', '--hidden', '24', '--layers', '1', '--batch-size', '8', '--seq-length', '32', '--optimizer', 'adam', '--lr', '0.02', '--seed', '5'];

interface Result { code: number | null; stdout: string; stderr: string }

async function charnn(args: string[], input = ''): Promise<Result> {
  const r = await runCharnn(args, { cwd: work, input });
  return { code: r.code, stdout: r.text, stderr: r.stderr };
}

// pairs like 'cC': a lowercase letter is knowable only from the capital after it (see test/fill.test.ts)
const PAIRS = Array.from({ length: 900 }, seedrandom('pairs'))
  .map((u) => 'abcde'[Math.floor(u * 5)])
  .map((c, i) => `${c}${c.toUpperCase()}${i % 12 === 11 ? '\n' : ' '}`)
  .join('');

let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'charnn-fill-cli-'));
  writeFileSync(join(work, 'pairs.txt'), PAIRS);
  const [bi, ltr] = await Promise.all([
    charnn(['train', 'pairs.txt', ...TINY, '--bidirectional', '--max-iters', '300', '--checkpoint-dir', 'bi']),
    charnn(['train', 'pairs.txt', ...TINY, '--max-iters', '100', '--checkpoint-dir', 'ltr']),
  ]);
  expect(bi.stderr).toContain('bidirectional (mask fraction 0.15) gru 1×24');
  expect(bi.stderr).toMatch(/Masked characters restored on the validation text: \d+\.\d%/);
  expect(bi.code).toBe(0);
  expect(ltr.code).toBe(0);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('charnn fill', () => {
  it('fills from an argument, reading both sides; the output has the same length and no added newline', async () => {
    const r = await charnn(['fill', 'aA _C eE _D\n', '-c', 'bi']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('aA cC eE dD\n');
    expect(r.code).toBe(0);
  });

  it('fills a file, and standard input (given as - or not at all), with another mask character', async () => {
    const text = 'bB ?D aA ??\n?C eE\n';
    writeFileSync(join(work, 'gaps.txt'), text);
    const fromFile = await charnn(['fill', 'gaps.txt', '-c', 'bi', '--mask', '?']);
    const fromDash = await charnn(['fill', '-', '-c', 'bi', '--mask', '?'], text);
    const fromStdin = await charnn(['fill', '-c', 'bi', '-m', '?'], text);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout.slice(0, 9)).toBe('bB dD aA ');
    expect(fromFile.stdout.slice(11)).toBe('\ncC eE\n');
    // the run of two is filled as a pair: the first choice is re-read before the second
    expect(fromFile.stdout[10]).toBe(fromFile.stdout[9].toUpperCase());
    expect(fromDash.stdout).toBe(fromFile.stdout);
    expect(fromStdin.stdout).toBe(fromFile.stdout);
  });

  it('with a left-to-right checkpoint, fills from the left and says so on stderr', async () => {
    const r = await charnn(['fill', 'aA bB cC _', '-c', 'ltr']);
    expect(r.code).toBe(0);
    expect(r.stdout).toHaveLength('aA bB cC _'.length);
    expect(r.stdout.slice(0, 9)).toBe('aA bB cC ');
    expect(r.stderr).toMatch(/reads left to right, so each gap is filled from the text before it only/);
  });

  it('text without a mask is printed unchanged, with a note', async () => {
    const r = await charnn(['fill', 'aA bB', '-c', 'bi']);
    expect(r.stdout).toBe('aA bB');
    expect(r.stderr).toContain("the text has no '_' to fill");
  });

  it('mistakes are one sentence and a non-zero exit', async () => {
    const cases: Array<[string[], number, string]> = [
      [['fill', 'aA Z_', '-c', 'bi'], 1, "charnn: The text has a character the model never saw: 'Z'.\n"],
      [['fill', 'aA _', '-c', 'bi', '--mask', '**'], 2, "charnn: --mask must be a single character, got '**'.\n"],
      [['fill', 'bi', '-c', 'bi'], 1, 'charnn: bi is a directory; give the text, a text file, or - for standard input.\n'],
      [['fill', 'aA _', '-c', 'nowhere'], 1, ''],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await charnn(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stdout).toBe('');
      if (stderr) expect(r.stderr).toBe(stderr);
      else expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('bidirectional checkpoints in train, eval and sample', () => {
  it('eval reports masked-character loss and accuracy', async () => {
    const r = await charnn(['eval', 'pairs.txt', '-c', 'bi', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { loss: number; accuracy: number; masked: number; chars: number };
    expect(result.accuracy).toBeGreaterThan(0.8);
    expect(result.masked).toBeGreaterThan(100);
    const plain = await charnn(['eval', 'pairs.txt', '-c', 'bi', '--mask-frac', '0.3']);
    expect(plain.stdout).toMatch(/^masked loss \d+\.\d{4} nats\/char\naccuracy \d+\.\d\d% of \d+ masked characters restored\nchars \d+\n$/);
    const ltr = await charnn(['eval', 'pairs.txt', '-c', 'ltr', '--mask-frac', '0.3']);
    expect(ltr.code).toBe(2);
  });

  it('sampling is refused with the reason', async () => {
    const r = await charnn(['sample', '-c', 'bi', '-n', '10', '--prime', 'aA']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^charnn: This is a bidirectional model: .*cannot write text left to right.*\n$/);
  });

  it('train refuses --mask-frac without --bidirectional and --sample-every with it, before any checkpoint', async () => {
    const a = await charnn(['train', 'pairs.txt', ...TINY, '--mask-frac', '0.2', '--max-iters', '1', '--checkpoint-dir', 'refused']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--mask-frac applies only to a bidirectional model; add --bidirectional.');
    const b = await charnn(['train', 'pairs.txt', ...TINY, '--bidirectional', '--sample-every', '5', '--max-iters', '1', '--checkpoint-dir', 'refused']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--sample-every does not apply to a bidirectional model');
    expect(readdirSync(join(work, 'refused'))).toEqual([]);
  });

  it('a bidirectional run resumes, and keeps its settings', async () => {
    const r = await charnn(['train', 'pairs.txt', '--resume', 'bi', '--max-iters', '310']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Resuming');
    const conflict = await charnn(['train', 'pairs.txt', '--resume', 'bi', '--max-iters', '320', '--mask-frac', '0.3']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('--mask-frac 0.3 differs from the checkpoint');
  });
});
