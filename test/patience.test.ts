// Early stopping: --patience ends a run at the first validation that makes n in a row without a new best, and the
// overfitting warning comes once. The corpus makes a model overfit fast: its training part is one random string
// repeated (memorised within a few hundred steps), its validation part fresh random text of the same letters.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { corpusFromText } from '../src/core/data/corpus.js';
import { runTraining, TrainingRun } from '../src/core/train.js';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { runCharnn } from './helpers/cli.js';

function overfittingRun(): TrainingRun {
  const random = seedrandom('patience');
  const letters = (n: number) => Array.from({ length: n }, () => 'abcd'[Math.floor(random() * 4)]).join('');
  const memorise = letters(150);
  const text = memorise.repeat(6) + letters(100); // val-frac 0.1: the last 100 characters are fresh
  return TrainingRun.create({
    corpus: corpusFromText(text),
    model: { cell: 'lstm', hiddenSize: 32, layers: 1, dropout: 0 },
    training: {
      batchSize: 4, seqLength: 20, optimizer: 'adam', lr: 0.01, gradClip: 5, lrDecay: 1, lrDecayAfter: 0,
      valFrac: 0.1, evalEvery: 5, valBatches: 0, seed: 1,
    },
    runName: 'patience', corpusName: 'generated', kernels: referenceKernels('f32'), threads: 1,
  });
}

/** The validation losses a run recorded, in order. */
const validations = (run: TrainingRun) => run.history.filter((p) => p.valLoss !== undefined) as Array<{ iter: number; valLoss: number }>;

describe('early stopping', () => {
  it('--patience 3 stops at the third validation in a row without a new best', async () => {
    const run = overfittingRun();
    const summary = await runTraining(run, { budget: { maxIters: 600 }, patience: 3 });
    expect(summary.stoppedBy).toBe('patience');
    expect(summary.iterations).toBeLessThan(600);
    // replay the rule on the recorded losses: where should it have stopped?
    let best = Infinity;
    let bestIter = -1;
    let since = 0;
    let expectedStop: number | null = null;
    for (const point of validations(run)) {
      if (point.valLoss < best) [best, bestIter, since] = [point.valLoss, point.iter, 0];
      else since++;
      if (since === 3) {
        expectedStop = point.iter;
        break;
      }
    }
    expect(summary.iterations).toBe(expectedStop);
    expect(validations(run).at(-1)!.iter).toBe(expectedStop); // nothing validated after it
    expect(summary.bestIteration).toBe(bestIter);
    expect(summary.bestValLoss).toBe(best);
  });

  it('warns once about overfitting, at the second rising validation, naming the best iteration', async () => {
    const run = overfittingRun();
    const warnings: Array<{ iteration: number; bestIteration: number; valLoss: number }> = [];
    await runTraining(run, { budget: { maxIters: 300 }, hooks: { onOverfitting: (e) => warnings.push(e) } });
    expect(warnings).toHaveLength(1);
    const points = validations(run);
    const at = points.findIndex((p) => p.iter === warnings[0].iteration);
    expect(points[at].valLoss).toBeGreaterThan(points[at - 1].valLoss);
    expect(points[at - 1].valLoss).toBeGreaterThan(points[at - 2].valLoss);
    const upTo = points.slice(0, at + 1);
    const best = upTo.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    expect(warnings[0].bestIteration).toBe(best.iter);
  });

  it('refuses a patience below 1', async () => {
    await expect(runTraining(overfittingRun(), { budget: { maxIters: 5 }, patience: 0 })).rejects.toThrow(/--patience must be a whole number/);
  });
});

describe('charnn train --patience', () => {
  it('stops early, says since which iteration nothing improved, and warns about overfitting once', async () => {
    const work = mkdtempSync(join(tmpdir(), 'charnn-patience-'));
    try {
      const random = seedrandom('patience-cli');
      const letters = (n: number) => Array.from({ length: n }, () => 'abcd'[Math.floor(random() * 4)]).join('');
      writeFileSync(join(work, 'overfit.txt'), letters(150).repeat(6) + letters(100));
      const r = await runCharnn(['train', 'overfit.txt', '--hidden', '32', '--layers', '1', '--batch-size', '4', '--seq-length', '20', '--optimizer', 'adam',
        '--lr', '0.01', '--eval-every', '5', '--max-iters', '600', '--patience', '4', '--threads', '1'], { cwd: work });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/Stopped early: the validation loss has not improved since iteration \d+ \(\d+\.\d{3}\)\./);
      expect(r.stderr.match(/overfitting/g)).toHaveLength(1);
      expect((await runCharnn(['train', 'overfit.txt', '--patience', '0'], { cwd: work })).code).toBe(2);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
