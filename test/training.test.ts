// The training loop end to end through the library: same seed → same bytes; checkpoint round trip gives the
// same predictions; a resumed run continues bit for bit like an uninterrupted one (dropout on).

import '../src/node/platform.js'; // files and worker threads under the core
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corpusFromText } from '../src/core/data/corpus.js';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { loadModel } from '../src/core/lm.js';
import { TrainingRun, runTraining, type NewRunOptions } from '../src/core/train.js';
import type { CellType } from '../src/core/model.js';

const TEXT = Array.from({ length: 60 }, (_, i) => `line ${i}: the quick brown fox ${i % 7 ? 'jumps' : 'naps'} 🦊 over the lazy dog\n`).join('');

function options(cell: CellType, dropout: number, seed = 7): NewRunOptions {
  return {
    corpus: corpusFromText(TEXT),
    model: { cell, hiddenSize: 12, layers: 2, dropout },
    training: {
      batchSize: 4, seqLength: 10, optimizer: 'adam', lr: 0.01, gradClip: 5, lrDecay: 0.9, lrDecayAfter: 1,
      valFrac: 0.1, evalEvery: 5, valBatches: 0, seed,
    },
    runName: 'test', corpusName: 'fox',
    kernels: referenceKernels('f32'),
  };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'charnn-train-'));

describe('training', () => {
  it('learns: the loss falls well below the uniform baseline', async () => {
    const o = options('lstm', 0);
    o.training = { ...o.training, lr: 0.03, lrDecay: 1 };
    const run = TrainingRun.create(o);
    const uniform = Math.log(run.net.config.vocabSize);
    const losses: number[] = [];
    await runTraining(run, { budget: { maxIters: 120 }, hooks: { onIteration: (e) => losses.push(e.loss) } });
    expect(losses[0]).toBeGreaterThan(uniform - 0.3);
    expect(run.valLoss!).toBeLessThan(uniform * 0.4);
  });

  it('same seed → identical weights, losses and samples; another seed differs', async () => {
    const train = async (seed: number) => {
      const dir = tmp();
      const run = TrainingRun.create(options('gru', 0.2, seed));
      const losses: number[] = [];
      const summary = await runTraining(run, { budget: { maxIters: 12 }, checkpointDir: dir, hooks: { onIteration: (e) => losses.push(e.loss) } });
      const model = await loadModel(summary.lastCheckpoint!, { kernels: referenceKernels('f32') });
      const sample = [...model.sample({ length: 80, seed: 3, temperature: 0.9 })].join('');
      rmSync(dir, { recursive: true });
      return { params: Buffer.from(Float32Array.from(run.net.params).buffer), losses, sample };
    };
    const a = await train(1);
    const b = await train(1);
    const c = await train(2);
    expect(a.params.equals(b.params)).toBe(true);
    expect(a.losses).toEqual(b.losses);
    expect(a.sample).toBe(b.sample);
    expect(a.sample.length).toBeGreaterThan(0);
    expect(a.params.equals(c.params)).toBe(false);
  });

  it('checkpoint round trip: the loaded model predicts exactly what the trained network does', async () => {
    const dir = tmp();
    const run = TrainingRun.create(options('lstm', 0));
    const summary = await runTraining(run, { budget: { maxIters: 8 }, checkpointDir: dir });
    const model = await loadModel(dir, { kernels: referenceKernels('f32') });
    expect(model.path).toBe(summary.lastCheckpoint);
    expect(Buffer.from(Float32Array.from(model.net.params).buffer).equals(Buffer.from(Float32Array.from(run.net.params).buffer))).toBe(true);
    const evaluation = model.evaluate(TEXT.slice(-500));
    expect(evaluation.loss).toBeGreaterThan(0);
    expect(evaluation.bpc).toBeCloseTo(evaluation.loss / Math.LN2, 12);
    // step API: probabilities over the vocabulary
    model.reset();
    const probs = model.step('t');
    expect(probs.length).toBe(model.chars.length);
    expect(probs.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
    rmSync(dir, { recursive: true });
  });

  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: N iterations straight = N/2, save, resume to N (dropout on, across epochs and lr decay)`, async () => {
      const straight = TrainingRun.create(options(cell, 0.3));
      const N = 3 * straight.batchesPerEpoch + 2; // crosses epoch boundaries (state reset, lr decay)
      await runTraining(straight, { budget: { maxIters: N } });

      const dir = tmp();
      const first = TrainingRun.create(options(cell, 0.3));
      const half = await runTraining(first, { budget: { maxIters: Math.floor(N / 2) }, checkpointDir: dir });
      const resumed = await TrainingRun.resume(half.lastCheckpoint!, corpusFromText(TEXT), { kernels: referenceKernels('f32') });
      expect(resumed.iteration).toBe(Math.floor(N / 2));
      const end = await runTraining(resumed, { budget: { maxIters: N }, checkpointDir: dir });

      expect(Buffer.from(Float32Array.from(resumed.net.params).buffer).equals(Buffer.from(Float32Array.from(straight.net.params).buffer))).toBe(true);
      for (let i = 0; i < straight.optimizer.buffers.length; i++) {
        expect(Array.from(resumed.optimizer.buffers[i].data)).toEqual(Array.from(straight.optimizer.buffers[i].data));
      }
      expect(resumed.random.state()).toEqual(straight.random.state());
      expect(resumed.valLoss).toBe(straight.valLoss);
      // the checkpoint written at the end is itself loadable and complete
      expect(readFileSync(end.lastCheckpoint!).length).toBeGreaterThan(0);
      rmSync(dir, { recursive: true });
    });
  }

  it('a stop request during a long validation is seen within a batch (signal handlers get a turn)', async () => {
    const o = options('lstm', 0);
    o.corpus = corpusFromText(TEXT.repeat(40)); // half of it held out: hundreds of validation batches
    o.training = { ...o.training, valFrac: 0.5, evalEvery: 1 };
    const run = TrainingRun.create(o);
    let stop = false;
    let evals = 0;
    const summary = await runTraining(run, {
      budget: { maxIters: 5 },
      hooks: {
        // like a SIGINT handler: runs only when the event loop gets a turn
        onIteration: () => setTimeout(() => { stop = true; }, 0),
        onEval: () => { evals++; },
        shouldStop: () => stop,
      },
    });
    expect(run.valLoader!.batchesPerEpoch).toBeGreaterThan(200);
    expect(summary.stoppedBy).toBe('signal');
    expect(summary.iterations).toBe(1);
    expect(evals).toBe(0); // the first validation was interrupted, not finished
    expect(run.valLoss).toBeNull();
  });

  it('refuses to resume on a corpus with another vocabulary', async () => {
    const dir = tmp();
    const run = TrainingRun.create(options('rnn', 0));
    const summary = await runTraining(run, { budget: { maxIters: 2 }, checkpointDir: dir });
    await expect(TrainingRun.resume(summary.lastCheckpoint!, corpusFromText(TEXT + 'XYZ'))).rejects.toThrow(/different vocabulary/);
    rmSync(dir, { recursive: true });
  });

  it('stops with a clear error when the loss diverges', () => {
    const o = options('rnn', 0);
    o.training = { ...o.training, optimizer: 'adagrad', lr: 1e30, gradClip: 0 };
    const run = TrainingRun.create(o);
    expect(() => { for (let i = 0; i < 30; i++) run.step(); }).toThrow(/lower the learning rate/);
  });

  it('setDropout changes the rate from the next step: as if the run had been created with it (2 threads too)', async () => {
    const paramsAfter = async (created: number, set: number | undefined, threads: number) => {
      const o = options('lstm', created);
      const run = TrainingRun.create({ ...o, threads, kernels: undefined });
      if (set !== undefined) run.setDropout(set);
      for (let i = 0; i < 6; i++) run.step();
      const params = Float32Array.from(run.net.params);
      run.close();
      return params;
    };
    for (const threads of [1, 2]) {
      expect(await paramsAfter(0.5, 0.2, threads)).toEqual(await paramsAfter(0.2, undefined, threads));
      expect(await paramsAfter(0.5, 0, threads)).toEqual(await paramsAfter(0, undefined, threads));
      expect(await paramsAfter(0.5, 0.2, threads)).not.toEqual(await paramsAfter(0.5, undefined, threads));
    }
    const off = TrainingRun.create(options('lstm', 0));
    expect(() => off.setDropout(0.1)).toThrow('created without dropout');
    expect(() => off.setDropout(1)).toThrow('below 1');
  });
});
