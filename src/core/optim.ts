// Optimizers and gradient clipping over the flat parameter layout: every step is one loop over all scalars.
// State buffers (Adagrad's sum of squares, RMSprop's mean square, Adam's moments) share the parameters' layout.

import type { FloatArray, Kernels } from './kernels/types.js';
import { CharnnError } from './errors.js';
import type { LrSchedule } from './snapshot.js';

export type OptimizerName = 'adagrad' | 'rmsprop' | 'adam';
export const OPTIMIZERS: readonly OptimizerName[] = ['adagrad', 'rmsprop', 'adam'];

/** Learning rates that work for each optimizer on char-rnn-sized models (Adagrad as in the parity runs, the others as char-rnn). */
export const DEFAULT_LEARNING_RATE: Readonly<Record<OptimizerName, number>> = { adagrad: 0.05, rmsprop: 2e-3, adam: 2e-3 };

export const ADAGRAD_EPS = 1e-10; // PyTorch's default
export const RMSPROP_DECAY = 0.95; // char-rnn's decay_rate
export const RMSPROP_EPS = 1e-8;
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPS = 1e-8;

export interface Optimizer {
  readonly name: OptimizerName;
  /** Named state buffers, each of the parameters' length, in a fixed order (checkpointed as they are). */
  readonly buffers: ReadonlyArray<{ name: string; data: FloatArray }>;
  /** Number of steps taken (Adam's bias correction needs it). */
  steps: number;
}

export function createOptimizer(name: OptimizerName, kernels: Kernels, size: number): Optimizer {
  if (!OPTIMIZERS.includes(name)) throw new CharnnError(`Unknown optimizer '${name}': use adagrad, rmsprop or adam.`);
  const names = name === 'adam' ? ['adam.m', 'adam.v'] : [`${name}.cache`];
  return { name, buffers: names.map((n) => ({ name: n, data: kernels.alloc(size) })), steps: 0 };
}

/** params -= update(grads), in place. */
export function optimizerStep(opt: Optimizer, params: FloatArray, grads: FloatArray, lr: number): void {
  const n = params.length;
  opt.steps++;
  if (opt.name === 'adagrad') {
    const cache = opt.buffers[0].data;
    for (let i = 0; i < n; i++) {
      const g = grads[i];
      // cache += g²; p -= lr·g / (√cache + ε)
      cache[i] += g * g;
      params[i] -= (lr * g) / (Math.sqrt(cache[i]) + ADAGRAD_EPS);
    }
  } else if (opt.name === 'rmsprop') {
    const meanSquare = opt.buffers[0].data;
    for (let i = 0; i < n; i++) {
      const g = grads[i];
      // ms = ρ·ms + (1-ρ)·g²; p -= lr·g / (√ms + ε)
      meanSquare[i] = RMSPROP_DECAY * meanSquare[i] + (1 - RMSPROP_DECAY) * g * g;
      params[i] -= (lr * g) / (Math.sqrt(meanSquare[i]) + RMSPROP_EPS);
    }
  } else {
    const m = opt.buffers[0].data;
    const v = opt.buffers[1].data;
    const correction1 = 1 - Math.pow(ADAM_BETA1, opt.steps);
    const correction2 = 1 - Math.pow(ADAM_BETA2, opt.steps);
    for (let i = 0; i < n; i++) {
      const g = grads[i];
      // m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; p -= lr·m̂ / (√v̂ + ε)
      m[i] = ADAM_BETA1 * m[i] + (1 - ADAM_BETA1) * g;
      v[i] = ADAM_BETA2 * v[i] + (1 - ADAM_BETA2) * g * g;
      params[i] -= (lr * (m[i] / correction1)) / (Math.sqrt(v[i] / correction2) + ADAM_EPS);
    }
  }
}

/**
 * Scales the gradients so their global L2 norm is at most maxNorm, exactly as PyTorch's clip_grad_norm_
 * (scale = maxNorm / (norm + 1e-6) when that is below 1). Returns the norm before clipping.
 */
export function clipGradNorm(grads: FloatArray, maxNorm: number): number {
  let sumSquares = 0;
  for (let i = 0; i < grads.length; i++) sumSquares += grads[i] * grads[i];
  const norm = Math.sqrt(sumSquares);
  const scale = maxNorm / (norm + 1e-6);
  if (scale < 1) for (let i = 0; i < grads.length; i++) grads[i] *= scale;
  return norm;
}

/**
 * char-rnn's schedule: at the end of every epoch from epoch `decayAfter` on (and never before the first epoch
 * ends), the rate is multiplied by `decay`. Derived from the count of completed epochs, so a resumed run gets
 * the same rate as an uninterrupted one.
 */
export function learningRateAt(baseLr: number, epochsDone: number, decay: number, decayAfter: number): number {
  const decaySteps = Math.max(0, Math.floor(epochsDone) - Math.max(decayAfter, 1) + 1);
  return baseLr * Math.pow(decay, decaySteps);
}

/** The schedule's rate (see LrSchedule): warm-up, constant until decayStart, then cosine down to finalLrFrac·baseLr at the planned end. */
export function scheduledLearningRate(baseLr: number, schedule: LrSchedule, iteration: number, elapsedMs: number): number {
  const done = schedule.endMs !== undefined ? elapsedMs / schedule.endMs : iteration / schedule.endIters!;
  const start = schedule.decayStart ?? 0;
  const q = Math.max(0, Math.min(1, done) - start) / (1 - start);
  const warm = schedule.warmupIters > 0 ? Math.min(1, (iteration + 1) / schedule.warmupIters) : 1;
  const f = schedule.finalLrFrac;
  return baseLr * warm * (f + ((1 - f) * (1 + Math.cos(Math.PI * q))) / 2);
}
