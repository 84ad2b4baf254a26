// `charnn inspect` end to end: the real bin/charnn.js on a tiny checkpoint. Where output goes (data on stdout,
// legend and notes on stderr), the color rules (not a terminal, NO_COLOR, FORCE_COLOR), every view, and the
// user's mistakes as one sentence. Needs a build (npm test builds first).

import '../src/node/platform.js'; // files and worker threads under the core
import { runCharnn } from './helpers/cli.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFromText } from '../src/core/data/corpus.js';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { TrainingRun, runTraining } from '../src/core/train.js';

const ESC = '\u001b[';
const TEXT = Array.from({ length: 40 }, (_, i) => `${i % 2 ? 'ROMEO' : 'JULIET'}:\nSay "what ${i}" (and more) to me.\n\n`).join('');

interface Result { code: number | null; stdout: string; stderr: string }

async function charnn(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const r = await runCharnn(args, { ...options, cwd: dir });
  return { code: r.code, stdout: r.text, stderr: r.stderr };
}

let dir: string;
let checkpoint: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'charnn-inspect-cli-'));
  writeFileSync(join(dir, 'play.txt'), TEXT);
  const run = TrainingRun.create({
    corpus: corpusFromText(TEXT),
    model: { cell: 'lstm', hiddenSize: 12, layers: 2, dropout: 0 },
    training: {
      batchSize: 4, seqLength: 16, optimizer: 'adam', lr: 0.02, gradClip: 5, lrDecay: 1, lrDecayAfter: 0,
      valFrac: 0.1, evalEvery: 1000, valBatches: 0, seed: 3,
    },
    runName: 'play', corpusName: 'play.txt', kernels: referenceKernels('f32'),
  });
  const summary = await runTraining(run, { budget: { maxIters: 40 }, checkpointDir: dir });
  checkpoint = summary.lastCheckpoint!;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('charnn inspect', () => {
  it('not a terminal: the text with a digit line under each line on stdout, the legend on stderr, no escape codes', async () => {
    const r = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--max-chars', '60']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(ESC);
    expect(r.stderr).not.toContain(ESC);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('JULIET:↵');
    expect(lines[1]).toMatch(/^ \d{7}$/); // nothing predicts the first character
    expect(lines[3]).toBe('Say "what 0" (and more) to me.↵');
    expect(lines[4]).toMatch(/^\d{31}$/);
    expect(r.stderr).toContain('Digits under each character: the probability the model gave it');
    expect(r.stderr).toMatch(/59 characters predicted, \d+\.\d{3} bits per character\./);
    expect(r.stderr).toContain('Showing characters 0–59 of');
  });

  it('FORCE_COLOR colors the heat map; NO_COLOR wins over it', async () => {
    const colored = await charnn(['inspect', '-', '-c', checkpoint, '--neuron', '1:3'], { input: 'JULIET:\nSay', env: { FORCE_COLOR: '3' } });
    expect(colored.code).toBe(0);
    expect(colored.stdout).toContain(`${ESC}48;2;`);
    expect(colored.stderr).toContain('Activation of unit 1:3 after reading each character');
    const plain = await charnn(['inspect', '-', '-c', checkpoint], { input: 'JULIET:\nSay', env: { FORCE_COLOR: '3', NO_COLOR: '1' } });
    expect(plain.stdout).not.toContain(ESC);
    expect(plain.stdout.split('\n')[0]).toBe('JULIET:↵');
  });

  it('--state c: units are tanh of the LSTM cell state, in the legend and the --correlate note', async () => {
    const shown = await charnn(['inspect', '-', '-c', checkpoint, '--state', 'c', '--neuron', '0:1'], { input: 'ROMEO:\n' });
    expect(shown.code).toBe(0);
    expect(shown.stderr).toContain('Digits under each character: tanh(cell state) of unit 0:1 after reading it');
    const ranked = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--state', 'c', '--correlate', '^[A-Z]+:']);
    expect(ranked.code).toBe(0);
    expect(ranked.stderr).toMatch(/Pearson correlation of the unit's tanh\(c\) .* --neuron \d:\d+ --state c/);
  });

  it('--top: one row per character with the model\'s top-k', async () => {
    const r = await charnn(['inspect', '-', '-c', checkpoint, '--top', '3'], { input: 'ROMEO:\n' });
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(8);
    expect(rows[0]).toMatch(/top 3 predicted here$/);
    expect(rows[2]).toMatch(/^ {2}1 {2}'O' /);
    expect(rows[2].match(/'.' \S+%/g)).toHaveLength(3);
  });

  it('--correlate: units ranked by |r| on stdout, and how to view the best one on stderr', async () => {
    const r = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--correlate', '"[^"]*"', '--units', '4']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('rank  unit        r');
    expect(rows).toHaveLength(5);
    const values = rows.slice(1).map((row) => {
      const m = /^ {3}\d {2}([01]):(\d+) +([+-]\d\.\d{3})$/.exec(row);
      expect(m, row).not.toBeNull();
      return Math.abs(Number(m![3]));
    });
    expect([...values].sort((a, b) => b - a)).toEqual(values);
    expect(r.stderr).toMatch(/View one with: --neuron [01]:\d+/);
  });

  it('--html writes one page and says where', async () => {
    const r = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--html', 'page.html', '--max-chars', '300']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Wrote page\.html \(300 characters, [\d.]+ MB\)/);
    const html = readFileSync(join(dir, 'page.html'), 'utf8');
    expect(html).toContain('<title>charnn inspect — play</title>');
    expect(html).toContain('lstm 2×12');
  });

  it('user mistakes: one sentence and a non-zero exit', async () => {
    const outside = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--neuron', '2:0']);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toBe('charnn: --neuron 2:0 is outside this model: it has 2 layers (0–1) of 12 units (0–11).\n');
    const state = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--state', 'x']);
    expect(state.code).toBe(2);
    expect(state.stderr).toBe("charnn: --state must be one of h, c, got 'x'.\n");
    const malformed = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--neuron', 'x']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^charnn: .*--neuron takes <layer>:<index>, such as 0:42/);
    const regex = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--correlate', '(']);
    expect(regex.code).toBe(1);
    expect(regex.stderr).toMatch(/^charnn: The regular expression "\(" is invalid: .*\.\n$/);
    const unknown = await charnn(['inspect', '-', '-c', checkpoint], { input: 'JULIET: ¿Qué?' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^charnn: Standard input has \d+ characters that are not in the model's vocabulary: .*'¿'.*\.\n$/);
    const nothing = await charnn(['inspect', 'play.txt', '-c', checkpoint, '--correlate', 'QQQ']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe('charnn: The regular expression matches nothing in the text, so there is nothing to correlate with.\n');
    expect(existsSync(join(dir, 'nothing.html'))).toBe(false);
  });
});
