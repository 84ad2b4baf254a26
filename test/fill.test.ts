// Training a bidirectional model through the library and filling gaps with it: it learns to restore characters
// from both sides, checkpoints round-trip without carried state, resume is exact, and fill keeps everything
// that is not a mask. Tiny models (hidden ≤ 32), short budgets.

import '../src/node/platform.js'; // files and worker threads under the core
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { corpusFromText } from '../src/core/data/corpus.js';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { loadModel } from '../src/core/lm.js';
import { TrainingRun, runTraining, type NewRunOptions } from '../src/core/train.js';
import { readCheckpoint } from '../src/node/checkpoint-files.js';

// pairs like 'cC': a lowercase letter is knowable only from its right (the capital after it), a capital only from
// its left; the letters themselves are random, so nothing else predicts them
const LETTERS = 'abcde';
const TEXT = Array.from({ length: 900 }, seedrandom('pairs'))
  .map((u) => LETTERS[Math.floor(u * LETTERS.length)])
  .map((c, i) => `${c}${c.toUpperCase()}${i % 12 === 11 ? '\n' : ' '}`)
  .join('');

function options(bidirectional: boolean, seed = 5): NewRunOptions {
  return {
    corpus: corpusFromText(TEXT),
    model: { cell: 'gru', hiddenSize: 24, layers: 1, dropout: 0, ...(bidirectional && { bidirectional: true, maskFrac: 0.15 }) },
    training: {
      batchSize: 8, seqLength: 32, optimizer: 'adam', lr: 0.02, gradClip: 5, lrDecay: 1, lrDecayAfter: 0,
      valFrac: 0.1, evalEvery: 1000, valBatches: 0, seed,
    },
    runName: bidirectional ? 'bi' : 'ltr', corpusName: 'lines',
    kernels: referenceKernels('f32'),
  };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'charnn-fill-'));

describe('bidirectional training and fill (library)', () => {
  it('learns to restore masked characters from both sides, where left context alone cannot', async () => {
    const dir = tmp();
    try {
      const bi = TrainingRun.create(options(true));
      const biSummary = await runTraining(bi, { budget: { maxIters: 300 }, checkpointDir: dir });
      expect(bi.valAccuracy!).toBeGreaterThan(0.85); // a line break (every 12th separator) is hard to place
      const model = await loadModel(biSummary.lastCheckpoint!, { kernels: referenceKernels('f32') });
      expect(model.bidirectional).toBe(true);
      expect(model.config.maskFrac).toBe(0.15);

      const result = model.fill('aA _C eE\nbB _D dD _\n');
      expect(result.text).toBe('aA cC eE\nbB dD dD _'.replace('_', result.text[18]) + '\n');
      expect(result.filled).toBe(3);
      expect(result.leftContextOnly).toBe(false);
      // a run of masks is filled most confident first, re-reading after each, so the pair stays a pair
      for (const out of ['aA __ bB', 'eE __ __ cC'].map((t) => model.fill(t).text)) {
        for (const pair of out.split(' ')) expect(pair[1], out).toBe(pair[0].toUpperCase());
      }

      const masked = model.evaluateMasked(TEXT.slice(0, 1500), { maskFrac: 0.1, seed: 1 });
      expect(masked.accuracy).toBeGreaterThan(0.85);
      expect(masked.masked).toBeGreaterThan(50);
      expect(() => model.evaluate('aA')).toThrow(/bidirectional/);
      expect(() => [...model.sample({ length: 3 })]).toThrow(/cannot write text left to right/);
      expect(() => model.step('a')).toThrow(/bidirectional/);

      // a left-to-right model of the same size fills from the left only: capitals yes, lowercase letters no
      const ltr = TrainingRun.create(options(false));
      const ltrSummary = await runTraining(ltr, { budget: { maxIters: 300 }, checkpointDir: dir });
      const ltrModel = await loadModel(ltrSummary.lastCheckpoint!, { kernels: referenceKernels('f32') });
      const lower = (m: typeof model) => [...LETTERS].filter((c) => m.fill(`aA _${c.toUpperCase()} bB`).text === `aA ${c}${c.toUpperCase()} bB`).length;
      const upper = (m: typeof model) => [...LETTERS].filter((c) => m.fill(`aA ${c}_ bB`).text === `aA ${c}${c.toUpperCase()} bB`).length;
      expect(ltrModel.fill('aA _').leftContextOnly).toBe(true);
      expect(lower(model)).toBe(5);
      expect(upper(model)).toBe(5);
      expect(upper(ltrModel)).toBe(5);
      expect(lower(ltrModel)).toBeLessThanOrEqual(1);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('fill passes every non-mask character through, keeps the length, and checks its input', async () => {
    const dir = tmp();
    try {
      const run = TrainingRun.create(options(true));
      const { lastCheckpoint } = await runTraining(run, { budget: { maxIters: 2 }, checkpointDir: dir });
      const model = await loadModel(lastCheckpoint!, { kernels: referenceKernels('f32') });
      const text = 'aA b_ #C dD\n'.repeat(40).replace(/#/g, '_');
      // small chunks and context: many windows in several groups
      const { text: out } = model.fill(text, { chunk: 5, context: 3, batch: 4 });
      expect(out.length).toBe(text.length);
      for (let i = 0; i < text.length; i++) if (text[i] !== '_') expect(out[i]).toBe(text[i]);
      expect(out).not.toContain('_');
      expect(model.fill('aA').text).toBe('aA');
      expect(model.fill('').text).toBe('');
      expect(model.fill('___').text).toHaveLength(3);
      expect(model.fill('aA *B', { mask: '*' }).text).toMatch(/^aA [a-eA-E \n]B$/);
      // passes are kept and reused (seen smaller) across calls: a short text after a long one fills as on a fresh model
      const fresh = await loadModel(lastCheckpoint!, { kernels: referenceKernels('f32') });
      expect(model.fill('aA _B c_ ').text).toBe(fresh.fill('aA _B c_ ').text);
      expect(model.fill(text, { chunk: 7, context: 2, batch: 3 }).text).toBe(fresh.fill(text, { chunk: 7, context: 2, batch: 3 }).text);
      expect(() => model.fill('aA_Z')).toThrow("The text has a character the model never saw: 'Z'.");
      expect(() => model.fill('aA', { mask: '**' })).toThrow('The mask must be a single character, got "**".');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('checkpoints hold no carried state, and a resumed run continues bit for bit (masking and dropout)', async () => {
    const dir = tmp();
    try {
      const o = options(true, 9);
      o.model = { ...o.model, layers: 2, hiddenSize: 8, dropout: 0.2 };
      o.training = { ...o.training, evalEvery: 3 };
      const straight = TrainingRun.create(o);
      await runTraining(straight, { budget: { maxIters: 8 } });
      const first = TrainingRun.create(o);
      const { lastCheckpoint } = await runTraining(first, { budget: { maxIters: 4 }, checkpointDir: dir });
      const { tensors } = await readCheckpoint(lastCheckpoint!);
      expect([...tensors.keys()].sort()).toEqual(['adam.m', 'adam.v', 'params']);
      const resumed = await TrainingRun.resume(lastCheckpoint!, o.corpus, { kernels: referenceKernels('f32') });
      await runTraining(resumed, { budget: { maxIters: 8 } });
      expect(Buffer.from(Float32Array.from(resumed.net.params).buffer).equals(Buffer.from(Float32Array.from(straight.net.params).buffer))).toBe(true);
      expect(resumed.valLoss).toBe(straight.valLoss);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
