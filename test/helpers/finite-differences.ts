// Central finite differences for the float64 gradient checks: the numeric gradient of a loss with respect to
// every element of a buffer, compared with the analytic one as a relative error.

import type { FloatArray } from '../../src/core/kernels/types.js';

export const EPS = 1e-5;
/** Below this magnitude, compare absolute error: a relative error of ~0 vs ~1e-12 means nothing. */
export const FLOOR = 1e-4;

export function relativeError(analytic: number, numeric: number): number {
  return Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), FLOOR);
}

/** Max relative error between the analytic gradient `grad` of `values` and central differences of the loss. */
export function checkBuffer(values: FloatArray, grad: ArrayLike<number>, loss: () => number): number {
  let worst = 0;
  for (let i = 0; i < values.length; i++) {
    const saved = values[i];
    values[i] = saved + EPS;
    const plus = loss();
    values[i] = saved - EPS;
    const minus = loss();
    values[i] = saved;
    worst = Math.max(worst, relativeError(grad[i], (plus - minus) / (2 * EPS)));
  }
  return worst;
}
