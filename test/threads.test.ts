// Data-parallel training steps (src/parallel): the step split across worker threads computes the same loss and
// gradients as one thread within float32 rounding, is deterministic for a given thread count, and resumes from a
// checkpoint bit for bit (dropout on, so the masks the main thread draws for every slice are covered).
// The workers run the compiled dist/node/parallel/worker.js: `npm test` builds first.

import '../src/node/platform.js'; // files and worker threads under the core
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corpusFromText } from '../src/core/data/corpus.js';
import { createWasmKernels, wasmSimdAvailable } from '../src/core/kernels/wasm.js';
import { withFusedKernels } from '../src/core/kernels/wasm-fused.js';
import { sliceStarts } from '../src/node/parallel/worker-pool.js';
import { TrainingRun, runTraining, type NewRunOptions } from '../src/core/train.js';
import type { CellType } from '../src/core/model.js';

const TEXT = Array.from({ length: 90 }, (_, i) => `${i}: a quick brown fox ${i % 4 ? 'jumps' : 'naps'} over ${i % 6} lazy dogs\n`).join('');

function options(cell: CellType, threads: number, dropout = 0.25, bidirectional = false): NewRunOptions {
  return {
    corpus: corpusFromText(TEXT),
    model: { cell, hiddenSize: 16, layers: 2, dropout, ...(bidirectional && { bidirectional, maskFrac: 0.15 }) },
    training: {
      batchSize: 7, seqLength: 9, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 0.95, lrDecayAfter: 1,
      valFrac: 0.1, evalEvery: 4, valBatches: 0, seed: 5,
    },
    runName: 'threads', corpusName: 'foxes',
    kernels: withFusedKernels(createWasmKernels({ fma: 'off' })),
    threads,
  };
}

const bytes = (a: ArrayLike<number>) => Buffer.from(Float32Array.from(a).buffer);

describe('slices of the batch', () => {
  it('cover the streams contiguously and evenly', () => {
    expect(sliceStarts(50, 2)).toEqual([0, 25, 50]);
    expect(sliceStarts(7, 3)).toEqual([0, 2, 5, 7]);
    expect(sliceStarts(3, 3)).toEqual([0, 1, 2, 3]);
  });
});

/** Steps every run `iterations` times: loss and gradient norm of each within float32 rounding of the first run's. */
function expectStepsAgree(runs: TrainingRun[], iterations: number): void {
  for (let i = 0; i < iterations; i++) {
    const [one, ...more] = runs.map((r) => r.step());
    for (const r of more) {
      expect(Math.abs(r.loss - one.loss), `loss, iteration ${i + 1}`).toBeLessThan(1e-5 * one.loss);
      expect(Math.abs(r.gradNorm - one.gradNorm), `gradient norm, iteration ${i + 1}`).toBeLessThan(1e-4 * one.gradNorm);
    }
  }
}

describe.skipIf(!wasmSimdAvailable())('data-parallel training steps', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: 2 and 3 threads agree with 1 thread within float32 rounding`, () => {
      const runs = [1, 2, 3].map((threads) => TrainingRun.create(options(cell, threads)));
      try {
        expect(runs.map((r) => r.threads)).toEqual([1, 2, 3]);
        expectStepsAgree(runs, 6);
        // the carried state of every slice went back into the run's state
        for (const r of runs.slice(1)) {
          const a = runs[0].state.h[1], b = r.state.h[1];
          for (let e = 0; e < a.length; e++) expect(Math.abs(a[e] - b[e])).toBeLessThan(1e-4);
        }
      } finally {
        for (const r of runs) r.close();
      }
    });
  }

  it('is deterministic for a given thread count', () => {
    const a = TrainingRun.create(options('lstm', 2));
    const b = TrainingRun.create(options('lstm', 2));
    try {
      for (let i = 0; i < 5; i++) expect(a.step().loss).toBe(b.step().loss);
      expect(bytes(a.net.params).equals(bytes(b.net.params))).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it('N iterations straight on 2 threads = N/2, save, resume on 2 threads to N, bit for bit (dropout on)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'charnn-threads-'));
    const straight = TrainingRun.create(options('lstm', 2));
    const N = 2 * straight.batchesPerEpoch + 3; // crosses epoch boundaries (state reset, lr decay)
    await runTraining(straight, { budget: { maxIters: N } });

    const first = TrainingRun.create(options('lstm', 2));
    const half = await runTraining(first, { budget: { maxIters: Math.floor(N / 2) }, checkpointDir: dir });
    const resumed = await TrainingRun.resume(half.lastCheckpoint!, corpusFromText(TEXT), {
      kernels: withFusedKernels(createWasmKernels({ fma: 'off' })), threads: 2,
    });
    try {
      expect(resumed.threads).toBe(2);
      await runTraining(resumed, { budget: { maxIters: N } });
      expect(bytes(resumed.net.params).equals(bytes(straight.net.params))).toBe(true);
      for (let l = 0; l < 2; l++) expect(bytes(resumed.state.c[l]).equals(bytes(straight.state.c[l]))).toBe(true);
      expect(resumed.random.state()).toEqual(straight.random.state());
      expect(resumed.valLoss).toBe(straight.valLoss);
    } finally {
      for (const r of [straight, first, resumed]) r.close();
      rmSync(dir, { recursive: true });
    }
  });

  for (const cell of ['lstm', 'gru'] as const) {
    it(`bidirectional ${cell}: windows split over 2 and 3 threads agree with 1 thread within float32 rounding`, () => {
      const runs = [1, 2, 3].map((threads) => TrainingRun.create(options(cell, threads, 0.25, true)));
      try {
        expect(runs.map((r) => r.threads)).toEqual([1, 2, 3]);
        expectStepsAgree(runs, 6);
        for (const r of runs.slice(1)) {
          for (let e = 0; e < r.net.params.length; e++) expect(Math.abs(r.net.params[e] - runs[0].net.params[e])).toBeLessThan(1e-4);
        }
      } finally {
        for (const r of runs) r.close();
      }
    });
  }

  it('bidirectional: N iterations straight on 2 threads = N/2, save, resume on 2 threads to N, bit for bit (dropout on)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'charnn-bithreads-'));
    const straight = TrainingRun.create(options('lstm', 2, 0.25, true));
    const N = straight.batchesPerEpoch + 3;
    await runTraining(straight, { budget: { maxIters: N } });
    const again = TrainingRun.create(options('lstm', 2, 0.25, true));
    const first = TrainingRun.create(options('lstm', 2, 0.25, true));
    const half = await runTraining(first, { budget: { maxIters: Math.floor(N / 2) }, checkpointDir: dir });
    const resumed = await TrainingRun.resume(half.lastCheckpoint!, corpusFromText(TEXT), {
      kernels: withFusedKernels(createWasmKernels({ fma: 'off' })), threads: 2,
    });
    try {
      expect([straight.threads, resumed.threads]).toEqual([2, 2]);
      // deterministic for a given thread count
      await runTraining(again, { budget: { maxIters: N } });
      expect(bytes(again.net.params).equals(bytes(straight.net.params))).toBe(true);
      await runTraining(resumed, { budget: { maxIters: N } });
      expect(bytes(resumed.net.params).equals(bytes(straight.net.params))).toBe(true);
      expect(resumed.random.state()).toEqual(straight.random.state());
      expect(resumed.valLoss).toBe(straight.valLoss);
    } finally {
      for (const r of [straight, again, first, resumed]) r.close();
      rmSync(dir, { recursive: true });
    }
  });

  it('rejects a thread count that is not a positive integer', () => {
    expect(() => TrainingRun.create(options('rnn', 0))).toThrow(/threads/);
    expect(() => TrainingRun.create(options('rnn', 1.5))).toThrow(/threads/);
  });
});
