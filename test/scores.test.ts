// Per-character scores add up to the evaluation loss; eval --per-char and inspect --json print them.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createNetwork, initParams } from '../src/core/model.js';
import { encodeText, makeVocab } from '../src/core/data/corpus.js';
import { evaluateIds } from '../src/core/evaluate.js';
import { scoreChars, type CharScore } from '../src/core/scores.js';
import { ROOT, runCharnn } from './helpers/cli.js';

describe('scoreChars', () => {
  const vocab = makeVocab(['\n', 'a', 'b', 'c', 'd']);
  const net = createNetwork(referenceKernels('f32'), { cell: 'lstm', vocabSize: 5, hiddenSize: 8, layers: 2, dropout: 0 });
  const random = seedrandom('scores');
  initParams(net, random);
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5);
  const text = Array.from({ length: 513 }, () => vocab.symbols[Math.floor(random() * 5)]).join('');
  const ids = encodeText(text, vocab);

  it('log-probabilities add up to the loss of the same text (one stream, across chunk boundaries)', () => {
    const scores: CharScore[] = [];
    const summary = scoreChars(net, ids, 3, (s) => scores.push(s));
    expect(scores.map((s) => s.position)).toEqual(Array.from({ length: 512 }, (_, i) => i + 1));
    const sum = scores.reduce((total, s) => total + s.logprob, 0);
    expect(summary.loss).toBeCloseTo(-sum / 512, 12);
    // the evaluator reading the text as one stream of 4 batches of 128 predicts the same 512 characters
    const evaluation = evaluateIds(net, ids, 1, 128);
    expect(evaluation.chars).toBe(512);
    expect(summary.loss).toBeCloseTo(evaluation.loss, 5);
    // and a short text, which the evaluator reads as one stream anyway
    const short = ids.subarray(0, 60);
    expect(scoreChars(net, short, 0, () => {}).loss).toBeCloseTo(evaluateIds(net, short).loss, 5);
  });

  it('rank and top guesses agree with the log-probabilities', () => {
    scoreChars(net, ids.subarray(0, 100), 5, (s) => {
      expect(s.top).toHaveLength(5);
      for (let k = 1; k < 5; k++) expect(s.top[k - 1].logprob).toBeGreaterThanOrEqual(s.top[k].logprob);
      expect(s.top[s.rank - 1].logprob).toBeCloseTo(s.logprob, 12);
      expect(s.top.reduce((p, t) => p + Math.exp(t.logprob), 0)).toBeCloseTo(1, 5); // all five characters
    });
  });
});

describe('charnn eval --per-char and inspect --json', () => {
  let work: string;
  let ck: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'charnn-scores-'));
    ck = join(work, 'ck');
    const r = await runCharnn(['train', join(ROOT, 'data', 'names.txt'), '--hidden', '16', '--layers', '1', '--batch-size', '4', '--seq-length', '16', '--threads', '1', '--max-iters', '20', '--checkpoint-dir', ck], { cwd: work });
    expect(r.code).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('one JSON line per character after the first, then the summary, whose loss is the eval loss', async () => {
    const text = 'Anna\nBob\nMary\n';
    const perChar = await runCharnn(['eval', '-', '-c', ck, '--per-char', '--json', '--top', '3'], { cwd: work, input: text });
    expect(perChar.code).toBe(0);
    const lines = perChar.text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.pop() as { loss: number; chars: number };
    expect(lines.map((l) => l.char).join('')).toBe(text.slice(1));
    for (const l of lines) expect((l.top as unknown[]).length).toBe(3);
    const sum = lines.reduce((total, l) => total + (l.logprob as number), 0);
    expect(summary.chars).toBe(text.length - 1);
    expect(summary.loss).toBeCloseTo(-sum / summary.chars, 10);
    const plain = JSON.parse((await runCharnn(['eval', '-', '-c', ck, '--json'], { cwd: work, input: text })).text) as { loss: number };
    expect(summary.loss).toBeCloseTo(plain.loss, 5);
  });

  it('inspect --json: one object per character with probability, rank, top-k and the --neuron value', async () => {
    const r = await runCharnn(['inspect', '-', '-c', ck, '--json', '--neuron', '0:3', '--top', '2'], { cwd: work, input: 'Anna\n' });
    expect(r.code).toBe(0);
    const rows = r.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { position: number; char: string; prob: number | null; rank: number | null; top: Array<{ prob: number }>; value: number });
    expect(rows.map((row) => row.char).join('')).toBe('Anna\n');
    expect(rows[0].prob).toBeNull();
    for (const row of rows.slice(1)) {
      expect(row.top).toHaveLength(2);
      expect(row.prob! <= row.top[0].prob).toBe(true);
      expect(Math.abs(row.value)).toBeLessThanOrEqual(1);
    }
    const refused = await runCharnn(['eval', '-', '-c', ck, '--top', '3'], { cwd: work, input: 'Anna\n' });
    expect(refused.code).toBe(2);
  });
});
