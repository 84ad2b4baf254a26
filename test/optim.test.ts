// One optimizer step against values computed by hand from the update formulas; clipping against its definition.

import { describe, expect, it } from 'vitest';
import { referenceKernels } from '../src/core/kernels/reference.js';
import {
  ADAGRAD_EPS, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, RMSPROP_DECAY, RMSPROP_EPS,
  clipGradNorm, createOptimizer, learningRateAt, optimizerStep, scheduledLearningRate,
} from '../src/core/optim.js';

const k = referenceKernels('f64');

describe('optimizer steps', () => {
  it('adagrad: two steps', () => {
    const opt = createOptimizer('adagrad', k, 2);
    const p = Float64Array.of(1, -2);
    optimizerStep(opt, p, Float64Array.of(0.5, -3), 0.1);
    // cache = g²; p -= 0.1·g/(|g| + ε)
    expect(p[0]).toBeCloseTo(1 - 0.1 * 0.5 / (0.5 + ADAGRAD_EPS), 14);
    expect(p[1]).toBeCloseTo(-2 + 0.1 * 3 / (3 + ADAGRAD_EPS), 14);
    optimizerStep(opt, p, Float64Array.of(1, 0), 0.1);
    // cache = 0.25 + 1 = 1.25
    const afterFirst = 1 - (0.1 * 0.5) / (0.5 + ADAGRAD_EPS);
    expect(p[0]).toBeCloseTo(afterFirst - 0.1 / (Math.sqrt(1.25) + ADAGRAD_EPS), 14);
    expect(p[1]).toBeCloseTo(-2 + (0.1 * 3) / (3 + ADAGRAD_EPS), 14);
  });

  it('rmsprop: one step', () => {
    const opt = createOptimizer('rmsprop', k, 1);
    const p = Float64Array.of(0.3);
    optimizerStep(opt, p, Float64Array.of(2), 0.01);
    const ms = (1 - RMSPROP_DECAY) * 4;
    expect(p[0]).toBeCloseTo(0.3 - (0.01 * 2) / (Math.sqrt(ms) + RMSPROP_EPS), 14);
  });

  it('adam: two steps with bias correction', () => {
    const opt = createOptimizer('adam', k, 1);
    const p = Float64Array.of(0);
    optimizerStep(opt, p, Float64Array.of(1), 0.1);
    // m̂ = 1, v̂ = 1 after the first step
    expect(p[0]).toBeCloseTo(-0.1 / (1 + ADAM_EPS), 14);
    optimizerStep(opt, p, Float64Array.of(-2), 0.1);
    const m = ADAM_BETA1 * (1 - ADAM_BETA1) + (1 - ADAM_BETA1) * -2;
    const v = ADAM_BETA2 * (1 - ADAM_BETA2) + (1 - ADAM_BETA2) * 4;
    const mHat = m / (1 - ADAM_BETA1 ** 2);
    const vHat = v / (1 - ADAM_BETA2 ** 2);
    expect(p[0]).toBeCloseTo(-0.1 / (1 + ADAM_EPS) - (0.1 * mHat) / (Math.sqrt(vHat) + ADAM_EPS), 12);
  });
});

describe('gradient clipping by global norm', () => {
  it('scales by max/(norm + 1e-6) when the norm is above max, and returns the norm before clipping', () => {
    const g = Float64Array.of(3, 4, 0, 12); // norm 13
    expect(clipGradNorm(g, 5)).toBeCloseTo(13, 14);
    const scale = 5 / (13 + 1e-6);
    expect(Array.from(g)).toEqual([3 * scale, 4 * scale, 0, 12 * scale]);
    let norm = 0;
    for (const x of g) norm += x * x;
    expect(Math.sqrt(norm)).toBeCloseTo(5, 5);
  });
  it('leaves gradients under the limit untouched', () => {
    const g = Float64Array.of(0.3, -0.4);
    expect(clipGradNorm(g, 5)).toBeCloseTo(0.5, 14);
    expect(Array.from(g)).toEqual([0.3, -0.4]);
  });
});

describe('learning-rate decay (char-rnn schedule)', () => {
  it('decays once per epoch from epoch decayAfter on', () => {
    expect(learningRateAt(1, 0, 0.5, 2)).toBe(1);
    expect(learningRateAt(1, 1, 0.5, 2)).toBe(1);
    expect(learningRateAt(1, 2, 0.5, 2)).toBe(0.5);
    expect(learningRateAt(1, 4, 0.5, 2)).toBe(0.125);
    expect(learningRateAt(1, 3, 1, 0)).toBe(1);
  });
});

describe('learning-rate schedule (warm-up, then cosine to a planned end)', () => {
  it('rises linearly over the warm-up, then follows the cosine from lr to finalLrFrac·lr', () => {
    const byIters = { warmupIters: 10, finalLrFrac: 0.1, endIters: 100 };
    expect(scheduledLearningRate(2, byIters, 0, 0)).toBeCloseTo(2 * 0.1 * (0.1 + 0.9 * (1 + Math.cos(0)) / 2), 12);
    expect(scheduledLearningRate(2, byIters, 4, 0)).toBeCloseTo(2 * 0.5 * (0.1 + 0.9 * (1 + Math.cos(Math.PI * 0.04)) / 2), 12);
    expect(scheduledLearningRate(2, byIters, 50, 0)).toBeCloseTo(2 * (0.1 + 0.9 * 0.5), 12); // half-way: the mean of the ends
    expect(scheduledLearningRate(2, byIters, 100, 0)).toBeCloseTo(0.2, 12);
    expect(scheduledLearningRate(2, byIters, 500, 0)).toBeCloseTo(0.2, 12); // past the end it stays at the floor
  });

  it('holds the full rate until decayStart, then decays over the rest of the plan', () => {
    const held = { warmupIters: 0, finalLrFrac: 0, decayStart: 0.8, endIters: 100 };
    expect(scheduledLearningRate(1, held, 0, 0)).toBe(1);
    expect(scheduledLearningRate(1, held, 80, 0)).toBe(1);
    expect(scheduledLearningRate(1, held, 90, 0)).toBeCloseTo(0.5, 12); // half-way through the decay
    expect(scheduledLearningRate(1, held, 100, 0)).toBeCloseTo(0, 12);
    expect(scheduledLearningRate(1, { ...held, finalLrFrac: 1 }, 95, 0)).toBe(1); // a final share of 1: constant
  });

  it('a time plan follows the training clock, not the iteration count', () => {
    const byTime = { warmupIters: 0, finalLrFrac: 0, endMs: 1000 };
    expect(scheduledLearningRate(1, byTime, 999_999, 0)).toBe(1);
    expect(scheduledLearningRate(1, byTime, 0, 250)).toBeCloseTo((1 + Math.cos(Math.PI / 4)) / 2, 12);
    expect(scheduledLearningRate(1, byTime, 3, 1000)).toBeCloseTo(0, 12);
  });
});
